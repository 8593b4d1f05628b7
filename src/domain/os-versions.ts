import { DomainError } from './errors.ts';

/** One `__os_version` value and what it says about the guest. */
export interface OsVersion {
  osVersion: string;
  platform: string;
  osType: 'Linux' | 'Windows' | 'Other';
  osBit: 32 | 64;
  /** What `GET /v1/cloudimages/os_version?tag=` selects on: x86, arm, uefi, bms, kvm. */
  tags: string[];
}

/** The operator's OS version catalogue: `__os_version` accepts exactly these strings. */
export class OsVersionCatalogue {
  private readonly byName: Map<string, OsVersion>;
  constructor(readonly versions: readonly OsVersion[]) {
    this.byName = new Map(versions.map((v) => [v.osVersion, v]));
  }

  find(osVersion: string): OsVersion | undefined {
    return this.byName.get(osVersion);
  }

  /** Versions carrying every one of the tags, grouped by platform in catalogue order. */
  grouped(tags: string[]): { platform: string; versions: OsVersion[] }[] {
    const groups = new Map<string, OsVersion[]>();
    for (const v of this.versions) {
      if (!tags.every((t) => v.tags.includes(t))) continue;
      const list = groups.get(v.platform) ?? [];
      list.push(v);
      groups.set(v.platform, list);
    }
    return [...groups].map(([platform, versions]) => ({ platform, versions }));
  }
}

/** IMS's default for an image that never said: Huawei's register flow uses the same. */
export const DEFAULT_OS_VERSION = 'Other Linux(64 bit)';
export const OS_TYPES = ['Linux', 'Windows', 'Other'] as const;

/** The facts a missing `__os_version` implies (the default entry, whatever the catalogue). */
export const DEFAULT_OS_FACTS = { platform: 'Other', osType: 'Linux', osBit: 64 } as const;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a catalogue document (`{"os_versions": [...]}`) and lists every
 * problem, so that an operator fixes a broken file in one go.
 */
export function parseOsVersionCatalogue(doc: unknown, source: string): OsVersionCatalogue {
  const problems: string[] = [];
  const out: OsVersion[] = [];
  const list = isObject(doc) ? doc.os_versions : undefined;
  if (!Array.isArray(list)) throw new Error(`${source}: expected {"os_versions": [...]}`);
  const seen = new Set<string>();
  list.forEach((raw, i) => {
    const at = `${source}: os_versions[${i}]`;
    if (!isObject(raw)) return problems.push(`${at} must be an object`);
    const { os_version, platform, os_type, os_bit, tags = [] } = raw;
    if (typeof os_version !== 'string' || os_version.trim() === '' || os_version.length > 255)
      return problems.push(`${at}.os_version must be a non-empty string of at most 255 characters`);
    if (seen.has(os_version)) return problems.push(`${at}: "${os_version}" is listed twice`);
    seen.add(os_version);
    if (typeof platform !== 'string' || platform.trim() === '')
      return problems.push(`${at}.platform must be a non-empty string`);
    if (!(OS_TYPES as readonly unknown[]).includes(os_type))
      return problems.push(`${at}.os_type must be one of ${OS_TYPES.join(', ')}`);
    if (os_bit !== 32 && os_bit !== 64) return problems.push(`${at}.os_bit must be 32 or 64`);
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string'))
      return problems.push(`${at}.tags must be an array of strings`);
    out.push({
      osVersion: os_version,
      platform,
      osType: os_type as OsVersion['osType'],
      osBit: os_bit,
      tags: tags as string[],
    });
  });
  if (!seen.has(DEFAULT_OS_VERSION))
    problems.push(`${source}: must list "${DEFAULT_OS_VERSION}", the default of images that name none`);
  if (problems.length) throw new Error(problems.join('\n'));
  return new OsVersionCatalogue(out);
}

/** The IMS code for an `__os_version` outside the catalogue. */
export function unknownOsVersion(value: string): DomainError {
  return new DomainError(
    'ValidationFailed',
    `Invalid value for '__os_version': '${value}' is not in the OS version catalogue (GET /v1/cloudimages/os_version)`,
    { imsCode: 'IMG.0056' },
  );
}
