import { describe, expect, it } from 'vitest';

import {
  imageSchema,
  imagesSchema,
  memberSchema,
  membersSchema,
  UUID_PATTERN,
} from '../../src/api/openstack/glance-schemas.ts';
import type { PropertySchema, SchemaDocument } from '../../src/api/openstack/glance-schemas.ts';
import { CONTAINER_FORMATS, DISK_FORMATS } from '../../src/domain/image-formats.ts';
import { IMAGE_STATUSES } from '../../src/domain/image-status.ts';
import { VISIBILITIES } from '../../src/domain/image.ts';

/** Attributes Glance's get_base_properties() defines (API v2.16). */
const GLANCE_BASE_PROPERTIES = [
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'owner',
  'size',
  'virtual_size',
  'container_format',
  'disk_format',
  'created_at',
  'updated_at',
  'tags',
  'direct_url',
  'min_ram',
  'min_disk',
  'self',
  'file',
  'stores',
  'schema',
  'locations',
];

/** Properties in Glance's default etc/schema-image.json. */
const GLANCE_COMMON_PROPERTIES = [
  'kernel_id',
  'ramdisk_id',
  'instance_uuid',
  'architecture',
  'os_distro',
  'os_version',
  'description',
  'cinder_encryption_key_id',
  'cinder_encryption_key_deletion_policy',
];

/** The base properties Glance marks `readOnly: true`. */
const GLANCE_READ_ONLY = [
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'direct_url',
  'self',
  'file',
  'stores',
  'schema',
];

function prop(doc: SchemaDocument, name: string): PropertySchema {
  const p = doc.properties[name];
  if (!p) throw new Error(`schema ${doc.name} has no property ${name}`);
  return p;
}

/**
 * Just enough JSON-schema checking (type, enum, pattern, maxLength) to see how a
 * client such as warlock would judge a value against one property.
 */
function accepts(schema: PropertySchema, value: unknown): boolean {
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = types.some((t) => {
      switch (t) {
        case 'null':
          return value === null;
        case 'string':
          return typeof value === 'string';
        case 'integer':
          return typeof value === 'number' && Number.isInteger(value);
        case 'number':
          return typeof value === 'number';
        case 'boolean':
          return typeof value === 'boolean';
        case 'array':
          return Array.isArray(value);
        case 'object':
          return typeof value === 'object' && value !== null && !Array.isArray(value);
      }
    });
    if (!ok) return false;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value as string | null)) return false;
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) return false;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return false;
  }
  return true;
}

