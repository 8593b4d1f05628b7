import { fail } from './errors.ts';
import { isAdmin, type RequestContext } from './context.ts';
import { CONTAINER_FORMATS, DISK_FORMATS } from './image-formats.ts';
import { ENTERPRISE_PROJECT_DEFAULT, checkEnterpriseProjectId } from './ims-properties.ts';
import { assertGlanceTagCount, checkGlanceTag, dedupeByKey } from './tag-rules.ts';
import { IMAGE_LIMITS, VISIBILITIES, classifyAttribute, type Image, type Visibility } from './image.ts';

/** The settable part of an image, as a create request or a patch produces it. */
export interface ImageFields {
  id?: string;
  name: string | null;
  visibility: Visibility;
  owner: string;
  protected: boolean;
  osHidden: boolean;
  containerFormat: string | null;
  diskFormat: string | null;
  minDisk: number;
  minRam: number;
  tags: string[];
  properties: Record<string, string>;
  enterpriseProjectId: string;
}

/** Glance's schema pattern for ids, kernel_id and ramdisk_id: dashes required, either case. */
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Custom properties that Glance's schema constrains (kernel and ramdisk are image ids). */
const UUID_PROPERTIES = new Set(['kernel_id', 'ramdisk_id']);

const invalid = (field: string, why: string): never =>
  fail('ValidationFailed', `Invalid value for '${field}': ${why}`);

function checkString(field: string, v: unknown, max: number, nullable: boolean): string | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'string')
    return invalid(field, nullable ? 'must be a string or null' : 'must be a string');
  if ([...v].length > max) return invalid(field, `must be at most ${max} characters`);
  return v;
}

function checkEnum(field: string, v: unknown, allowed: readonly string[], nullable: boolean): string | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'string' || !allowed.includes(v))
    return invalid(field, `must be one of ${allowed.join(', ')}`);
  return v;
}

function checkInt(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > IMAGE_LIMITS.maxInt32) {
    return invalid(field, `must be an integer from 0 to ${IMAGE_LIMITS.maxInt32}`);
  }
  return v;
}

function checkBool(field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') return invalid(field, 'must be a boolean');
  return v;
}

/** A Glance simple tag (rules in tag-rules.ts); `current` are the image's tags before the change. */
export function checkTag(tag: unknown, current: readonly string[] = []): string {
  return checkGlanceTag(tag, current);
}

export function checkTags(v: unknown, current: readonly string[] = []): string[] {
  if (!Array.isArray(v)) return invalid('tags', 'must be an array of strings');
  const tags = dedupeByKey([...new Set(v.map((t) => checkGlanceTag(t, current)))]);
  assertGlanceTagCount(tags.length);
  return tags;
}

export { assertGlanceTagCount as assertTagCount };

function checkCustom(name: string, v: unknown): string {
  if ([...name].length > IMAGE_LIMITS.maxPropertyKeyLength || name.length === 0) {
    return invalid(name, `property names are 1 to ${IMAGE_LIMITS.maxPropertyKeyLength} characters`);
  }
  const s = checkString(name, v, IMAGE_LIMITS.maxPropertyValueLength, false)!;
  if (UUID_PROPERTIES.has(name) && !UUID.test(s)) invalid(name, 'must be an image id (UUID)');
  return s;
}

function assertPropertyCount(properties: Record<string, string>): void {
  if (Object.keys(properties).length > IMAGE_LIMITS.maxProperties) {
    fail(
      'QuotaExceeded',
      `Maximum number of properties exceeded: an image has at most ${IMAGE_LIMITS.maxProperties}`,
    );
  }
}

/** Who may set which visibility: publishing to everyone is an operator's decision. */
export function assertVisibilityAllowed(ctx: RequestContext, visibility: Visibility): void {
  if (visibility === 'public' && !isAdmin(ctx)) {
    fail('Forbidden', 'Only administrators may make an image public');
  }
}

function assertOwnerAllowed(ctx: RequestContext, owner: string): void {
  if (owner !== ctx.projectId && !isAdmin(ctx)) {
    fail('Forbidden', `You are not permitted to create or move images owned by '${owner}'`);
  }
}

