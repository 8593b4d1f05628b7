import { describe, expect, it } from 'vitest';
import { DomainError, type ErrorCode } from '../../src/domain/errors.ts';
import {
  checkGlanceTag,
  checkKeyValueTag,
  checkKeyValueTags,
  checkTagSelectors,
  decodeTag,
  dedupeByKey,
  encodeTag,
  groupByKey,
  parseLegacyTag,
  parseResourceQuery,
  selects,
  storedFormsOf,
  tagListQuery,
  tagsOfCreateBody,
  withGlanceTag,
  withImsTags,
} from '../../src/domain/tag-rules.ts';
import { checkTags } from '../../src/domain/image-rules.ts';

function refused(fn: () => unknown, code: ErrorCode, imsStatus?: number): DomainError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(DomainError);
  const err = thrown as DomainError;
  expect(err.code).toBe(code);
  if (imsStatus !== undefined) expect(err.imsStatus).toBe(imsStatus);
  return err;
}

describe('tag encoding: one store for simple and key/value tags', () => {
  it('stores key=value, and a key alone for an empty value, and reads them back', () => {
    expect(encodeTag({ key: 'env', value: 'prod' })).toBe('env=prod');
    expect(encodeTag({ key: 'env', value: '' })).toBe('env');
    expect(decodeTag('env=prod')).toEqual({ key: 'env', value: 'prod' });
    expect(decodeTag('simple tag')).toEqual({ key: 'simple tag', value: '' });
  });

  it('round-trips every valid key/value tag', () => {
    for (const tag of [
      { key: 'a', value: '' },
      { key: 'k-1_x', value: 'v-2_y' },
      { key: '键', value: '值' },
      { key: 'x'.repeat(36), value: 'y'.repeat(43) },
    ]) {
      expect(decodeTag(encodeTag(checkKeyValueTag(tag)))).toEqual(tag);
    }
  });
});

