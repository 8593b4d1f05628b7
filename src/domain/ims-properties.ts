/**
 * The IMS image properties (`__os_version`, `__support_*`, `virtual_env_type`,
 * ...): their meanings, their string types, what the service alone sets, the
 * defaults an image shows in IMS views, and the conditions that the IMS list
 * filters put on them. Both dialects write through `checkImsProperties`.
 */
import { DomainError } from './errors.ts';
import type { Image } from './image.ts';
import type { ImageFields } from './image-rules.ts';
import type { Condition } from './image-query.ts';
import {
  DEFAULT_OS_FACTS,
  DEFAULT_OS_VERSION,
  unknownOsVersion,
  type OsVersionCatalogue,
} from './os-versions.ts';

/** Derived or recorded by the service; clients may not set them on any route. */
export const SERVICE_SET_IMS_PROPERTIES = new Set<string>([
  '__imagetype',
  '__isregistered',
  '__image_source_type',
  '__originalimagename',
  '__image_size',
  '__data_origin',
  '__root_origin',
  '__backup_id',
  '__image_location',
  '__whole_image',
  '__sequence_num',
  '__lazyloading',
  '__productcode',
  '__is_offshelved',
  '__account_code',
  '__system_support_market',
  // Derived from __os_version's catalogue entry.
  '__os_type',
  '__platform',
  '__os_bit',
]);

/** Properties whose value is the string "true" or "false" (never a JSON boolean). */
export const STRING_BOOLEAN_PROPERTIES = [
  '__support_kvm',
  '__support_xen',
  '__support_largememory',
  '__support_diskintensive',
  '__support_highperformance',
  '__support_xen_hana',
  '__support_kvm_infiniband',
  '__support_kvm_hi1822_hisriov',
  '__support_kvm_hi1822_hivirtionet',
  '__support_arm',
  '__support_amd',
  // Inverted meaning: "true" says Cloud-Init password/key injection is NOT supported.
  '__support_fc_inject',
  '__is_config_init',
  'hw_vif_multiqueue_enabled',
] as const;

export const VIRTUAL_ENV_TYPES = ['FusionCompute', 'Ironic', 'DataImage', 'IsoImage'] as const;
export const FIRMWARE_TYPES = ['bios', 'uefi'] as const;
export const ENTERPRISE_PROJECT_DEFAULT = '0';

