import { fail } from './errors.ts';

/**
 * Keystone v3 request bodies, checked as Keystone's JSON schemas do
 * (keystone/resource/schema.py, identity/schema.py, application_credential/
 * schema.py), plus what our storage needs: no NUL or other control characters
 * in names (PostgreSQL cannot store NUL) and no lone UTF-16 surrogates (they
 * would not survive the round trip through UTF-8). Pure functions, no I/O.
 */

/** Longest names, in characters (code points), as Keystone's schemas allow. */
export const NAME_MAX = {
  domain: 64,
  project: 64,
  user: 255,
  role: 255,
  applicationCredential: 255,
} as const;
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const DESCRIPTION_MAX = 65_535;
/** Keystone's default `max_password_length`. */
export const PASSWORD_MAX = 4096;
const EXTRA_MAX_BYTES = 64 * 1024;
const TAG_MAX = 255;
const TAGS_MAX = 80;

type Json = Record<string, unknown>;

const invalid = (field: string, why: string): never =>
  fail('ValidationFailed', `Invalid input for field '${field}': ${why}`);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const NUL = /\u0000/;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The entity object of a body such as `{"project": {...}}`. */
export function entityOf(body: unknown, key: string): Json {
  if (!isObject(body)) return fail('ValidationFailed', `Expecting to find ${key} in request body.`);
  const entity = body[key];
  if (!isObject(entity)) return invalid(key, `'${key}' is a required property and must be an object`);
  return entity;
}

export function readName(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') return invalid(field, 'a string is required');
  const length = [...value].length;
  if (length < 1) return invalid(field, 'must not be empty');
  if (length > max) return invalid(field, `is too long (at most ${max} characters)`);
  if (!/\S/.test(value)) return invalid(field, 'must contain a non-blank character');
  if (CONTROL.test(value)) return invalid(field, 'must not contain control characters');
  if (LONE_SURROGATE.test(value)) return invalid(field, 'is not valid Unicode');
  return value;
}

/** Free text: anything printable or not, but storable. null reads as ''. */
export function readDescription(value: unknown, field = 'description'): string {
  if (value === null) return '';
  if (typeof value !== 'string') return invalid(field, 'a string or null is required');
  if (value.length > DESCRIPTION_MAX) return invalid(field, `is too long (at most ${DESCRIPTION_MAX})`);
  if (NUL.test(value) || LONE_SURROGATE.test(value))
    return invalid(field, 'contains characters that cannot be stored');
  return value;
}

export function readBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean')
    return invalid(field, `${JSON.stringify(value) ?? 'undefined'} is not of type 'boolean'`);
  return value;
}

export function readId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) return invalid(field, 'not a valid id');
  return value;
}

export function readPassword(value: unknown, field = 'password'): string {
  if (typeof value !== 'string') return invalid(field, 'a string is required');
  if (value.length > PASSWORD_MAX) return invalid(field, `is too long (at most ${PASSWORD_MAX} characters)`);
  return value;
}

/** Keystone's resource options: only the empty set (nothing is configurable here). */
function readOptions(value: unknown): void {
  if (value === null || value === undefined) return;
  if (!isObject(value)) return invalid('options', 'an object is required');
  if (Object.values(value).some((v) => v !== null && v !== false))
    fail('ValidationFailed', "Invalid input for field 'options': resource options are not supported.");
}

/** Project tags as Keystone checks them: at most 80, unique, no ',' or '/'. */
export function readTags(value: unknown): string[] {
  if (!Array.isArray(value)) return invalid('tags', 'an array is required');
  if (value.length > TAGS_MAX) return invalid('tags', `at most ${TAGS_MAX} tags`);
  const tags = value.map((t) => {
    const tag = readName(t, 'tags', TAG_MAX);
    if (/[,/]/.test(tag)) invalid('tags', "a tag may not contain ',' or '/'");
    return tag;
  });
  if (new Set(tags).size !== tags.length) invalid('tags', 'tags must be unique');
  return tags;
}

/** The attributes Keystone keeps as "extra": anything not in `known`, stored as given. */
function readExtras(entity: Json, known: readonly string[]): Json {
  const extra: Json = {};
  for (const [k, v] of Object.entries(entity)) {
    if (known.includes(k)) continue;
    if (CONTROL.test(k) || LONE_SURROGATE.test(k) || k.length > 255) invalid(k, 'not a valid attribute name');
    extra[k] = v;
  }
  // Stored as JSON text, where NUL and lone surrogates are escapes: any value survives.
  const text = JSON.stringify(extra);
  if (Buffer.byteLength(text) > EXTRA_MAX_BYTES)
    fail('ValidationFailed', `Extra attributes are too large (at most ${EXTRA_MAX_BYTES} bytes).`);
  return extra;
}