describe('GET /v2/schemas/image', () => {
  const doc = imageSchema();

  it('has the top-level shape of a Glance permissive schema', () => {
    expect(Object.keys(doc).sort()).toEqual(['additionalProperties', 'links', 'name', 'properties']);
    expect(doc.name).toBe('image');
    expect(doc.additionalProperties).toEqual({ type: 'string' });
    expect(doc.links).toEqual([
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ]);
  });

  it('has exactly the base and common property set, in Glance order', () => {
    expect(Object.keys(doc.properties)).toEqual([...GLANCE_BASE_PROPERTIES, ...GLANCE_COMMON_PROPERTIES]);
  });

  it('flags schema-image.json properties (only those) with is_base: false', () => {
    for (const name of GLANCE_COMMON_PROPERTIES) expect(prop(doc, name).is_base, name).toBe(false);
    for (const name of GLANCE_BASE_PROPERTIES) expect(prop(doc, name).is_base, name).toBeUndefined();
  });

  it('marks read-only exactly the attributes Glance marks read-only', () => {
    const readOnly = Object.entries(doc.properties)
      .filter(([, p]) => p.readOnly === true)
      .map(([name]) => name);
    expect(readOnly.sort()).toEqual([...GLANCE_READ_ONLY].sort());
    for (const p of Object.values(doc.properties)) expect([undefined, true]).toContain(p.readOnly);
  });

  it('gives every property a description', () => {
    for (const [name, p] of Object.entries(doc.properties)) {
      expect(typeof p.description, name).toBe('string');
      expect(p.description!.length, name).toBeGreaterThan(0);
    }
  });

  it('uses the types and limits Glance declares', () => {
    expect(prop(doc, 'id')).toMatchObject({ type: 'string', pattern: UUID_PATTERN });
    expect(prop(doc, 'name')).toMatchObject({ type: ['null', 'string'], maxLength: 255 });
    expect(prop(doc, 'owner')).toMatchObject({ type: ['null', 'string'], maxLength: 255 });
    expect(prop(doc, 'checksum')).toMatchObject({ type: ['null', 'string'], maxLength: 32 });
    expect(prop(doc, 'os_hash_algo')).toMatchObject({ type: ['null', 'string'], maxLength: 64 });
    expect(prop(doc, 'os_hash_value')).toMatchObject({ type: ['null', 'string'], maxLength: 128 });
    expect(prop(doc, 'size').type).toEqual(['null', 'integer']);
    expect(prop(doc, 'virtual_size').type).toEqual(['null', 'integer']);
    expect(prop(doc, 'min_ram').type).toBe('integer');
    expect(prop(doc, 'min_disk').type).toBe('integer');
    expect(prop(doc, 'protected').type).toBe('boolean');
    expect(prop(doc, 'os_hidden').type).toBe('boolean');
    expect(prop(doc, 'tags')).toMatchObject({ type: 'array', items: { type: 'string', maxLength: 255 } });
    expect(prop(doc, 'created_at').type).toBe('string');
    expect(prop(doc, 'instance_uuid').type).toBe('string');
  });

  it('lists the statuses and visibilities Glance knows, and no others', () => {
    expect(prop(doc, 'status').enum).toEqual([
      'queued',
      'saving',
      'active',
      'killed',
      'deleted',
      'uploading',
      'importing',
      'pending_delete',
      'deactivated',
    ]);
    expect([...(prop(doc, 'status').enum ?? [])].sort()).toEqual([...IMAGE_STATUSES].sort());
    expect(prop(doc, 'visibility').enum).toEqual(['community', 'public', 'private', 'shared']);
    expect([...(prop(doc, 'visibility').enum ?? [])].sort()).toEqual([...VISIBILITIES].sort());
  });

  it('allows null plus the configured formats for disk_format and container_format', () => {
    expect(prop(doc, 'disk_format')).toMatchObject({
      type: ['null', 'string'],
      enum: [null, ...DISK_FORMATS],
    });
    expect(prop(doc, 'container_format')).toMatchObject({
      type: ['null', 'string'],
      enum: [null, ...CONTAINER_FORMATS],
    });
    for (const f of ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']) {
      expect(DISK_FORMATS).toContain(f);
    }
    for (const f of ['zvhd', 'zvhd2', 'qed']) expect(DISK_FORMATS).toContain(f);
    expect([...CONTAINER_FORMATS]).toEqual([
      'ami',
      'ari',
      'aki',
      'bare',
      'ovf',
      'ova',
      'docker',
      'compressed',
    ]);
    expect(accepts(prop(doc, 'disk_format'), 'qcow2')).toBe(true);
    expect(accepts(prop(doc, 'disk_format'), null)).toBe(true);
    expect(accepts(prop(doc, 'disk_format'), 'qcow3')).toBe(false);
    expect(accepts(prop(doc, 'container_format'), 'bare')).toBe(true);
    expect(accepts(prop(doc, 'container_format'), 'tar')).toBe(false);
  });

  it('honours operator-restricted format lists', () => {
    const narrow = imageSchema({ diskFormats: ['raw', 'qcow2'], containerFormats: ['bare'] });
    expect(prop(narrow, 'disk_format').enum).toEqual([null, 'raw', 'qcow2']);
    expect(prop(narrow, 'container_format').enum).toEqual([null, 'bare']);
  });

  it('kernel_id and ramdisk_id take a UUID or null, nothing else', () => {
    for (const name of ['kernel_id', 'ramdisk_id']) {
      const p = prop(doc, name);
      expect(p.type).toEqual(['null', 'string']);
      expect(p.pattern).toBe(UUID_PATTERN);
      expect(accepts(p, null)).toBe(true);
      expect(accepts(p, '0b5dc1b0-7f4e-4c7a-9d2e-3a1f6c8e9b10')).toBe(true);
      expect(accepts(p, '0B5DC1B0-7F4E-4C7A-9D2E-3A1F6C8E9B10')).toBe(true);
      expect(accepts(p, 'not-a-uuid')).toBe(false);
      expect(accepts(p, '0b5dc1b07f4e4c7a9d2e3a1f6c8e9b10')).toBe(false);
      expect(accepts(p, ' 0b5dc1b0-7f4e-4c7a-9d2e-3a1f6c8e9b10')).toBe(false);
      expect(accepts(p, '0b5dc1b0-7f4e-4c7a-9d2e-3a1f6c8e9b10x')).toBe(false);
      expect(accepts(p, 42)).toBe(false);
    }
    const re = new RegExp(UUID_PATTERN);
    expect(re.test('a7b3c9d1-0000-4fff-8aaa-123456789abc')).toBe(true);
    expect(re.test('g7b3c9d1-0000-4fff-8aaa-123456789abc')).toBe(false);
  });

  it('validates like a client would on image-update', () => {
    expect(accepts(prop(doc, 'name'), null)).toBe(true);
    expect(accepts(prop(doc, 'name'), 'x'.repeat(255))).toBe(true);
    expect(accepts(prop(doc, 'name'), 'x'.repeat(256))).toBe(false);
    expect(accepts(prop(doc, 'min_ram'), 512)).toBe(true);
    expect(accepts(prop(doc, 'min_ram'), '512')).toBe(false);
    expect(accepts(prop(doc, 'min_disk'), 1.5)).toBe(false);
    expect(accepts(prop(doc, 'visibility'), 'shared')).toBe(true);
    expect(accepts(prop(doc, 'visibility'), 'everyone')).toBe(false);
    expect(accepts(prop(doc, 'cinder_encryption_key_deletion_policy'), 'do_not_delete')).toBe(true);
    expect(accepts(prop(doc, 'cinder_encryption_key_deletion_policy'), 'later')).toBe(false);
    expect(accepts(doc.additionalProperties as PropertySchema, 'any custom value')).toBe(true);
    expect(accepts(doc.additionalProperties as PropertySchema, 3)).toBe(false);
  });

  it('describes locations with url/metadata and write-only validation_data', () => {
    const locations = prop(doc, 'locations');
    expect(locations.type).toBe('array');
    const item = locations.items as PropertySchema;
    expect(item.type).toBe('object');
    expect(item.required).toEqual(['url', 'metadata']);
    expect(item.properties?.url).toEqual({ type: 'string', maxLength: 255 });
    expect(item.properties?.metadata).toEqual({ type: 'object' });
    expect(item.properties?.validation_data).toMatchObject({
      type: 'object',
      writeOnly: true,
      additionalProperties: false,
      required: ['os_hash_algo', 'os_hash_value'],
      properties: {
        checksum: { type: 'string', minLength: 32, maxLength: 32 },
        os_hash_algo: { type: 'string', maxLength: 64 },
        os_hash_value: { type: 'string', maxLength: 128 },
      },
    });
  });
});

