/**
 * Metadata definitions (Glance "metadefs"): a catalogue of the properties,
 * objects and tags that may be put on images and other resources, grouped in
 * namespaces and associated with resource types. These are the pure rules:
 * what a valid namespace, property, object or tag is, and who may see or
 * change them (Glance's defaults: everyone reads what is visible to them, only
 * admins write).
 */
import type { RequestContext } from './context.ts';
import { isAdmin } from './context.ts';
import { fail } from './errors.ts';

export type MetadefVisibility = 'public' | 'private';

export interface Namespace {
  id: string;
  namespace: string;
  displayName: string | null;
  description: string | null;
  visibility: MetadefVisibility;
  protected: boolean;
  owner: string;
  createdAt: string;
  updatedAt: string;
}

export interface ResourceType {
  name: string;
  protected: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface ResourceTypeAssociation {
  name: string;
  prefix: string | null;
  propertiesTarget: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A property definition: a small JSON schema kept as given, with its name apart. */
export interface PropertyDefinition {
  name: string;
  schema: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
}

export interface MetadefObject {
  name: string;
  description: string | null;
  required: string[];
  properties: Record<string, Record<string, unknown>>;
  createdAt: string;
  updatedAt: string;
}

export interface MetadefTag {
  name: string;
  createdAt: string;
  updatedAt: string;
}

/** Glance's column width for names, prefixes and targets. */
export const NAME_MAX = 80;
const DESCRIPTION_MAX = 500;
const OWNER_MAX = 255;
/** Glance's default and largest page of namespaces or tags. */
export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 1000;
/** Enough for any real catalogue; a bound on what one request may create. */
const MAX_ITEMS_PER_REQUEST = 1000;

/** The resource types Glance's own migration creates; protected from removal. */
export const BASE_RESOURCE_TYPES = [
  'OS::Glance::Image',
  'OS::Cinder::Volume',
  'OS::Nova::Flavor',
  'OS::Nova::Aggregate',
  'OS::Nova::Server',
] as const;

const PROPERTY_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', 'null'];
/** Attributes the service sets: sending them is refused, as Glance refuses them on images. */
const READ_ONLY = ['created_at', 'updated_at', 'schema', 'self'];

type Json = Record<string, unknown>;

function asObject(body: unknown, what: string): Json {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail('ValidationFailed', `The ${what} must be a JSON object.`);
  return body as Json;
}

function refuseUnknown(body: Json, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(body)) {
    if (READ_ONLY.includes(key)) fail('ReadOnlyProperty', `Attribute '${key}' is read-only.`);
    if (!allowed.includes(key))
      fail(
        'ValidationFailed',
        `Additional properties are not allowed ('${key}' was unexpected) in the ${what}.`,
      );
  }
}

/**
 * A name that can be put in a URL path segment and read back: 1-80 characters,
 * no slash, no control characters.
 */
export function checkName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0)
    return fail('ValidationFailed', `'${field}' is required and must be a non-empty string.`);
  if (value.length > NAME_MAX)
    return fail('ValidationFailed', `'${field}' is too long (at most ${NAME_MAX} characters).`);
  // eslint-disable-next-line no-control-regex
  if (/[/\u0000-\u001f\u007f]/.test(value))
    return fail('ValidationFailed', `'${field}' may not contain '/' or control characters.`);
  return value;
}

function optionalString(body: Json, field: string, max: number): string | null | undefined {
  const value = body[field];
  if (value === undefined || value === null) return value as null | undefined;
  if (typeof value !== 'string') return fail('ValidationFailed', `'${field}' must be a string.`);
  if (value.length > max)
    return fail('ValidationFailed', `'${field}' is too long (at most ${max} characters).`);
  return value;
}

function optionalBoolean(body: Json, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') return fail('ValidationFailed', `'${field}' must be a boolean.`);
  return value;
}

