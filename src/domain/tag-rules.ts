import { DomainError, fail } from './errors.ts';
import { IMAGE_LIMITS } from './image.ts';

/**
 * Tags: one store, three API generations (ims-api.md §1.3, §6.3).
 *
 * Every tag is a key and a value (possibly empty). It is stored as one string:
 * the key alone when the value is empty, `key=value` otherwise. A Glance simple
 * tag `t` is therefore the key/value tag (`t`, ""), and `k=v` in an image's
 * `tags` array is the key/value tag (`k`, `v`). Keys never contain `=` (the
 * IMS character set excludes it and simple tags refuse it), so the encoding is
 * reversible, and an image has at most one tag per key.
 */
export interface KeyValueTag {
  key: string;
  value: string;
}

/** IMS tag limits (§6.3); Glance routes keep Glance's own (IMAGE_LIMITS). */
export const IMS_TAG_LIMITS = {
  maxTagsPerImage: 10,
  maxKeyLength: 36,
  maxValueLength: 43,
  /** Batch deletion checks lengths only, with wider bounds. */
  deleteMaxKeyLength: 127,
  deleteMaxValueLength: 255,
  /** Bounds the work of one batch request. */
  maxBatch: 100,
  filterMaxKeys: 10,
  filterMaxValues: 10,
  filterMaxKeyLength: 128,
  filterMaxValueLength: 255,
  resourceLimitDefault: 10,
  resourceLimitMax: 1000,
} as const;

/** Letters (any script, as IMS accepts CJK), digits, `_` and `-`. */
const TAG_CHARACTERS = /^[\p{L}\p{N}_-]*$/u;

const length = (s: string) => [...s].length;

const invalidTag = (message: string): never => fail('InvalidTag', message);
const badRequest = (message: string): never => fail('ValidationFailed', message);

export function encodeTag(tag: KeyValueTag): string {
  return tag.value === '' ? tag.key : `${tag.key}=${tag.value}`;
}

export function decodeTag(stored: string): KeyValueTag {
  const eq = stored.indexOf('=');
  return eq < 0 ? { key: stored, value: '' } : { key: stored.slice(0, eq), value: stored.slice(eq + 1) };
}

export const keyOf = (stored: string): string => decodeTag(stored).key;

function checkPart(field: 'key' | 'value', raw: unknown, max: number, min: number): string {
  if (typeof raw !== 'string') return invalidTag(`Tag ${field} must be a string`);
  // IMS trims surrounding spaces of tag objects (§6.3).
  const v = raw.trim();
  if (length(v) < min) return invalidTag(`Tag ${field} must not be empty`);
  if (length(v) > max) return invalidTag(`Tag ${field} must be at most ${max} characters`);
  if (!TAG_CHARACTERS.test(v))
    return invalidTag(`Tag ${field} '${v}' may contain only letters, digits, '_' and '-'`);
  return v;
}

/** A `{key, value}` object of the IMS tag APIs; both must be strings, the value may be empty. */
export function checkKeyValueTag(raw: unknown): KeyValueTag {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return invalidTag('A tag must be an object with "key" and "value"');
  const { key, value } = raw as Record<string, unknown>;
  if (value === undefined) return invalidTag('A tag needs a "value" (an empty string is allowed)');
  return {
    key: checkPart('key', key, IMS_TAG_LIMITS.maxKeyLength, 1),
    value: checkPart('value', value, IMS_TAG_LIMITS.maxValueLength, 0),
  };
}

/** A legacy IMS tag string `key.value` (the value may be empty; `key` alone means an empty value). */
export function parseLegacyTag(raw: unknown): KeyValueTag {
  if (typeof raw !== 'string') return invalidTag('A tag must be a string of the form "key.value"');
  const dot = raw.indexOf('.');
  const [key, value] = dot < 0 ? [raw, ''] : [raw.slice(0, dot), raw.slice(dot + 1)];
  return {
    key: checkPart('key', key, IMS_TAG_LIMITS.maxKeyLength, 1),
    value: checkPart('value', value, IMS_TAG_LIMITS.maxValueLength, 0),
  };
}