/** `id` may be sent in a PATCH body only when it names the same entity (Keystone's _require_matching_id). */
function requireMatchingId(entity: Json, id: string | undefined): void {
  if (entity.id === undefined) return;
  if (id === undefined || entity.id !== id)
    fail('ValidationFailed', 'Cannot change the id of an entity, or set it on creation.');
}

export interface DomainInput {
  name?: string;
  description?: string;
  enabled?: boolean;
}

export function parseDomain(body: unknown, mode: 'create' | 'update', id?: string): DomainInput {
  const e = entityOf(body, 'domain');
  requireMatchingId(e, id);
  if (mode === 'create' && e.name === undefined) invalid('name', "'name' is a required property");
  if (mode === 'update' && Object.keys(e).length === 0) invalid('domain', 'nothing to update');
  readOptions(e.options);
  if (e.tags !== undefined && readTags(e.tags).length > 0)
    fail('ValidationFailed', 'Domain tags are not supported.');
  if (e.explicit_domain_id !== undefined) fail('ValidationFailed', 'explicit_domain_id is not supported.');
  const out: DomainInput = {};
  if (e.name !== undefined) out.name = readName(e.name, 'name', NAME_MAX.domain);
  if (e.description !== undefined) out.description = readDescription(e.description);
  if (e.enabled !== undefined) out.enabled = readBoolean(e.enabled, 'enabled');
  return out;
}

export interface ProjectInput {
  name?: string;
  description?: string;
  enabled?: boolean;
  domainId?: string;
  /** Only a domain may be a parent (checked by the caller, who knows the domains). */
  parentId?: string;
  /** Attributes to merge into the stored extras; `tags` included. */
  extra: Json;
}

export const noHierarchy = (): never =>
  fail('ValidationFailed', 'Project hierarchies are not supported: parent_id must be the domain.');

const PROJECT_FIELDS = [
  'id',
  'links',
  'name',
  'description',
  'enabled',
  'domain_id',
  'parent_id',
  'is_domain',
  'options',
  'tags',
] as const;

export function parseProject(
  body: unknown,
  mode: 'create' | 'update',
  current?: { id: string; domainId: string },
): ProjectInput {
  const e = entityOf(body, 'project');
  requireMatchingId(e, current?.id);
  if (mode === 'create' && e.name === undefined) invalid('name', "'name' is a required property");
  if (mode === 'update' && Object.keys(e).length === 0) invalid('project', 'nothing to update');
  readOptions(e.options);
  if (e.is_domain !== undefined && e.is_domain !== null && readBoolean(e.is_domain, 'is_domain'))
    fail('ValidationFailed', 'Projects acting as domains are not supported.');
  const out: ProjectInput = { extra: readExtras(e, PROJECT_FIELDS) };
  if (e.name !== undefined) out.name = readName(e.name, 'name', NAME_MAX.project);
  if (e.description !== undefined) out.description = readDescription(e.description);
  if (e.enabled !== undefined) out.enabled = readBoolean(e.enabled, 'enabled');
  if (e.tags !== undefined) out.extra.tags = readTags(e.tags);
  if (e.domain_id !== undefined && e.domain_id !== null) {
    out.domainId = readId(e.domain_id, 'domain_id');
    if (mode === 'update' && out.domainId !== current?.domainId)
      fail('ValidationFailed', 'Cannot change the domain_id of a project.');
  }
  // Hierarchies are not modelled: a project's parent is its domain, as Keystone shows top-level projects.
  if (e.parent_id !== undefined && e.parent_id !== null) {
    out.parentId = readId(e.parent_id, 'parent_id');
    if (mode === 'update' && out.parentId !== current?.domainId) noHierarchy();
    if (out.domainId !== undefined && out.parentId !== out.domainId) noHierarchy();
  }
  return out;
}

export interface UserInput {
  name?: string;
  domainId?: string;
  enabled?: boolean;
  /** undefined: unchanged; null: no password (password authentication is refused). */
  password?: string | null;
  defaultProjectId?: string | null;
  extra: Json;
}

const USER_FIELDS = [
  'id',
  'links',
  'name',
  'domain_id',
  'enabled',
  'password',
  'default_project_id',
  'options',
  'federated',
  'password_expires_at',
] as const;