describe('GET /v2/schemas/images', () => {
  const doc = imagesSchema();

  it('wraps the image schema with images/first/next/schema and the collection links', () => {
    expect(Object.keys(doc).sort()).toEqual(['links', 'name', 'properties']);
    expect(doc.name).toBe('images');
    expect(Object.keys(doc.properties)).toEqual(['images', 'first', 'next', 'schema']);
    expect(prop(doc, 'images')).toEqual({ type: 'array', items: imageSchema() });
    expect(prop(doc, 'first')).toEqual({ type: 'string' });
    expect(prop(doc, 'next')).toEqual({ type: 'string' });
    expect(prop(doc, 'schema')).toEqual({ type: 'string' });
    expect(doc.links).toEqual([
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ]);
  });
});

describe('GET /v2/schemas/member and /v2/schemas/members', () => {
  it('member has Glance’s minimal shape and fields', () => {
    const doc = memberSchema();
    expect(Object.keys(doc).sort()).toEqual(['name', 'properties']);
    expect(doc.name).toBe('member');
    expect(Object.keys(doc.properties).sort()).toEqual([
      'created_at',
      'image_id',
      'member_id',
      'schema',
      'status',
      'updated_at',
    ]);
    expect(prop(doc, 'status')).toMatchObject({ type: 'string', enum: ['pending', 'accepted', 'rejected'] });
    expect(prop(doc, 'image_id')).toMatchObject({ type: 'string', pattern: UUID_PATTERN });
    expect(prop(doc, 'member_id').type).toBe('string');
    expect(prop(doc, 'created_at').type).toBe('string');
    expect(prop(doc, 'updated_at').type).toBe('string');
    expect(prop(doc, 'schema')).toEqual({ readOnly: true, type: 'string' });
    const readOnly = Object.entries(doc.properties).filter(([, p]) => p.readOnly === true);
    expect(readOnly.map(([n]) => n)).toEqual(['schema']);
  });

  it('members wraps the member schema with a describedby link only', () => {
    const doc = membersSchema();
    expect(Object.keys(doc).sort()).toEqual(['links', 'name', 'properties']);
    expect(doc.name).toBe('members');
    expect(Object.keys(doc.properties)).toEqual(['members', 'schema']);
    expect(prop(doc, 'members')).toEqual({ type: 'array', items: memberSchema() });
    expect(prop(doc, 'schema')).toEqual({ type: 'string' });
    expect(doc.links).toEqual([{ rel: 'describedby', href: '{schema}' }]);
  });
});

describe('all schema documents', () => {
  const builders = { imageSchema, imagesSchema, memberSchema, membersSchema } as const;

  for (const [name, build] of Object.entries(builders)) {
    it(`${name}() is plain JSON and stable across calls`, () => {
      const a = build();
      const b = build();
      expect(a).toEqual(b);
      expect(JSON.parse(JSON.stringify(a))).toEqual(a);
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    });

    it(`${name}() returns a fresh object each call`, () => {
      const a = build();
      const b = build();
      expect(a).not.toBe(b);
      a.properties['injected'] = { type: 'string' };
      a.links?.push({ rel: 'x', href: 'y' });
      expect(build()).toEqual(b);
    });
  }

  it('nested documents are not shared between calls', () => {
    const a = imagesSchema();
    const items = prop(a, 'images').items as SchemaDocument;
    items.properties['injected'] = { type: 'string' };
    prop(items, 'status').enum?.push('bogus');
    expect(imagesSchema()).toEqual(imagesSchema());
    expect(prop(imageSchema(), 'status').enum).not.toContain('bogus');
    const disk = prop(imageSchema(), 'disk_format').enum;
    disk?.push('bogus');
    expect(DISK_FORMATS).not.toContain('bogus');
  });
});