const ENTERPRISE_PROJECT_ID = /^(0|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const GPU_TYPE = /^[A-Za-z0-9_]{1,64}$/;
const AGENT_LISTS = ['hss', 'ces', 'hss,ces', 'ces,hss'];

const invalid = (name: string, why: string, imsCode = 'IMG.0001'): never => {
  throw new DomainError('ValidationFailed', `Invalid value for '${name}': ${why}`, { imsCode });
};

/** `"0"` (the default enterprise project) or an enterprise project's UUID. */
export function checkEnterpriseProjectId(value: unknown): string {
  if (typeof value !== 'string' || !ENTERPRISE_PROJECT_ID.test(value))
    return invalid('enterprise_project_id', 'must be "0" or an enterprise project id (UUID)', 'IMG.0155');
  return value;
}

/** IMS names: 1-128 letters, digits, CJK, `-`, `_`, `.` and inner spaces (Glance allows any 255). */
export function checkImsName(value: unknown): string {
  if (typeof value !== 'string' || value === '')
    return invalid('name', 'an image name is required', 'IMG.0013');
  if ([...value].length > 128) return invalid('name', 'must be at most 128 characters', 'IMG.0002');
  if (!/^[\p{L}\p{N}_.\- ]+$/u.test(value) || value.trim() !== value)
    return invalid(
      'name',
      'letters, digits, CJK characters, "-", "_", "." and spaces, not at either end',
      'IMG.0003',
    );
  return value;
}

function checkValue(name: string, value: string, before: Image | null): void {
  if ((STRING_BOOLEAN_PROPERTIES as readonly string[]).includes(name)) {
    if (value !== 'true' && value !== 'false') invalid(name, 'must be the string "true" or "false"');
    return;
  }
  switch (name) {
    case '__support_kvm_gpu_type':
    case '__support_xen_gpu_type':
      if (!GPU_TYPE.test(value)) invalid(name, 'must be a GPU type such as V100 or M60_vGPU');
      return;
    case '__description':
      if ([...value].length > 1024) invalid(name, 'must be at most 1024 characters', 'IMG.0004');
      if (/[\r\n<>]/.test(value)) invalid(name, 'must not contain line breaks, "<" or ">"', 'IMG.0054');
      return;
    case 'virtual_env_type': {
      if (!(VIRTUAL_ENV_TYPES as readonly string[]).includes(value))
        invalid(name, `must be one of ${VIRTUAL_ENV_TYPES.join(', ')}`);
      const was = before?.properties.virtual_env_type;
      if (before && before.status !== 'queued' && was !== undefined && was !== value) {
        if (was === 'DataImage') invalid(name, 'a data-disk image cannot become a system image', 'IMG.0168');
        invalid(name, `the environment type of a ${before.status} image cannot change`, 'IMG.0173');
      }
      return;
    }
    case 'hw_firmware_type':
      if (!(FIRMWARE_TYPES as readonly string[]).includes(value))
        invalid(name, 'must be bios or uefi', 'IMG.0141');
      return;
    case 'os_shutdown_timeout':
      if (!/^\d{1,3}$/.test(value) || Number(value) < 60 || Number(value) > 300)
        invalid(name, 'must be a number of seconds from 60 to 300');
      return;
    case 'max_ram':
      if (value !== '' && (!/^\d{1,10}$/.test(value) || Number(value) > 2 ** 31 - 1))
        invalid(name, 'must be a number of MB (as a string)', 'IMG.0055');
      return;
    case '__support_agent_list':
      if (!AGENT_LISTS.includes(value)) invalid(name, 'must be hss, ces or hss,ces');
      return;
    default:
      return;
  }
}

const isTrue = (p: Record<string, string>, name: string) => p[name] === 'true';

/** Combinations IMS refuses (IMG.0035): GPU, HANA and InfiniBand images run on their own flavors only. */
function checkCombinations(p: Record<string, string>): void {
  const conflict = (why: string): never => {
    throw new DomainError('ValidationFailed', `Conflicting image properties: ${why}`, {
      imsCode: 'IMG.0035',
    });
  };
  const hypervisorFlag = isTrue(p, '__support_kvm') || isTrue(p, '__support_xen');
  if (hypervisorFlag && (p.__support_kvm_gpu_type || p.__support_xen_gpu_type))
    conflict('a GPU type excludes __support_kvm and __support_xen');
  if (hypervisorFlag && isTrue(p, '__support_xen_hana'))
    conflict('__support_xen_hana excludes __support_kvm and __support_xen');
  if (isTrue(p, '__support_xen') && isTrue(p, '__support_kvm_infiniband'))
    conflict('__support_kvm_infiniband excludes __support_xen');
  if (isTrue(p, '__support_arm') && p.hw_firmware_type === 'bios')
    conflict('Arm images boot with UEFI (hw_firmware_type=uefi)');
}

/**
 * Checks every IMS property this write sets or changes and stores the facts
 * derived from `__os_version`. Values left as they were are not judged again,
 * so an old image with a value from an older catalogue stays editable.
 */
export function checkImsProperties(
  fields: ImageFields,
  before: Image | null,
  catalogue: OsVersionCatalogue,
): void {
  const props = fields.properties;
  const old = before?.properties ?? {};
  const changed = Object.keys(props).filter((k) => props[k] !== old[k]);
  for (const name of changed) checkValue(name, props[name]!, before);
  const removed = Object.keys(old).filter((k) => !(k in props));
  if (changed.includes('__os_version')) {
    const entry = catalogue.find(props.__os_version!);
    if (!entry) throw unknownOsVersion(props.__os_version!);
    props.__os_type = entry.osType;
    props.__platform = entry.platform;
    props.__os_bit = String(entry.osBit);
  } else if (removed.includes('__os_version')) {
    delete props.__os_type;
    delete props.__platform;
    delete props.__os_bit;
  }
  if (changed.length) checkCombinations(props);
}

/** What IMS calls the image for everyone: public ones are `gold`, those with members `shared`. */
export function imsImageType(image: Image, hasMembers: boolean): 'gold' | 'shared' | 'private' {
  if (image.visibility === 'public') return 'gold';
  return hasMembers ? 'shared' : 'private';
}

/** Registered images are those IMS has data for or is getting data for (a bare Glance `queued` one is not). */
export function isRegistered(image: Image): boolean {
  return image.properties.__isregistered === 'true' || image.status !== 'queued';
}

const XEN_ONLY = (p: Record<string, string>) =>
  isTrue(p, '__support_xen') || Boolean(p.__support_xen_gpu_type) || isTrue(p, '__support_xen_hana');

/**
 * The IMS properties of an image as IMS views show them: stored values, and
 * IMS's defaults where the image never said (an image made through Glance).
 * `__support_*` flags other than the hypervisor are absent unless true.
 */
export function imsProperties(image: Image, hasMembers: boolean): Record<string, string> {
  const p = image.properties;
  const out: Record<string, string> = {
    __imagetype: imsImageType(image, hasMembers),
    __isregistered: String(isRegistered(image)),
    __os_version: p.__os_version ?? DEFAULT_OS_VERSION,
    __os_type: p.__os_type ?? DEFAULT_OS_FACTS.osType,
    __platform: p.__platform ?? DEFAULT_OS_FACTS.platform,
    __os_bit: p.__os_bit ?? String(DEFAULT_OS_FACTS.osBit),
    __description: p.__description ?? '',
    __image_source_type: p.__image_source_type ?? 'uds',
    __image_size: p.__image_size ?? String(image.size ?? 0),
    __originalimagename: p.__originalimagename ?? '',
    __backup_id: p.__backup_id ?? '',
    virtual_env_type: p.virtual_env_type ?? (image.diskFormat === 'iso' ? 'IsoImage' : 'FusionCompute'),
    hw_firmware_type: p.hw_firmware_type ?? (isTrue(p, '__support_arm') ? 'uefi' : 'bios'),
  };
  const gpu = p.__support_kvm_gpu_type || p.__support_xen_gpu_type || isTrue(p, '__support_xen_hana');
  if (p.__support_kvm === undefined && !XEN_ONLY(p) && !gpu) out.__support_kvm = 'true';
  return out;
}

// ---- list conditions with the same defaults as imsProperties ----

const has = (name: string, ...values: string[]): Condition => ({ has: name, in: values });
const lacks = (name: string): Condition => ({ lacks: name });

/**
 * `__os_type`, `__platform`, `__os_bit`: an image without `__os_version` shows the default entry's
 * facts, unless it has the fact of its own (a data disk's `os_type`).
 */
export function osFactIs(name: '__os_type' | '__platform' | '__os_bit', value: string): Condition {
  const fallback = {
    __os_type: DEFAULT_OS_FACTS.osType,
    __platform: DEFAULT_OS_FACTS.platform,
    __os_bit: '64',
  }[name];
  return value === fallback
    ? { or: [has(name, value), { and: [lacks('__os_version'), lacks(name)] }] }
    : has(name, value);
}

export function virtualEnvTypeIn(values: readonly string[]): Condition {
  const ors: Condition[] = [has('virtual_env_type', ...values)];
  if (values.includes('IsoImage'))
    ors.push({ and: [lacks('virtual_env_type'), { column: 'disk_format', op: '=', value: 'iso' }] });
  if (values.includes('FusionCompute'))
    ors.push({ and: [lacks('virtual_env_type'), { column: 'disk_format', op: '!=', value: 'iso' }] });
  return { or: ors };
}

/** Runs on KVM: said so, a KVM GPU type, or nothing that ties it to Xen. */
export const KVM_CAPABLE: Condition = {
  and: [
    { not: has('__support_kvm', 'false') },
    {
      or: [
        has('__support_kvm', 'true'),
        { not: lacks('__support_kvm_gpu_type') },
        {
          and: [
            { not: has('__support_xen', 'true') },
            lacks('__support_xen_gpu_type'),
            { not: has('__support_xen_hana', 'true') },
          ],
        },
      ],
    },
  ],
};

/** `__support_<x>=true` on the list; `__support_kvm` counts the KVM default. */
export function supportFlagIs(name: string, value: 'true' | 'false'): Condition {
  const yes = name === '__support_kvm' ? KVM_CAPABLE : has(name, 'true');
  return value === 'true' ? yes : { not: yes };
}

export const REGISTERED: Condition = {
  or: [has('__isregistered', 'true'), { column: 'status', op: '!=', value: 'queued' }],
};

export function imageTypeIs(type: 'gold' | 'private' | 'shared' | 'market'): Condition {
  const notPublic: Condition = { column: 'visibility', op: '!=', value: 'public' };
  switch (type) {
    case 'gold':
      return { column: 'visibility', op: '=', value: 'public' };
    case 'private':
      return { and: [notPublic, { not: { hasMembers: true } }] };
    case 'shared':
      return { and: [notPublic, { hasMembers: true }] };
    case 'market':
      // No Marketplace in this deployment: nothing is a market image.
      return { or: [] };
  }
}

export const IS_ARM: Condition = has('__support_arm', 'true');

/** Runs on Xen: said so, or a Xen GPU or HANA image. */
export const XEN_CAPABLE: Condition = {
  or: [
    has('__support_xen', 'true'),
    { not: lacks('__support_xen_gpu_type') },
    has('__support_xen_hana', 'true'),
  ],
};

export function osVersionIn(values: readonly string[]): Condition {
  const ors: Condition[] = [has('__os_version', ...values)];
  if (values.includes(DEFAULT_OS_VERSION)) ors.push(lacks('__os_version'));
  return { or: ors };
}

/** `name` shows `value` in IMS views, defaults included. */
export function propertyIs(name: string, value: string): Condition {
  switch (name) {
    case '__os_type':
    case '__platform':
    case '__os_bit':
      return osFactIs(name, value);
    case '__os_version':
      return osVersionIn([value]);
    case 'virtual_env_type':
      return virtualEnvTypeIn([value]);
    case '__support_kvm':
      return value === 'true' || value === 'false' ? supportFlagIs(name, value) : has(name, value);
    default:
      return has(name, value);
  }
}

export { has as propertyIn, lacks as propertyAbsent };