/** A list of new tags in one request: keys must be distinct. */
export function checkKeyValueTags(raw: unknown, parse: (t: unknown) => KeyValueTag = checkKeyValueTag) {
  if (!Array.isArray(raw) || raw.length === 0) return invalidTag('"tags" must be a non-empty array');
  if (raw.length > IMS_TAG_LIMITS.maxTagsPerImage) throw tooMany();
  const tags = raw.map(parse);
  const keys = new Set(tags.map((t) => t.key));
  if (keys.size !== tags.length) return invalidTag('A key may appear only once in one request');
  return tags;
}

/**
 * The tags of an image creation request in IMS bodies: legacy `tags` strings
 * or `image_tags` objects, never both (§6.3). For the IMS create routes.
 */
export function tagsOfCreateBody(body: { tags?: unknown; image_tags?: unknown }): KeyValueTag[] {
  if (body.tags !== undefined && body.image_tags !== undefined)
    return invalidTag('"tags" and "image_tags" cannot be used together');
  if (body.image_tags !== undefined) return checkKeyValueTags(body.image_tags);
  if (body.tags !== undefined) return checkKeyValueTags(body.tags, parseLegacyTag);
  return [];
}

/** What a batch deletion names: a key, and optionally the value it must have. */
export interface TagSelector {
  key: string;
  value?: string;
}

/** Batch deletion checks lengths only (§6.3), so that any stored tag can be removed. */
export function checkTagSelectors(raw: unknown): TagSelector[] {
  if (!Array.isArray(raw) || raw.length === 0) return invalidTag('"tags" must be a non-empty array');
  if (raw.length > IMS_TAG_LIMITS.maxBatch)
    return invalidTag(`At most ${IMS_TAG_LIMITS.maxBatch} tags per request`);
  return raw.map((item): TagSelector => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return invalidTag('A tag must be an object with "key" and "value"');
    const { key, value } = item as Record<string, unknown>;
    if (typeof key !== 'string' || key.trim() === '') return invalidTag('Tag key must be a non-empty string');
    if (length(key.trim()) > IMS_TAG_LIMITS.deleteMaxKeyLength)
      return invalidTag(`Tag key must be at most ${IMS_TAG_LIMITS.deleteMaxKeyLength} characters`);
    if (value === undefined || value === null) return { key: key.trim() };
    if (typeof value !== 'string') return invalidTag('Tag value must be a string');
    if (length(value.trim()) > IMS_TAG_LIMITS.deleteMaxValueLength)
      return invalidTag(`Tag value must be at most ${IMS_TAG_LIMITS.deleteMaxValueLength} characters`);
    return { key: key.trim(), value: value.trim() };
  });
}

/** Whether a stored tag is named by a selector. */
export function selects(selector: TagSelector, stored: string): boolean {
  const tag = decodeTag(stored);
  return tag.key === selector.key && (selector.value === undefined || tag.value === selector.value);
}

const tooMany = () =>
  new DomainError(
    'TooManyTags',
    `An image has at most ${IMS_TAG_LIMITS.maxTagsPerImage} tags on the IMS tag APIs`,
  );

/**
 * The stored tags after setting key/value tags on an IMS route: a key already
 * present takes the new value; the image may end with at most 10 tags.
 */
export function withImsTags(current: readonly string[], added: readonly KeyValueTag[]): string[] {
  const addedKeys = new Set(added.map((t) => t.key));
  const next = [...current.filter((s) => !addedKeys.has(keyOf(s))), ...added.map(encodeTag)];
  // Images that already hold more (Glance allows 128) may still change existing keys.
  if (next.length > IMS_TAG_LIMITS.maxTagsPerImage && next.length > current.length) throw tooMany();
  return next;
}

/**
 * A Glance simple tag: Glance's length rule, and no `=`, which IMS reserves for
 * key/value tags. A `k=v` the image already has may be sent back unchanged
 * (clients replace the whole list with what they read plus their change).
 */
export function checkGlanceTag(tag: unknown, current: readonly string[] = []): string {
  if (typeof tag !== 'string' || tag.length === 0)
    return badRequest("Invalid value for 'tags': each tag must be a non-empty string");
  if (length(tag) > IMAGE_LIMITS.maxTagLength)
    return badRequest(
      `Invalid value for 'tags': each tag must be at most ${IMAGE_LIMITS.maxTagLength} characters`,
    );
  if (tag.includes('=') && !current.includes(tag))
    return invalidTag(`Tag '${tag}' contains '=', which is reserved for key/value tags (key=value)`);
  return tag;
}

