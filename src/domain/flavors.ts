import { DomainError } from './errors.ts';
import type { Condition } from './image-query.ts';
import {
  IS_ARM,
  KVM_CAPABLE,
  XEN_CAPABLE,
  osFactIs,
  osVersionIn,
  propertyAbsent,
  propertyIn,
  propertyIs,
  virtualEnvTypeIn,
} from './ims-properties.ts';

/** Alternative requirements: an image meets the group when it has all its properties and OS. */
export interface FlavorRequirementGroup {
  requires: Record<string, string>;
  /** When given, `__os_version` must be one of these. */
  osVersions?: string[];
}

/** A flavor family (`e3`, `ir7`, `ac8`, ...) and what an image needs to boot on it. */
export interface FlavorFamily extends FlavorRequirementGroup {
  name: string;
  description: string;
  performanceType: string;
  architecture: 'x86' | 'arm';
  hypervisor: 'kvm' | 'xen';
  /** One group must hold, when there are any. */
  anyOf: FlavorRequirementGroup[];
  virtualEnvTypes: string[];
}

/** What the `flavor_id` list filter asks of an image. */
export interface FlavorRequirement {
  flavorId: string;
  family: FlavorFamily;
  /** Known for ids `<family>.<size>.<ratio>` and listed flavors; null when the id does not say. */
  ramMb: number | null;
}

interface ListedFlavor {
  id: string;
  family: string;
  vcpus: number;
  ramMb: number;
}

const DEFAULT_ENV_TYPES = ['FusionCompute', 'IsoImage'];

/** The operator's flavor catalogue (data, not code: the peers do not publish every table). */
export class FlavorCatalogue {
  private readonly families: Map<string, FlavorFamily>;
  private readonly flavors: Map<string, ListedFlavor>;
  constructor(families: FlavorFamily[], flavors: ListedFlavor[]) {
    this.families = new Map(families.map((f) => [f.name, f]));
    this.flavors = new Map(flavors.map((f) => [f.id, f]));
  }

  familyNames(): string[] {
    return [...this.families.keys()];
  }