/** A map of property definitions, bounded as arrays are. */
function propertyEntries(raw: unknown): [string, unknown][] {
  const entries = Object.entries(asObject(raw ?? {}, 'properties'));
  if (entries.length > MAX_ITEMS_PER_REQUEST)
    return fail('ValidationFailed', `'properties' has more than ${MAX_ITEMS_PER_REQUEST} entries.`);
  return entries;
}

function optionalArray(body: Json, field: string): unknown[] | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) return fail('ValidationFailed', `'${field}' must be an array.`);
  if (value.length > MAX_ITEMS_PER_REQUEST)
    return fail('ValidationFailed', `'${field}' has more than ${MAX_ITEMS_PER_REQUEST} items.`);
  return value;
}

export interface NamespaceInput {
  namespace: string;
  displayName: string | null;
  description: string | null;
  visibility: MetadefVisibility;
  protected: boolean;
  owner: string | null;
}

export interface NamespaceCreateInput extends NamespaceInput {
  resourceTypes: AssociationInput[];
  properties: { name: string; schema: Json }[];
  objects: ObjectInput[];
  tags: string[];
}

const NAMESPACE_FIELDS = ['namespace', 'display_name', 'description', 'visibility', 'protected', 'owner'];
const NAMESPACE_CONTENT = ['resource_type_associations', 'properties', 'objects', 'tags'];

function namespaceFields(body: Json): NamespaceInput {
  const visibility = body.visibility ?? 'private';
  if (visibility !== 'public' && visibility !== 'private')
    fail('ValidationFailed', `'visibility' must be one of public, private.`);
  return {
    namespace: checkName(body.namespace, 'namespace'),
    displayName: optionalString(body, 'display_name', NAME_MAX) ?? null,
    description: optionalString(body, 'description', DESCRIPTION_MAX) ?? null,
    visibility: visibility as MetadefVisibility,
    protected: optionalBoolean(body, 'protected') ?? false,
    owner: optionalString(body, 'owner', OWNER_MAX) ?? null,
  };
}

/** A namespace to create, with the content Glance lets one create with it. */
export function parseNamespaceCreate(raw: unknown): NamespaceCreateInput {
  const body = asObject(raw, 'namespace');
  refuseUnknown(body, [...NAMESPACE_FIELDS, ...NAMESPACE_CONTENT], 'namespace');
  const fields = namespaceFields(body);
  const properties = propertyEntries(body.properties).map(([name, schema]) =>
    parseProperty({ ...asObject(schema, 'property'), name }),
  );
  return {
    ...fields,
    resourceTypes: (optionalArray(body, 'resource_type_associations') ?? []).map(parseAssociation),
    properties,
    objects: (optionalArray(body, 'objects') ?? []).map(parseObject),
    tags: (optionalArray(body, 'tags') ?? []).map((t) => parseTag(t)),
  };
}

/**
 * A namespace update (PUT replaces its own fields; content is changed through
 * its own routes, and what the namespace document lists of it is ignored, as
 * Glance does).
 */
export function parseNamespaceUpdate(raw: unknown): NamespaceInput {
  const body = asObject(raw, 'namespace');
  const own = Object.fromEntries(Object.entries(body).filter(([k]) => !NAMESPACE_CONTENT.includes(k)));
  refuseUnknown(own, NAMESPACE_FIELDS, 'namespace');
  return namespaceFields(own);
}

export interface AssociationInput {
  name: string;
  prefix: string | null;
  propertiesTarget: string | null;
}

export function parseAssociation(raw: unknown): AssociationInput {
  const body = asObject(raw, 'resource type association');
  refuseUnknown(body, ['name', 'prefix', 'properties_target'], 'resource type association');
  return {
    name: checkName(body.name, 'name'),
    prefix: optionalString(body, 'prefix', NAME_MAX) ?? null,
    propertiesTarget: optionalString(body, 'properties_target', NAME_MAX) ?? null,
  };
}