describe('key/value tags on IMS routes', () => {
  it('trims surrounding spaces and accepts an empty value', () => {
    expect(checkKeyValueTag({ key: '  env ', value: ' prod ' })).toEqual({ key: 'env', value: 'prod' });
    expect(checkKeyValueTag({ key: 'env', value: '' })).toEqual({ key: 'env', value: '' });
  });

  it.each([
    ['a key of 37 characters', { key: 'k'.repeat(37), value: 'v' }],
    ['a value of 44 characters', { key: 'k', value: 'v'.repeat(44) }],
    ['an empty key', { key: '', value: 'v' }],
    ['a blank key', { key: '   ', value: 'v' }],
    ['= in the key', { key: 'a=b', value: 'v' }],
    ['= in the value', { key: 'a', value: 'b=c' }],
    ['. in the key', { key: 'a.b', value: 'v' }],
    ['a space inside', { key: 'a b', value: 'v' }],
    ['markup', { key: '<script>', value: 'v' }],
    ['a boolean value', { key: 'a', value: true }],
    ['a number key', { key: 1, value: 'v' }],
    ['a null value', { key: 'a', value: null }],
    ['a missing value', { key: 'a' }],
    ['a string instead of an object', 'a=b'],
    ['an array', [{ key: 'a', value: 'b' }]],
  ])('refuses %s with IMG.0115', (_label, raw) => {
    const err = refused(() => checkKeyValueTag(raw), 'InvalidTag', 400);
    expect(err.imsCode).toBe('IMG.0115');
  });

  it('reads legacy key.value strings, the value possibly empty', () => {
    expect(parseLegacyTag('env.prod')).toEqual({ key: 'env', value: 'prod' });
    expect(parseLegacyTag('env.')).toEqual({ key: 'env', value: '' });
    expect(parseLegacyTag('env')).toEqual({ key: 'env', value: '' });
    refused(() => parseLegacyTag('a.b.c'), 'InvalidTag');
    refused(() => parseLegacyTag('.v'), 'InvalidTag');
    refused(() => parseLegacyTag('a=b'), 'InvalidTag');
    refused(() => parseLegacyTag(false), 'InvalidTag');
  });

  it('refuses duplicate keys, empty lists and more than 10 tags in one request', () => {
    refused(
      () =>
        checkKeyValueTags([
          { key: 'a', value: '1' },
          { key: 'a', value: '2' },
        ]),
      'InvalidTag',
    );
    refused(() => checkKeyValueTags([]), 'InvalidTag');
    refused(() => checkKeyValueTags({ key: 'a', value: '1' }), 'InvalidTag');
    const eleven = Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, value: '' }));
    const err = refused(() => checkKeyValueTags(eleven), 'TooManyTags', 400);
    expect(err.imsCode).toBe('IMG.0116');
  });

  it('takes tags or image_tags from create bodies, never both', () => {
    expect(tagsOfCreateBody({ tags: ['a.1', 'b'] })).toEqual([
      { key: 'a', value: '1' },
      { key: 'b', value: '' },
    ]);
    expect(tagsOfCreateBody({ image_tags: [{ key: 'a', value: '1' }] })).toEqual([{ key: 'a', value: '1' }]);
    expect(tagsOfCreateBody({})).toEqual([]);
    refused(() => tagsOfCreateBody({ tags: ['a.1'], image_tags: [{ key: 'b', value: '' }] }), 'InvalidTag');
  });

  it('sets keys: a present key takes the new value; at most 10 tags per image', () => {
    expect(withImsTags(['env=dev', 'x'], [{ key: 'env', value: 'prod' }]).sort()).toEqual(['env=prod', 'x']);
    const ten = Array.from({ length: 10 }, (_, i) => `k${i}=v`);
    expect(withImsTags(ten, [{ key: 'k3', value: 'w' }])).toHaveLength(10);
    refused(() => withImsTags(ten, [{ key: 'k10', value: 'v' }]), 'TooManyTags', 400);
    // An image with more Glance tags than IMS allows may still change what it has.
    const many = Array.from({ length: 20 }, (_, i) => `g${i}`);
    expect(withImsTags(many, [{ key: 'g1', value: 'x' }])).toHaveLength(20);
    refused(() => withImsTags(many, [{ key: 'new', value: 'x' }]), 'TooManyTags');
  });

  it('deletes by key, or by key and value; checks lengths only', () => {
    expect(checkTagSelectors([{ key: 'a b', value: '=' }, { key: 'k' }])).toEqual([
      { key: 'a b', value: '=' },
      { key: 'k' },
    ]);
    expect(selects({ key: 'env' }, 'env=prod')).toBe(true);
    expect(selects({ key: 'env', value: 'dev' }, 'env=prod')).toBe(false);
    expect(selects({ key: 'env', value: '' }, 'env')).toBe(true);
    refused(() => checkTagSelectors([{ key: 'k'.repeat(128) }]), 'InvalidTag');
    refused(() => checkTagSelectors([{ key: 'k', value: 'v'.repeat(256) }]), 'InvalidTag');
    refused(() => checkTagSelectors([{ key: 'k', value: 7 }]), 'InvalidTag');
    refused(() => checkTagSelectors([]), 'InvalidTag');
  });

  it("groups a project's tags by key", () => {
    expect(groupByKey(['a=2', 'a=1', 'b', 'a'])).toEqual([
      { key: 'a', values: ['', '1', '2'] },
      { key: 'b', values: [''] },
    ]);
  });
});

describe('Glance simple tags', () => {
  it("keep Glance's rules (any character, 255 long) but refuse =", () => {
    expect(checkGlanceTag('two words.v1')).toBe('two words.v1');
    expect(checkGlanceTag('x'.repeat(255))).toHaveLength(255);
    refused(() => checkGlanceTag('x'.repeat(256)), 'ValidationFailed');
    const err = refused(() => checkGlanceTag('env=prod'), 'InvalidTag');
    expect(err.status).toBe(400);
    refused(() => checkGlanceTag(''), 'ValidationFailed');
    refused(() => checkGlanceTag(5), 'ValidationFailed');
  });

  it('accept a key=value the image already has (clients send the whole list back)', () => {
    expect(checkGlanceTag('env=prod', ['env=prod'])).toBe('env=prod');
    expect(checkTags(['env=prod', 'new'], ['env=prod'])).toEqual(['env=prod', 'new']);
    refused(() => checkTags(['env=dev'], ['env=prod']), 'InvalidTag');
  });

  it('replace a key/value tag of the same key; 128 per image', () => {
    expect(withGlanceTag(['env=prod', 'x'], 'env').sort()).toEqual(['env', 'x']);
    expect(withGlanceTag(['x'], 'x')).toEqual(['x']);
    const full = Array.from({ length: 128 }, (_, i) => `t${i}`);
    refused(() => withGlanceTag(full, 'one-more'), 'TooManyTags');
    expect(withGlanceTag(full, 't5')).toHaveLength(128);
  });

  it('keep one tag per key in whole-list writes', () => {
    expect(dedupeByKey(['env=prod', 'env', 'a'])).toEqual(['env', 'a']);
  });
});