  /** The requirement of a flavor id, or IMG.0192 for an id this deployment does not know. */
  resolve(flavorId: string): FlavorRequirement {
    const listed = this.flavors.get(flavorId);
    if (listed) return { flavorId, family: this.families.get(listed.family)!, ramMb: listed.ramMb };
    const m = /^([a-z][a-z0-9]{0,15})\.(medium|large|xlarge|(\d{1,3})xlarge)\.(\d{1,3})$/.exec(flavorId);
    const family = m ? this.families.get(m[1]!) : undefined;
    if (!m || !family) {
      throw new DomainError(
        'ValidationFailed',
        `Invalid flavor_id: '${flavorId.slice(0, 64)}' is not a flavor of this deployment`,
        { imsCode: 'IMG.0192' },
      );
    }
    const vcpus = m[2] === 'medium' ? 1 : m[2] === 'large' ? 2 : 4 * Number(m[3] ?? 1);
    const ratio = Number(m[4]);
    return { flavorId, family, ramMb: vcpus > 0 && ratio > 0 ? vcpus * ratio * 1024 : null };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringMap = (v: unknown): v is Record<string, string> =>
  isObject(v) && Object.values(v).every((x) => typeof x === 'string');
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function parseGroup(raw: unknown, at: string, problems: string[]): FlavorRequirementGroup | null {
  if (!isObject(raw)) {
    problems.push(`${at} must be an object`);
    return null;
  }
  const { requires = {}, os_versions } = raw;
  if (!isStringMap(requires)) problems.push(`${at}.requires must map property names to string values`);
  if (os_versions !== undefined && !isStringList(os_versions))
    problems.push(`${at}.os_versions must be an array of strings`);
  const group: FlavorRequirementGroup = { requires: isStringMap(requires) ? requires : {} };
  if (isStringList(os_versions)) group.osVersions = os_versions;
  return group;
}

/**
 * Checks a catalogue document (`{"families": [...], "flavors": [...]}`);
 * `knownOsVersion` catches OS names that the OS catalogue does not have.
 */
export function parseFlavorCatalogue(
  doc: unknown,
  source: string,
  knownOsVersion: (v: string) => boolean,
): FlavorCatalogue {
  const problems: string[] = [];
  if (!isObject(doc) || !Array.isArray(doc.families))
    throw new Error(`${source}: expected {"families": [...], "flavors": [...]}`);
  const families: FlavorFamily[] = [];
  doc.families.forEach((raw, i) => {
    const at = `${source}: families[${i}]`;
    const group = parseGroup(raw, at, problems);
    if (!group || !isObject(raw)) return;
    const { name, description = '', performance_type = 'normal', architecture = 'x86' } = raw;
    const { hypervisor = 'kvm', any_of = [], virtual_env_types = DEFAULT_ENV_TYPES } = raw;
    if (typeof name !== 'string' || !/^[a-z][a-z0-9]{0,15}$/.test(name))
      return problems.push(`${at}.name must be 1-16 lower-case letters and digits, starting with a letter`);
    if (families.some((f) => f.name === name))
      return problems.push(`${at}: family "${name}" is listed twice`);
    if (architecture !== 'x86' && architecture !== 'arm')
      problems.push(`${at}.architecture must be x86 or arm`);
    if (hypervisor !== 'kvm' && hypervisor !== 'xen') problems.push(`${at}.hypervisor must be kvm or xen`);
    if (!Array.isArray(any_of)) return problems.push(`${at}.any_of must be an array`);
    if (!isStringList(virtual_env_types))
      problems.push(`${at}.virtual_env_types must be an array of strings`);
    const anyOf = any_of
      .map((g, j) => parseGroup(g, `${at}.any_of[${j}]`, problems))
      .filter((g): g is FlavorRequirementGroup => g !== null);
    for (const g of [group, ...anyOf])
      for (const v of g.osVersions ?? [])
        if (!knownOsVersion(v)) problems.push(`${at}: OS version "${v}" is not in the OS version catalogue`);
    families.push({
      ...group,
      name,
      description: String(description),
      performanceType: String(performance_type),
      architecture: architecture as FlavorFamily['architecture'],
      hypervisor: hypervisor as FlavorFamily['hypervisor'],
      anyOf,
      virtualEnvTypes: isStringList(virtual_env_types) ? virtual_env_types : DEFAULT_ENV_TYPES,
    });
  });
  const flavors: ListedFlavor[] = [];
  const listed = doc.flavors ?? [];
  if (!Array.isArray(listed)) problems.push(`${source}: flavors must be an array`);
  else
    listed.forEach((raw, i) => {
      const at = `${source}: flavors[${i}]`;
      if (!isObject(raw)) return problems.push(`${at} must be an object`);
      const { id, family, vcpus, ram_mb } = raw;
      if (typeof id !== 'string' || id === '' || id.length > 128)
        return problems.push(`${at}.id must be a string of 1-128 characters`);
      if (typeof family !== 'string' || !families.some((f) => f.name === family))
        return problems.push(`${at}.family must name a family of this file`);
      if (!Number.isSafeInteger(vcpus) || (vcpus as number) < 1)
        return problems.push(`${at}.vcpus must be ≥ 1`);
      if (!Number.isSafeInteger(ram_mb) || (ram_mb as number) < 1)
        return problems.push(`${at}.ram_mb must be ≥ 1`);
      flavors.push({ id, family, vcpus: vcpus as number, ramMb: ram_mb as number });
    });
  if (problems.length) throw new Error(problems.join('\n'));
  return new FlavorCatalogue(families, flavors);
}

function groupCondition(group: FlavorRequirementGroup): Condition {
  const all: Condition[] = Object.entries(group.requires).map(([name, value]) => propertyIs(name, value));
  if (group.osVersions) all.push(osVersionIn(group.osVersions));
  return { and: all };
}

/** 32-bit guests address at most 4 GiB. */
const MAX_RAM_32_BIT_MB = 4096;

/**
 * The images that boot on a flavor, as one list condition: the hypervisor,
 * the architecture, the family's properties and OS versions, the environment
 * type, and the flavor's RAM against `min_ram`, `max_ram` and a 32-bit OS.
 */
export function bootableOn(req: FlavorRequirement): Condition {
  const { family, ramMb } = req;
  const all: Condition[] = [
    family.hypervisor === 'kvm' ? KVM_CAPABLE : XEN_CAPABLE,
    family.architecture === 'arm' ? IS_ARM : { not: IS_ARM },
    groupCondition(family),
    virtualEnvTypeIn(family.virtualEnvTypes),
  ];
  if (family.anyOf.length) all.push({ or: family.anyOf.map(groupCondition) });
  if (ramMb !== null) {
    all.push({ column: 'min_ram', op: '<=', value: ramMb });
    all.push({
      or: [
        propertyAbsent('max_ram'),
        propertyIn('max_ram', ''),
        { propertyAtLeast: 'max_ram', value: ramMb },
      ],
    });
    if (ramMb > MAX_RAM_32_BIT_MB) all.push({ not: osFactIs('__os_bit', '32') });
  }
  return { and: all };
}
