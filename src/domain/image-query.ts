import { fail } from './errors.ts';
import { IMAGE_STATUSES, type ImageStatus } from './image-status.ts';
import { VISIBILITIES, type Visibility } from './image.ts';
import { MEMBER_STATUSES, type MemberStatus } from './visibility.ts';
import { bootableOn, type FlavorCatalogue } from './flavors.ts';
import {
  IS_ARM,
  REGISTERED,
  STRING_BOOLEAN_PROPERTIES,
  VIRTUAL_ENV_TYPES,
  checkEnterpriseProjectId,
  imageTypeIs,
  osFactIs,
  propertyIn,
  supportFlagIs,
  virtualEnvTypeIn,
} from './ims-properties.ts';
import { OS_TYPES } from './os-versions.ts';

export const SORT_KEYS = [
  'name',
  'status',
  'container_format',
  'disk_format',
  'size',
  'id',
  'created_at',
  'updated_at',
  'min_disk',
  'min_ram',
  'virtual_size',
  'visibility',
  'owner',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export type SortDir = 'asc' | 'desc';
export interface SortSpec {
  key: SortKey;
  dir: SortDir;
}

export const TIME_OPERATORS = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'] as const;
export type TimeOperator = (typeof TIME_OPERATORS)[number];
export interface TimeFilter {
  op: TimeOperator;
  /** Normalised to the stored form (ISO 8601, UTC, milliseconds). */
  value: string;
}

/**
 * A condition on an image's properties and columns, built by the domain (IMS
 * filters, flavor compatibility) and turned into SQL by the repository.
 */
export type Condition =
  | { has: string; in: string[] }
  | { lacks: string }
  | {
      column: 'disk_format' | 'status' | 'visibility' | 'min_ram';
      op: '=' | '!=' | '<=';
      value: string | number;
    }
  /** An integer-valued property at least this (values that are not integers do not match). */
  | { propertyAtLeast: string; value: number }
  | { hasMembers: true }
  | { and: Condition[] }
  | { or: Condition[] }
  | { not: Condition };

export interface ImageFilters {
  ids?: string[];
  names?: string[];
  statuses?: ImageStatus[];
  containerFormats?: string[];
  diskFormats?: string[];
  owner?: string;
  tags: string[];
  sizeMin?: number;
  sizeMax?: number;
  protected?: boolean;
  /** Glance hides `os_hidden` images unless asked. */
  osHidden: boolean;
  createdAt: TimeFilter[];
  updatedAt: TimeFilter[];
  /** Exact matches on custom properties. */
  properties: Record<string, string>;
  /** IMS enterprise project: "0" or a UUID; absent means all of them. */
  enterpriseProjectId?: string;
  /** Further conditions that must all hold (IMS filters). */
  conditions: Condition[];
  /** Exact matches on the base attributes Glance filters as columns (`size=1024`, `checksum=...`). */
  columns: Partial<Record<ColumnFilter, string | number>>;
}

/** Base attributes that Glance matches exactly when given as filters: integers, then strings. */
export const INTEGER_COLUMN_FILTERS = ['size', 'virtual_size', 'min_disk', 'min_ram'] as const;
export const STRING_COLUMN_FILTERS = ['checksum', 'os_hash_algo', 'os_hash_value'] as const;
export type ColumnFilter = (typeof INTEGER_COLUMN_FILTERS)[number] | (typeof STRING_COLUMN_FILTERS)[number];

export interface ImageQuery {
  limit: number;
  marker?: string;
  sort: SortSpec[];
  visibility: Visibility | 'all' | null;
  memberStatus: MemberStatus | 'all';
  filters: ImageFilters;
  /** Whether each listed image must say if it has members (IMS's `__imagetype`). */
  withMemberFlag?: boolean;
}

export const LIST_LIMITS = { default: 25, max: 1000 } as const;
/** IMS pages 500 images by default. */
export const IMS_LIST_LIMITS = { default: 500, max: 1000 } as const;

export type QueryInput = Record<string, string | string[] | undefined>;

const bad = (message: string): never => fail('ValidationFailed', message);

const one = (input: QueryInput, key: string): string | undefined => {
  const v = input[key];
  if (Array.isArray(v)) return v.length > 1 ? bad(`Query parameter '${key}' may be given only once`) : v[0];
  return v;
};
const many = (input: QueryInput, key: string): string[] => {
  const v = input[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

/** Splits `in:a,"b,c",d` into values; a plain value is a one-element list. */
export function parseInList(value: string): string[] {
  if (!value.startsWith('in:')) return [value];
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*))\s*(?:,|$)/gy;
  const body = value.slice(3);
  let m: RegExpExecArray | null;
  while (re.lastIndex < body.length && (m = re.exec(body)) !== null) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? '').trim());
    if (m[0] === '') break;
  }
  if (body.endsWith(',')) out.push('');
  return out.filter((v) => v !== '');
}