/** Sets one attribute on the fields, enforcing its type; rejects read-only and reserved names. */
function setAttribute(fields: ImageFields, name: string, value: unknown): void {
  switch (classifyAttribute(name)) {
    case 'reserved':
      return fail('ReservedProperty', `Attribute '${name}' is reserved.`);
    case 'read-only':
      return fail('ReadOnlyProperty', `Attribute '${name}' is read-only.`);
    case 'custom':
      if (value === null && UUID_PROPERTIES.has(name)) {
        delete fields.properties[name];
        return;
      }
      fields.properties[name] = checkCustom(name, value);
      return;
    case 'base':
      break;
  }
  switch (name) {
    case 'name':
      fields.name = checkString('name', value, IMAGE_LIMITS.maxNameLength, true);
      return;
    case 'visibility':
      fields.visibility = checkEnum('visibility', value, VISIBILITIES, false) as Visibility;
      return;
    case 'owner':
      fields.owner = checkString('owner', value, 255, false)!;
      return;
    case 'protected':
      fields.protected = checkBool('protected', value);
      return;
    case 'os_hidden':
      fields.osHidden = checkBool('os_hidden', value);
      return;
    case 'container_format':
      fields.containerFormat = checkEnum('container_format', value, CONTAINER_FORMATS, true);
      return;
    case 'disk_format':
      fields.diskFormat = checkEnum('disk_format', value, DISK_FORMATS, true);
      return;
    case 'min_disk':
      fields.minDisk = checkInt('min_disk', value);
      return;
    case 'min_ram':
      fields.minRam = checkInt('min_ram', value);
      return;
    case 'tags':
      fields.tags = checkTags(value, fields.tags);
      return;
    case 'enterprise_project_id':
      fields.enterpriseProjectId = checkEnterpriseProjectId(value);
      return;
    default:
      return fail('ReadOnlyProperty', `Attribute '${name}' is read-only.`);
  }
}

/**
 * Turns a create request body into the fields of a new image, as Glance does:
 * `id` may be chosen by the client, everything read-only is refused, new images
 * are `shared` unless told otherwise.
 */
export function fieldsForNewImage(ctx: RequestContext, body: unknown): ImageFields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return fail('ValidationFailed', 'The request body must be a JSON object');
  }
  const fields: ImageFields = {
    name: null,
    visibility: 'shared',
    owner: ctx.projectId,
    protected: false,
    osHidden: false,
    containerFormat: null,
    diskFormat: null,
    minDisk: 0,
    minRam: 0,
    tags: [],
    properties: {},
    enterpriseProjectId: ENTERPRISE_PROJECT_DEFAULT,
  };
  for (const [name, value] of Object.entries(body)) {
    if (name === 'id') {
      if (typeof value !== 'string' || !UUID.test(value)) invalid('id', 'must be a UUID');
      fields.id = normalizeUuid(value as string);
      continue;
    }
    setAttribute(fields, name, value);
  }
  assertVisibilityAllowed(ctx, fields.visibility);
  assertOwnerAllowed(ctx, fields.owner);
  assertPropertyCount(fields.properties);
  return fields;
}