/** The keywords Glance's property schema allows, with the JSON type each must have. */
const PROPERTY_KEYWORDS: Record<string, (v: unknown) => boolean> = {
  title: (v) => typeof v === 'string',
  description: (v) => typeof v === 'string',
  operators: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  type: (v) => typeof v === 'string' && PROPERTY_TYPES.includes(v),
  required: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  minimum: (v) => typeof v === 'number',
  maximum: (v) => typeof v === 'number',
  maxLength: (v) => Number.isInteger(v) && (v as number) >= 0,
  minLength: (v) => Number.isInteger(v) && (v as number) >= 0,
  pattern: (v) => typeof v === 'string' && compiles(v),
  enum: (v) => Array.isArray(v),
  readonly: (v) => typeof v === 'boolean',
  default: () => true,
  items: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  uniqueItems: (v) => typeof v === 'boolean',
  maxItems: (v) => Number.isInteger(v) && (v as number) >= 0,
  minItems: (v) => Number.isInteger(v) && (v as number) >= 0,
  additionalItems: (v) => typeof v === 'boolean',
};

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern, 'u');
    return true;
  } catch {
    return false;
  }
}

/** A property definition: name, title and type are required; only schema keywords Glance knows. */
export function parseProperty(raw: unknown): { name: string; schema: Json } {
  const body = asObject(raw, 'property');
  const name = checkName(body.name, 'name');
  const schema: Json = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'name') continue;
    const valid = PROPERTY_KEYWORDS[key];
    if (!valid) {
      if (READ_ONLY.includes(key)) continue;
      return fail(
        'ValidationFailed',
        `Additional properties are not allowed ('${key}' was unexpected) in the property.`,
      );
    }
    if (!valid(value)) return fail('ValidationFailed', `Property ${name}: '${key}' has an invalid value.`);
    schema[key] = value;
  }
  if (typeof schema.title !== 'string') fail('ValidationFailed', `Property ${name}: 'title' is required.`);
  if (typeof schema.type !== 'string')
    fail('ValidationFailed', `Property ${name}: 'type' is required, one of ${PROPERTY_TYPES.join(', ')}.`);
  return { name, schema };
}

export interface ObjectInput {
  name: string;
  description: string | null;
  required: string[];
  properties: Record<string, Json>;
}

export function parseObject(raw: unknown): ObjectInput {
  const body = asObject(raw, 'object');
  refuseUnknown(body, ['name', 'description', 'required', 'properties'], 'object');
  const required = optionalArray(body, 'required') ?? [];
  if (!required.every((r) => typeof r === 'string'))
    fail('ValidationFailed', `'required' must be an array of property names.`);
  const properties: Record<string, Json> = {};
  for (const [name, schema] of propertyEntries(body.properties)) {
    properties[name] = parseProperty({ ...asObject(schema, 'property'), name }).schema;
  }
  return {
    name: checkName(body.name, 'name'),
    description: optionalString(body, 'description', DESCRIPTION_MAX) ?? null,
    required: required as string[],
    properties,
  };
}

export function parseTag(raw: unknown): string {
  const body = asObject(raw, 'tag');
  refuseUnknown(body, ['name'], 'tag');
  return checkName(body.name, 'name');
}

/** The tags of a bulk create: {"tags": [{"name": ...}, ...]}, each name once. */
export function parseTagList(raw: unknown): string[] {
  const body = asObject(raw, 'tag list');
  refuseUnknown(body, ['tags'], 'tag list');
  const names = (optionalArray(body, 'tags') ?? fail('ValidationFailed', `'tags' is required.`)).map(
    parseTag,
  );
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) fail('Conflict', `Duplicate tag ${name} in the request.`);
    seen.add(name);
  }
  return names;
}

/** Private namespaces are seen by their owner and admins only; not seeing one is not finding it. */
export function canSeeNamespace(ctx: RequestContext, ns: Namespace): boolean {
  return ns.visibility === 'public' || ns.owner === ctx.projectId || isAdmin(ctx);
}

export function namespaceNotFound(name: string): never {
  return fail('NotFound', `Metadata definition namespace=${name} was not found.`);
}

export function assertNamespaceDeletable(ns: Namespace): void {
  if (ns.protected) fail('Forbidden', `Namespace ${ns.namespace} is protected and cannot be deleted.`);
}