/** Normalises any ISO 8601 date-time to `YYYY-MM-DDTHH:MM:SS.sssZ`. */
export function normalizeTime(text: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(text)) return null;
  // Date would roll an impossible day over (2024-02-30 → March 1); refuse it instead.
  const [y, mo, dd] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(0);
  day.setUTCFullYear(y, mo - 1, dd);
  if (day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== dd) return null;
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(text);
  const d = new Date(hasZone || text.length === 10 ? text : `${text}Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function parseTimeFilter(key: string, raw: string): TimeFilter {
  const m = /^(gt|gte|lt|lte|eq|neq):(.+)$/.exec(raw);
  const [op, text] = m ? [m[1] as TimeOperator, m[2]!] : ['eq' as const, raw];
  const value = normalizeTime(text);
  if (value === null)
    return bad(
      `Invalid value for '${key}': expected [operator:]ISO-8601 time, such as gt:2024-01-01T00:00:00Z`,
    );
  return { op, value };
}

/** Glance accepts exactly `true` and `false` for these filters (and nothing like 1 or yes). */
function parseBool(key: string, raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  return bad(`Invalid value '${raw}' for '${key}' filter. Valid values are 'true' or 'false'.`);
}

function parseSizeBound(key: string, raw: string): number {
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)))
    return bad(`Invalid value for '${key}': must be a non-negative integer`);
  return Number(raw);
}

function checkEach<T extends string>(key: string, values: string[], allowed: readonly T[]): T[] {
  for (const v of values) if (!allowed.includes(v as T)) bad(`Invalid value for '${key}': '${v}'`);
  return values as T[];
}

function parseSort(
  input: QueryInput,
  allowed: readonly SortKey[] = SORT_KEYS,
  allowCombined = true,
): SortSpec[] {
  // IMS has no combined `sort=key:dir` parameter.
  const combined = allowCombined ? one(input, 'sort') : undefined;
  const keys = many(input, 'sort_key').flatMap((k) => k.split(','));
  const dirs = many(input, 'sort_dir').flatMap((d) => d.split(','));
  const checkKey = (k: string): SortKey =>
    (allowed as readonly string[]).includes(k) ? (k as SortKey) : bad(`Invalid sort key: ${k}`);
  const checkDir = (d: string): SortDir =>
    d === 'asc' || d === 'desc' ? d : bad(`Invalid sort direction: ${d}`);
  let sort: SortSpec[];
  if (combined !== undefined) {
    if (keys.length || dirs.length)
      bad("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'");
    sort = combined.split(',').map((part) => {
      const [k, d, extra] = part.trim().split(':');
      if (extra !== undefined) bad(`Invalid sort parameter: ${part}`);
      return { key: checkKey(k ?? ''), dir: checkDir(d ?? 'desc') };
    });
  } else if (keys.length) {
    if (dirs.length > 1 && dirs.length !== keys.length)
      bad('The number of sort_dir values must match the number of sort_key values');
    sort = keys.map((k, i) => ({
      key: checkKey(k),
      dir: checkDir(dirs[dirs.length === 1 ? 0 : i] ?? 'desc'),
    }));
  } else {
    if (dirs.length > 1) bad('sort_dir given more than once without sort_key');
    sort = [{ key: 'created_at', dir: checkDir(dirs[0] ?? 'desc') }];
  }
  const seen = new Set<string>();
  for (const s of sort) {
    if (seen.has(s.key)) bad(`Sort key ${s.key} given more than once`);
    seen.add(s.key);
  }
  // As Glance's database layer does: created_at then id complete the order (id
  // makes it total, so markers page without gaps or repeats), in the one
  // direction given, or desc when there were several or none.
  const dirsGiven = combined !== undefined ? sort.map((s) => s.dir) : dirs;
  const tieDir: SortDir = dirsGiven.length === 1 ? sort[0]!.dir : 'desc';
  for (const key of ['created_at', 'id'] as const) if (!seen.has(key)) sort.push({ key, dir: tieDir });
  return sort;
}

/** Parameters that are not filters on custom properties. */
const RESERVED_QUERY_KEYS = new Set([
  'limit',
  'marker',
  'sort',
  'sort_key',
  'sort_dir',
  'visibility',
  'member_status',
  'id',
  'name',
  'status',
  'container_format',
  'disk_format',
  'owner',
  'tag',
  'size_min',
  'size_max',
  'protected',
  'os_hidden',
  'created_at',
  'updated_at',
  'enterprise_project_id',
  ...INTEGER_COLUMN_FILTERS,
  ...STRING_COLUMN_FILTERS,
]);

function parseLimit(input: QueryInput, limits: { default: number; max: number }): number {
  const text = one(input, 'limit');
  if (text === undefined) return limits.default;
  if (!/^\d+$/.test(text)) bad("Invalid value for 'limit': must be a non-negative integer");
  // A huge limit is the largest page, as Glance's api_limit_max makes it.
  return Math.min(Number(text), limits.max);
}

/** Turns Glance's `GET /v2/images` query string into a checked query. */
export function parseImageQuery(input: QueryInput): ImageQuery {
  if (input['changes-since'] !== undefined) bad('The "changes-since" filter is no longer available on v2.');
  const limit = parseLimit(input, LIST_LIMITS);
  const visibilityText = one(input, 'visibility');
  const visibility =
    visibilityText === undefined
      ? null
      : checkEach('visibility', [visibilityText], [...VISIBILITIES, 'all'] as const)[0]!;
  const memberStatus = checkEach('member_status', [one(input, 'member_status') ?? 'accepted'], [
    ...MEMBER_STATUSES,
    'all',
  ] as const)[0]!;

  const inList = (key: string) => {
    const v = one(input, key);
    return v === undefined ? undefined : parseInList(v);
  };
  const filters: ImageFilters = {
    tags: many(input, 'tag'),
    // Glance lower-cases os_hidden but not protected.
    osHidden: parseBool('os_hidden', (one(input, 'os_hidden') ?? 'false').toLowerCase()),
    createdAt: many(input, 'created_at').map((v) => parseTimeFilter('created_at', v)),
    updatedAt: many(input, 'updated_at').map((v) => parseTimeFilter('updated_at', v)),
    properties: {},
    conditions: [],
    columns: {},
  };
  const ids = inList('id');
  if (ids) filters.ids = ids;
  const names = inList('name');
  if (names) filters.names = names;
  const statuses = inList('status');
  if (statuses) filters.statuses = checkEach('status', statuses, IMAGE_STATUSES);
  const containerFormats = inList('container_format');
  if (containerFormats) filters.containerFormats = containerFormats;
  const diskFormats = inList('disk_format');
  if (diskFormats) filters.diskFormats = diskFormats;
  const owner = one(input, 'owner');
  if (owner !== undefined) filters.owner = owner;
  const sizeMin = one(input, 'size_min');
  if (sizeMin !== undefined) filters.sizeMin = parseSizeBound('size_min', sizeMin);
  const sizeMax = one(input, 'size_max');
  if (sizeMax !== undefined) filters.sizeMax = parseSizeBound('size_max', sizeMax);
  const prot = one(input, 'protected');
  if (prot !== undefined) filters.protected = parseBool('protected', prot);
  // A column, not a property: the same indexed filter as on the IMS list.
  const ep = one(input, 'enterprise_project_id');
  if (ep !== undefined && ep !== 'all_granted_eps')
    filters.enterpriseProjectId = checkEnterpriseProjectId(ep);

  for (const key of INTEGER_COLUMN_FILTERS) {
    const v = one(input, key);
    if (v !== undefined) filters.columns[key] = parseSizeBound(key, v);
  }
  for (const key of STRING_COLUMN_FILTERS) {
    const v = one(input, key);
    if (v !== undefined) filters.columns[key] = v;
  }

  for (const key of Object.keys(input)) {
    if (RESERVED_QUERY_KEYS.has(key)) continue;
    const v = one(input, key);
    if (v !== undefined) filters.properties[key] = v;
  }

  const query: ImageQuery = { limit, sort: parseSort(input), visibility, memberStatus, filters };
  const marker = one(input, 'marker');
  if (marker !== undefined) query.marker = marker;
  return query;
}

/** The sort keys IMS documents for `GET /v2/cloudimages`. */
export const IMS_SORT_KEYS = [
  'name',
  'container_format',
  'disk_format',
  'status',
  'id',
  'size',
  'created_at',
] as const satisfies readonly SortKey[];

const IMS_IMAGE_TYPES = ['gold', 'private', 'shared', 'market'] as const;
const IMS_VISIBILITIES = ['public', 'private', 'shared'] as const;
/** `__support_*` list filters: "true" requires the flag, "false" its absence. */
const IMS_SUPPORT_FLAGS = STRING_BOOLEAN_PROPERTIES.filter((p) => p.startsWith('__support_'));

const badIms = (message: string, imsCode: string): never => fail('ValidationFailed', message, { imsCode });

function parseInt32(key: string, raw: string): number {
  if (!/^\d{1,10}$/.test(raw) || Number(raw) > 2 ** 31 - 1)
    return bad(`Invalid value for '${key}': must be a non-negative integer`);
  return Number(raw);
}

function pick<T extends string>(key: string, raw: string, allowed: readonly T[], imsCode = 'IMG.0001'): T {
  return (allowed as readonly string[]).includes(raw)
    ? (raw as T)
    : badIms(`Invalid value for '${key}': '${raw.slice(0, 64)}' (one of ${allowed.join(', ')})`, imsCode);
}

/**
 * Turns IMS's `GET /v2/cloudimages` query string into the same checked query
 * as Glance's list, with IMS's defaults (500 per page, registered images only)
 * and IMS's filters as conditions. Unknown parameters are ignored, as IMS does.
 */
export function parseImsImageQuery(input: QueryInput, flavors: FlavorCatalogue): ImageQuery {
  const f: ImageFilters = {
    tags: many(input, 'tag'),
    osHidden: false,
    createdAt: many(input, 'created_at').map((v) => parseTimeFilter('created_at', v)),
    updatedAt: many(input, 'updated_at').map((v) => parseTimeFilter('updated_at', v)),
    properties: {},
    // The native list shows registered images only, whatever is asked.
    conditions: [REGISTERED],
    columns: {},
  };
  const c = f.conditions;
  const text = (key: string, use: (v: string) => void) => {
    const v = one(input, key);
    if (v !== undefined) use(v);
  };
  text('id', (v) => (f.ids = [v]));
  text('name', (v) => (f.names = [v]));
  text('status', (v) => (f.statuses = [pick('status', v, IMAGE_STATUSES)]));
  text('container_format', (v) => (f.containerFormats = [v]));
  text('disk_format', (v) => (f.diskFormats = [v]));
  text('owner', (v) => (f.owner = v));
  text('protected', (v) => (f.protected = parseBool('protected', v)));
  text('min_disk', (v) => (f.columns.min_disk = parseInt32('min_disk', v)));
  text('min_ram', (v) => (f.columns.min_ram = parseInt32('min_ram', v)));
  text('__isregistered', (v) => pick('__isregistered', v, ['true']));
  text('__imagetype', (v) => c.push(imageTypeIs(pick('__imagetype', v, IMS_IMAGE_TYPES, 'IMG.0024'))));
  text('__whole_image', (v) =>
    c.push(supportFlagIs('__whole_image', parseBool('__whole_image', v) ? 'true' : 'false')),
  );
  text('__system__cmkid', (v) => c.push(propertyIn('__system__cmkid', v)));
  text('__os_bit', (v) => c.push(osFactIs('__os_bit', pick('__os_bit', v, ['32', '64']))));
  text('__os_type', (v) => c.push(osFactIs('__os_type', pick('__os_type', v, OS_TYPES, 'IMG.0122'))));
  text('__platform', (v) => c.push(osFactIs('__platform', v)));
  for (const flag of IMS_SUPPORT_FLAGS)
    text(flag, (v) => c.push(supportFlagIs(flag, pick(flag, v, ['true', 'false'] as const))));
  text('__support_xen_gpu_type', (v) => c.push(propertyIn('__support_xen_gpu_type', v)));
  text('__support_kvm_gpu_type', (v) => c.push(propertyIn('__support_kvm_gpu_type', v)));
  text('architecture', (v) =>
    c.push(pick('architecture', v, ['x86', 'arm'], 'IMG.0212') === 'arm' ? IS_ARM : { not: IS_ARM }),
  );
  text('virtual_env_type', (v) => c.push(virtualEnvTypeIn([pick('virtual_env_type', v, VIRTUAL_ENV_TYPES)])));
  text('enterprise_project_id', (v) => {
    // Every enterprise project is granted to every project member here: no EPS service.
    if (v !== 'all_granted_eps') f.enterpriseProjectId = checkEnterpriseProjectId(v);
  });
  text('flavor_id', (v) => c.push(bootableOn(flavors.resolve(v))));

  const visibilityText = one(input, 'visibility');
  const memberStatus = pick('member_status', one(input, 'member_status') ?? 'accepted', MEMBER_STATUSES);
  const query: ImageQuery = {
    limit: parseLimit(input, IMS_LIST_LIMITS),
    sort: parseSort(input, IMS_SORT_KEYS, false),
    visibility: visibilityText === undefined ? null : pick('visibility', visibilityText, IMS_VISIBILITIES),
    memberStatus,
    filters: f,
    withMemberFlag: true,
  };
  const marker = one(input, 'marker');
  if (marker !== undefined) query.marker = marker;
  return query;
}