describe('resource_instances query', () => {
  it('reads every field, limit and offset as strings', () => {
    expect(
      parseResourceQuery({
        action: 'filter',
        tags: [{ key: 'env', values: ['prod', 'dev'] }],
        tags_any: [{ key: 'a', values: [] }],
        not_tags: [{ key: 'b', values: ['1'] }],
        not_tags_any: [{ key: 'c', values: [] }],
        matches: [{ key: 'resource_name', value: 'web' }],
        limit: '5',
        offset: '10',
      }),
    ).toEqual({
      action: 'filter',
      tags: [{ key: 'env', values: ['prod', 'dev'] }],
      tagsAny: [{ key: 'a', values: [] }],
      notTags: [{ key: 'b', values: ['1'] }],
      notTagsAny: [{ key: 'c', values: [] }],
      withoutAnyTag: false,
      matches: [{ key: 'resource_name', value: 'web' }],
      limit: 5,
      offset: 10,
    });
    expect(parseResourceQuery({ action: 'count' })).toMatchObject({ limit: 10, offset: 0 });
  });

  it.each([
    ['a numeric limit', { action: 'filter', limit: 5 }],
    ['limit 0', { action: 'filter', limit: '0' }],
    ['limit 1001', { action: 'filter', limit: '1001' }],
    ['a negative offset', { action: 'filter', offset: '-1' }],
    ['an unknown action', { action: 'Filter' }],
    ['no action', {}],
    ['tags not an array', { action: 'count', tags: { key: 'a', values: [] } }],
    ['values not an array', { action: 'count', tags: [{ key: 'a', values: 'x' }] }],
    ['a boolean value', { action: 'count', tags: [{ key: 'a', values: [true] }] }],
    [
      'a duplicate key',
      {
        action: 'count',
        tags: [
          { key: 'a', values: [] },
          { key: 'a', values: [] },
        ],
      },
    ],
    ['duplicate values', { action: 'count', tags: [{ key: 'a', values: ['x', 'x'] }] }],
    [
      '11 keys',
      { action: 'count', tags: Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, values: [] })) },
    ],
    [
      '11 values',
      { action: 'count', tags: [{ key: 'a', values: Array.from({ length: 11 }, (_, i) => `${i}`) }] },
    ],
    ['a key of 129', { action: 'count', tags: [{ key: 'k'.repeat(129), values: [] }] }],
    ['an unknown match key', { action: 'count', matches: [{ key: 'owner', value: 'x' }] }],
    ['without_any_tag as a string', { action: 'count', without_any_tag: 'true' }],
    ['an array body', [{ action: 'count' }]],
  ])('refuses %s', (_label, body) => {
    refused(() => parseResourceQuery(body), 'ValidationFailed', 400);
  });

  it('turns conditions into stored forms', () => {
    expect(storedFormsOf({ key: 'env', values: ['prod', ''] })).toEqual({
      exact: ['env=prod', 'env'],
      anyValueOf: null,
    });
    expect(storedFormsOf({ key: 'env', values: [] })).toEqual({ exact: [], anyValueOf: 'env' });
  });
});

describe('GET /v1/cloudimages/tags query', () => {
  it('maps image types and architecture, and pages the tags', () => {
    expect(tagListQuery({ __imagetype: 'gold', architecture: 'arm', limit: '2', page: '3' })).toEqual({
      images: { visibility: 'public', __support_arm: 'true' },
      page: { limit: 2, offset: 4 },
    });
    expect(tagListQuery({ __imagetype: 'market' })).toBeNull();
    expect(tagListQuery({ name: 'x' })).toEqual({ images: { name: 'x' }, page: { limit: null, offset: 0 } });
    refused(() => tagListQuery({ __imagetype: 'golden' }), 'ValidationFailed');
    expect(refused(() => tagListQuery({ architecture: 'mips' }), 'ValidationFailed').imsCode).toBe(
      'IMG.0212',
    );
    refused(() => tagListQuery({ limit: '0' }), 'ValidationFailed');
    refused(() => tagListQuery({ page: 'x' }), 'ValidationFailed');
  });
});