export function parseUser(
  body: unknown,
  mode: 'create' | 'update',
  current?: { id: string; domainId: string },
): UserInput {
  const e = entityOf(body, 'user');
  requireMatchingId(e, current?.id);
  if (mode === 'create' && e.name === undefined) invalid('name', "'name' is a required property");
  if (mode === 'update' && Object.keys(e).length === 0) invalid('user', 'nothing to update');
  readOptions(e.options);
  if (e.federated !== undefined) fail('ValidationFailed', 'Federated users are not supported.');
  if (e.password_expires_at !== undefined)
    fail('ValidationFailed', "Invalid input for field 'password_expires_at': it is read-only.");
  const out: UserInput = { extra: readExtras(e, USER_FIELDS) };
  if (out.extra.description !== undefined) out.extra.description = readDescription(out.extra.description);
  if (e.name !== undefined) out.name = readName(e.name, 'name', NAME_MAX.user);
  if (e.domain_id !== undefined) {
    out.domainId = readId(e.domain_id, 'domain_id');
    if (mode === 'update' && out.domainId !== current?.domainId)
      fail('ValidationFailed', 'Cannot change the domain_id of a user.');
  }
  if (e.enabled !== undefined) out.enabled = readBoolean(e.enabled, 'enabled');
  if (e.password !== undefined) out.password = e.password === null ? null : readPassword(e.password);
  if (e.default_project_id !== undefined)
    out.defaultProjectId =
      e.default_project_id === null ? null : readId(e.default_project_id, 'default_project_id');
  return out;
}

export function parsePasswordChange(body: unknown): { original: string; password: string } {
  const e = entityOf(body, 'user');
  if (typeof e.original_password !== 'string')
    invalid('original_password', "'original_password' is a required property");
  return {
    original: readPassword(e.original_password, 'original_password'),
    password: readPassword(e.password),
  };
}

export function parseRole(body: unknown): { name: string } {
  const e = entityOf(body, 'role');
  if (e.name === undefined) invalid('name', "'name' is a required property");
  readOptions(e.options);
  if (e.domain_id !== undefined && e.domain_id !== null)
    fail('ValidationFailed', 'Domain-specific roles are not supported.');
  if (e.description !== undefined && e.description !== null && e.description !== '')
    fail('ValidationFailed', 'Role descriptions are not supported.');
  return { name: readName(e.name, 'name', NAME_MAX.role) };
}

export interface AppCredInput {
  name: string;
  description: string | null;
  secret: string | null;
  expiresAt: Date | null;
  /** null: all the roles of the creating token. */
  roles: { id?: string; name?: string }[] | null;
  unrestricted: boolean;
}

export function parseApplicationCredential(body: unknown): AppCredInput {
  const e = entityOf(body, 'application_credential');
  if (e.name === undefined) invalid('name', "'name' is a required property");
  let expiresAt: Date | null = null;
  if (e.expires_at !== undefined && e.expires_at !== null) {
    if (typeof e.expires_at !== 'string') return invalid('expires_at', 'a string or null is required');
    // Keystone takes ISO 8601 without a zone as UTC.
    const text = /[zZ]|[+-]\d\d:?\d\d$/.test(e.expires_at) ? e.expires_at : `${e.expires_at}Z`;
    expiresAt = new Date(text);
    if (!/^\d{4}-\d\d-\d\dT/.test(e.expires_at) || Number.isNaN(expiresAt.getTime()))
      return invalid('expires_at', 'not an ISO 8601 date and time');
  }
  let roles: AppCredInput['roles'] = null;
  if (e.roles !== undefined && e.roles !== null) {
    if (!Array.isArray(e.roles)) return invalid('roles', 'an array is required');
    roles = e.roles.map((r) => {
      if (!isObject(r) || Object.keys(r).length !== 1)
        return invalid('roles', 'each role is {"id": ...} or {"name": ...}');
      if (r.id !== undefined) return { id: readId(r.id, 'roles/id') };
      if (r.name !== undefined) return { name: readName(r.name, 'roles/name', NAME_MAX.role) };
      return invalid('roles', 'each role is {"id": ...} or {"name": ...}');
    });
    if (roles.length === 0) roles = null;
  }
  if (
    Array.isArray(e.access_rules)
      ? e.access_rules.length > 0
      : e.access_rules !== undefined && e.access_rules !== null
  )
    fail('ValidationFailed', 'Access rules are not supported.');
  return {
    name: readName(e.name, 'name', NAME_MAX.applicationCredential),
    description:
      e.description === undefined || e.description === null ? null : readDescription(e.description),
    secret:
      e.secret === undefined || e.secret === null || e.secret === ''
        ? null
        : readPassword(e.secret, 'secret'),
    expiresAt,
    roles,
    unrestricted: e.unrestricted === undefined ? false : readBoolean(e.unrestricted, 'unrestricted'),
  };
}

/** Keystone's reading of a boolean query filter: present and not '0'/'false' is true. */
export function queryFlag(value: string | undefined): boolean {
  if (value === undefined) return false;
  return !['0', 'false'].includes(value.toLowerCase());
}