export function normalizeUuid(id: string): string {
  const hex = id.replace(/-/g, '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function fieldsOf(image: Image): ImageFields {
  return {
    name: image.name,
    visibility: image.visibility,
    owner: image.owner,
    protected: image.protected,
    osHidden: image.osHidden,
    containerFormat: image.containerFormat,
    diskFormat: image.diskFormat,
    minDisk: image.minDisk,
    minRam: image.minRam,
    tags: [...image.tags],
    properties: { ...image.properties },
    enterpriseProjectId: image.enterpriseProjectId,
  };
}

export type PatchOp =
  | { op: 'add' | 'replace'; path: string; value: unknown; addMustBeNew?: boolean }
  | { op: 'remove'; path: string };

/**
 * The two JSON-patch dialects of Glance's media types: v2.1 (draft 10) writes
 * `{"op": "replace", "path": "/name", "value": ...}`; v2.0 (draft 4, still sent
 * by tempest and old clients) writes `{"replace": "/name", "value": ...}`, and
 * there an `add` of an attribute or property that exists is a conflict.
 */
export type PatchDialect = 'v2.1' | 'v2.0';

const PATCH_OPS = ['add', 'replace', 'remove'] as const;

function operationOf(raw: Record<string, unknown>, i: number, dialect: PatchDialect): [string, unknown] {
  if (dialect === 'v2.1') {
    const { op } = raw;
    if (op !== 'add' && op !== 'replace' && op !== 'remove')
      return fail('ValidationFailed', `Operation ${i}: "op" must be one of add, replace, remove`);
    return [op, raw.path];
  }
  const named = PATCH_OPS.filter((op) => op in raw);
  if (named.length !== 1) {
    return fail(
      'ValidationFailed',
      `Operation ${i} must contain exactly one member named "add", "remove", or "replace".`,
    );
  }
  return [named[0]!, raw[named[0]!]];
}

/** Parses a JSON-patch document in the Glance media type; the path names one attribute. */
export function parsePatch(body: unknown, dialect: PatchDialect = 'v2.1'): PatchOp[] {
  if (!Array.isArray(body))
    return fail('ValidationFailed', 'A JSON-patch document must be an array of operations');
  return body.map((raw, i): PatchOp => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return fail('ValidationFailed', `Operation ${i} must be an object`);
    const [op, path] = operationOf(raw as Record<string, unknown>, i, dialect);
    if (typeof path !== 'string' || !/^\/[^/]+$/.test(path)) {
      return fail(
        'ValidationFailed',
        `Operation ${i}: "path" must be a JSON pointer to one attribute, such as "/name"`,
      );
    }
    const attr = path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~');
    if (op === 'remove') return { op, path: attr };
    if (!('value' in (raw as object)))
      return fail('ValidationFailed', `Operation ${i}: "value" is required for ${op}`);
    const value = (raw as { value: unknown }).value;
    if (op === 'add' && dialect === 'v2.0') return { op, path: attr, value, addMustBeNew: true };
    return { op: op as 'add' | 'replace', path: attr, value };
  });
}

/**
 * Applies Glance's JSON-patch semantics (media type v2.1): `add` sets the
 * attribute or property whether or not it exists (only the v2.0 draft-4 form
 * made an existing one a conflict); `replace` and `remove` of a missing custom
 * property are conflicts; base attributes cannot be removed; formats change
 * only while the image is `queued` or `importing`.
 */
export function applyPatch(ctx: RequestContext, image: Image, ops: PatchOp[]): ImageFields {
  const fields = fieldsOf(image);
  for (const change of ops) {
    const name = change.path;
    const access = classifyAttribute(name);
    if (access === 'reserved') fail('ReservedProperty', `Attribute '${name}' is reserved.`);
    if (access === 'read-only') fail('ReadOnlyProperty', `Attribute '${name}' is read-only.`);
    const isCustom = access === 'custom';
    const exists = isCustom ? name in fields.properties : true;
    if (change.op === 'remove') {
      if (!isCustom) fail('Forbidden', `Property ${name} may not be removed.`);
      if (!exists) fail('Conflict', `Property ${name} does not exist.`);
      delete fields.properties[name];
      continue;
    }
    if (change.op === 'replace' && isCustom && !exists) fail('Conflict', `Property ${name} does not exist.`);
    if (change.op === 'add' && change.addMustBeNew && exists)
      fail('Conflict', `Property ${name} already present.`);
    if (
      (name === 'disk_format' || name === 'container_format') &&
      image.status !== 'queued' &&
      image.status !== 'importing'
    ) {
      const current = name === 'disk_format' ? image.diskFormat : image.containerFormat;
      if (change.value !== current)
        fail('Forbidden', `Attribute ${name} can be only replaced for a queued image.`);
    }
    setAttribute(fields, name, change.value);
  }
  if (fields.visibility !== image.visibility) assertVisibilityAllowed(ctx, fields.visibility);
  if (fields.owner !== image.owner) assertOwnerAllowed(ctx, fields.owner);
  assertPropertyCount(fields.properties);
  return fields;
}