/** Glance's limit of 128 tags per image, on Glance routes. */
export function assertGlanceTagCount(count: number): void {
  if (count > IMAGE_LIMITS.maxTags) {
    throw new DomainError(
      'TooManyTags',
      `Maximum number of tags exceeded: an image has at most ${IMAGE_LIMITS.maxTags}`,
    );
  }
}

/**
 * The stored tags after Glance's `PUT /v2/images/{id}/tags/{tag}`: the simple
 * tag replaces a key/value tag of the same key; Glance's limit of 128 holds.
 */
export function withGlanceTag(current: readonly string[], raw: unknown): string[] {
  const tag = checkGlanceTag(raw, current);
  if (current.includes(tag)) return [...current];
  const next = [...current.filter((s) => keyOf(s) !== tag), tag];
  if (next.length > current.length) assertGlanceTagCount(next.length);
  return next;
}

/** Glance's whole-list tag writes (create, PATCH /tags): one tag per key, the last one wins. */
export function dedupeByKey(tags: readonly string[]): string[] {
  const byKey = new Map<string, string>();
  for (const t of tags) {
    byKey.delete(keyOf(t));
    byKey.set(keyOf(t), t);
  }
  return [...byKey.values()];
}

/** Tag listing for a project: every key with its distinct values. */
export function groupByKey(stored: readonly string[]): { key: string; values: string[] }[] {
  const groups = new Map<string, Set<string>>();
  for (const s of stored) {
    const { key, value } = decodeTag(s);
    if (!groups.has(key)) groups.set(key, new Set());
    groups.get(key)!.add(value);
  }
  return [...groups].map(([key, values]) => ({ key, values: [...values].sort() }));
}

/** One condition of a resource query: the key with any of the values (any value when empty). */
export interface TagCondition {
  key: string;
  values: string[];
}

export type ResourceMatch = { key: 'resource_name' | 'resource_id'; value: string };

export interface ResourceQuery {
  action: 'filter' | 'count';
  /** Has all of (AND across keys, OR within one key's values). */
  tags: TagCondition[];
  /** Has any of. */
  tagsAny: TagCondition[];
  /** Has not all of. */
  notTags: TagCondition[];
  /** Has none of. */
  notTagsAny: TagCondition[];
  /** Untagged images only; the other tag conditions are ignored. */
  withoutAnyTag: boolean;
  matches: ResourceMatch[];
  limit: number;
  offset: number;
}

function checkConditions(field: string, raw: unknown): TagCondition[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return badRequest(`"${field}" must be an array of {"key", "values"}`);
  if (raw.length > IMS_TAG_LIMITS.filterMaxKeys)
    return badRequest(`"${field}" has at most ${IMS_TAG_LIMITS.filterMaxKeys} keys`);
  const seen = new Set<string>();
  return raw.map((item): TagCondition => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      return badRequest(`Each entry of "${field}" must be an object with "key" and "values"`);
    const { key, values } = item as Record<string, unknown>;
    if (typeof key !== 'string' || key === '' || length(key) > IMS_TAG_LIMITS.filterMaxKeyLength)
      return badRequest(
        `"${field}": a key is a string of 1 to ${IMS_TAG_LIMITS.filterMaxKeyLength} characters`,
      );
    if (seen.has(key)) return badRequest(`"${field}": key '${key}' appears twice`);
    seen.add(key);
    if (!Array.isArray(values) || values.length > IMS_TAG_LIMITS.filterMaxValues)
      return badRequest(
        `"${field}": "values" is an array of at most ${IMS_TAG_LIMITS.filterMaxValues} strings`,
      );
    for (const v of values) {
      if (typeof v !== 'string' || length(v) > IMS_TAG_LIMITS.filterMaxValueLength)
        return badRequest(
          `"${field}": each value is a string of at most ${IMS_TAG_LIMITS.filterMaxValueLength} characters`,
        );
    }
    if (new Set(values).size !== values.length)
      return badRequest(`"${field}": duplicate values for '${key}'`);
    return { key, values: values as string[] };
  });
}

/** `limit` and `offset` are strings of digits in this API (§10.12). */
function checkNumberText(field: string, raw: unknown, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(raw))
    return badRequest(`"${field}" must be a string of digits, such as "10"`);
  const n = Number(raw);
  if (n < min || n > max) return badRequest(`"${field}" must be from ${min} to ${max}`);
  return n;
}

function checkMatches(raw: unknown): ResourceMatch[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return badRequest('"matches" must be an array of {"key", "value"}');
  return raw.map((item): ResourceMatch => {
    const { key, value } = (item ?? {}) as Record<string, unknown>;
    if (key !== 'resource_name' && key !== 'resource_id')
      return badRequest('"matches": key must be resource_name or resource_id');
    if (typeof value !== 'string' || length(value) > 255)
      return badRequest('"matches": value must be a string of at most 255 characters');
    return { key, value };
  });
}

/** The body of `POST /v2/{project_id}/images/resource_instances/action`. */
export function parseResourceQuery(body: unknown): ResourceQuery {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return badRequest('The request body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (b.action !== 'filter' && b.action !== 'count')
    return badRequest('"action" must be "filter" or "count"');
  if (b.without_any_tag !== undefined && typeof b.without_any_tag !== 'boolean')
    return badRequest('"without_any_tag" must be a boolean');
  return {
    action: b.action,
    tags: checkConditions('tags', b.tags),
    tagsAny: checkConditions('tags_any', b.tags_any),
    notTags: checkConditions('not_tags', b.not_tags),
    notTagsAny: checkConditions('not_tags_any', b.not_tags_any),
    withoutAnyTag: b.without_any_tag === true,
    matches: checkMatches(b.matches),
    limit: checkNumberText(
      'limit',
      b.limit,
      IMS_TAG_LIMITS.resourceLimitDefault,
      1,
      IMS_TAG_LIMITS.resourceLimitMax,
    ),
    offset: checkNumberText('offset', b.offset, 0, 0, 2 ** 31 - 1),
  };
}

/** The stored strings a condition accepts: exact ones, or every value of the key when none is listed. */
export function storedFormsOf(condition: TagCondition): { exact: string[]; anyValueOf: string | null } {
  if (condition.values.length === 0) return { exact: [], anyValueOf: condition.key };
  return {
    exact: condition.values.map((value) => encodeTag({ key: condition.key, value })),
    anyValueOf: null,
  };
}

/** `GET /v1/cloudimages/tags`: which page of the distinct tags. */
export interface TagListPage {
  limit: number | null;
  offset: number;
}

const IMAGETYPE_VISIBILITY: Record<string, string> = { gold: 'public', private: 'private', shared: 'shared' };

/**
 * Maps the query of `GET /v1/cloudimages/tags` (§6.3) onto the image list
 * query: `__imagetype` to a visibility (`market`: no image qualifies here),
 * `architecture=arm` to `__support_arm=true`, IMS properties to property
 * filters; `limit`/`page` page the tags. Returns null when nothing can match.
 */
export function tagListQuery(
  input: Record<string, string | string[] | undefined>,
): { images: Record<string, string | string[] | undefined>; page: TagListPage } | null {
  const single = (key: string): string | undefined => {
    const v = input[key];
    if (Array.isArray(v))
      return v.length > 1 ? badRequest(`Query parameter '${key}' may be given only once`) : v[0];
    return v;
  };
  const limitText = single('limit');
  const pageText = single('page');
  if (limitText !== undefined && !/^[1-9]\d{0,5}$/.test(limitText))
    badRequest('"limit" must be a positive integer');
  if (pageText !== undefined && !/^[1-9]\d{0,8}$/.test(pageText))
    badRequest('"page" must be a positive integer');
  const limit = limitText === undefined ? null : Number(limitText);
  const page = pageText === undefined ? 1 : Number(pageText);
  const images: Record<string, string | string[] | undefined> = {};
  for (const [key, value] of Object.entries(input)) {
    if (['limit', 'page', '__imagetype', 'architecture', 'min_disk', 'visibility', 'tag'].includes(key))
      continue;
    images[key] = value;
  }
  const imagetype = single('__imagetype');
  if (imagetype !== undefined) {
    if (imagetype === 'market') return null;
    const visibility = IMAGETYPE_VISIBILITY[imagetype];
    if (!visibility) badRequest('"__imagetype" must be gold, private, shared or market');
    images.visibility = visibility;
  }
  const architecture = single('architecture');
  if (architecture !== undefined && architecture !== 'x86' && architecture !== 'arm')
    fail('ValidationFailed', 'architecture must be x86 or arm', { imsCode: 'IMG.0212' });
  if (architecture === 'arm') images.__support_arm = 'true';
  return { images, page: { limit, offset: limit === null ? 0 : (page - 1) * limit } };
}
