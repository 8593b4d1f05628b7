import { describe, expect, it } from 'vitest';

import {
  applyPatch,
  assertTagCount,
  checkTag,
  fieldsForNewImage,
  fieldsOf,
  normalizeUuid,
  parsePatch,
} from '../../src/domain/image-rules.ts';
import type { PatchOp } from '../../src/domain/image-rules.ts';
import { IMAGE_LIMITS } from '../../src/domain/image.ts';
import type { ImageStatus } from '../../src/domain/image-status.ts';
import { expectDomainError, makeContext, makeImage, withRoles } from '../helpers/domain.ts';

const member = makeContext();
const admin = withRoles('p-admin', 'admin');
const UUID = '0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b';

const create = (body: unknown) => fieldsForNewImage(member, body);
/** Requires fieldsForNewImage to fail with 400 and returns the message. */
const badCreate = (body: unknown) => expectDomainError(() => create(body), 'ValidationFailed', 400).message;

const manyProperties = (n: number): Record<string, string> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, 'v']));
const manyTags = (n: number): string[] => Array.from({ length: n }, (_, i) => `t${i}`);

describe('fieldsForNewImage: defaults and id', () => {
  it("gives Glance's defaults, owned by the caller's project and shared", () => {
    expect(create({})).toEqual({
      name: null,
      visibility: 'shared',
      owner: 'p-1',
      protected: false,
      osHidden: false,
      containerFormat: null,
      diskFormat: null,
      minDisk: 0,
      minRam: 0,
      tags: [],
      properties: {},
      enterpriseProjectId: '0',
    });
  });

  it('takes every settable attribute', () => {
    expect(
      create({
        name: 'cirros',
        visibility: 'private',
        protected: true,
        os_hidden: true,
        container_format: 'bare',
        disk_format: 'qcow2',
        min_disk: 1,
        min_ram: 512,
        tags: ['a'],
        os_distro: 'cirros',
        __os_version: 'CirrOS 0.6',
      }),
    ).toEqual({
      name: 'cirros',
      visibility: 'private',
      owner: 'p-1',
      protected: true,
      osHidden: true,
      containerFormat: 'bare',
      diskFormat: 'qcow2',
      minDisk: 1,
      minRam: 512,
      tags: ['a'],
      properties: { os_distro: 'cirros', __os_version: 'CirrOS 0.6' },
      enterpriseProjectId: '0',
    });
  });

  it('lets the client choose the id, normalised to lower case', () => {
    expect(create({ id: UUID }).id).toBe(UUID);
    expect(create({ id: UUID.toUpperCase() }).id).toBe(UUID);
  });

  it.each([
    ['not a uuid', 'x'],
    ['without dashes', UUID.replace(/-/g, '')],
    ['too short', UUID.slice(0, -1)],
    ['a number', 42],
    ['null', null],
  ])('refuses an id that is %s', (_why, id) => {
    expect(badCreate({ id })).toBe("Invalid value for 'id': must be a UUID");
  });

  it.each([null, [], 'name', 3])('refuses a body that is not an object: %j', (body) => {
    expect(badCreate(body)).toBe('The request body must be a JSON object');
  });

  it('normalizeUuid lower-cases and puts the dashes in place', () => {
    expect(normalizeUuid('0F9E8D7C6B5A44938271605F4E3D2C1B')).toBe(UUID);
    expect(normalizeUuid(UUID.toUpperCase())).toBe(UUID);
  });
});

describe('fieldsForNewImage: read-only and reserved attributes', () => {
  it.each([
    'status',
    'size',
    'virtual_size',
    'checksum',
    'os_hash_algo',
    'os_hash_value',
    'created_at',
    'updated_at',
    'direct_url',
    'self',
    'file',
    'schema',
    'stores',
  ])('refuses read-only %s with a 403', (name) => {
    const err = expectDomainError(() => create({ [name]: 'x' }), 'ReadOnlyProperty', 403);
    expect(err.message).toBe(`Attribute '${name}' is read-only.`);
  });

  it.each(['__imagetype', '__isregistered', '__image_source_type', '__system__cmkid'])(
    'refuses service-set IMS property %s with a 403',
    (name) => {
      const err = expectDomainError(() => create({ [name]: 'gold' }), 'ReadOnlyProperty', 403);
      expect(err.message).toBe(`Attribute '${name}' is read-only.`);
    },
  );

  it.each(['location', 'locations', 'deleted', 'deleted_at', 'os_glance_import_task', 'os_glance_anything'])(
    'refuses reserved %s with a 403',
    (name) => {
      const err = expectDomainError(() => create({ [name]: 'x' }), 'ReservedProperty', 403);
      expect(err.message).toBe(`Attribute '${name}' is reserved.`);
    },
  );

  it('keeps other double-underscore properties as user data', () => {
    expect(create({ __support_kvm: 'true' }).properties).toEqual({ __support_kvm: 'true' });
  });

  it.each(['__platform', '__os_type', '__os_bit'])(
    'refuses %s, derived from __os_version, with a 403',
    (name) => {
      expectDomainError(() => create({ [name]: 'x' }), 'ReadOnlyProperty', 403);
    },
  );
});

describe('fieldsForNewImage: types and bounds', () => {
  it.each([
    ['name', 5],
    ['name', 'n'.repeat(256)],
    ['visibility', 'everyone'],
    ['visibility', null],
    ['protected', 'true'],
    ['os_hidden', 1],
    ['container_format', 'tar'],
    ['disk_format', 'qcow3'],
    ['disk_format', 7],
    ['owner', 12],
    ['min_disk', '10'],
    ['min_disk', -1],
    ['min_disk', 1.5],
    ['min_ram', 2 ** 31],
    ['min_ram', null],
    ['tags', 'a,b'],
    ['tags', ['']],
    ['tags', [1]],
    ['tags', ['t'.repeat(256)]],
  ])('refuses %s = %j with a 400 naming the field', (field, value) => {
    expect(badCreate({ [field]: value })).toMatch(new RegExp(`^Invalid value for '${field}': `));
  });

  it('accepts the bounds and nulls Glance accepts', () => {
    const f = create({
      name: 'n'.repeat(255),
      min_disk: 0,
      min_ram: 2 ** 31 - 1,
      container_format: null,
      disk_format: null,
    });
    expect(f.name).toHaveLength(255);
    expect(f.minRam).toBe(2 ** 31 - 1);
    expect(create({ name: null }).name).toBeNull();
  });

  it('counts name length in characters, not UTF-16 units', () => {
    expect(create({ name: '😀'.repeat(255) }).name).toBe('😀'.repeat(255));
    expect(badCreate({ name: '😀'.repeat(256) })).toContain('at most 255 characters');
  });

  it.each(['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'])(
    'accepts container_format %s',
    (v) => {
      expect(create({ container_format: v }).containerFormat).toBe(v);
    },
  );

  it.each([
    'ami',
    'ari',
    'aki',
    'vhd',
    'vhdx',
    'vmdk',
    'raw',
    'qcow2',
    'vdi',
    'iso',
    'ploop',
    'qed',
    'zvhd',
    'zvhd2',
  ])('accepts disk_format %s', (v) => {
    expect(create({ disk_format: v }).diskFormat).toBe(v);
  });

  it('keeps custom properties as strings only, named in errors', () => {
    expect(badCreate({ os_distro: 7 })).toBe("Invalid value for 'os_distro': must be a string");
    expect(badCreate({ os_distro: null })).toBe("Invalid value for 'os_distro': must be a string");
    expect(badCreate({ big: 'x'.repeat(65536) })).toBe(
      "Invalid value for 'big': must be at most 65535 characters",
    );
    expect(create({ big: 'x'.repeat(65535) }).properties.big).toHaveLength(65535);
    expect(badCreate({ ['k'.repeat(256)]: 'v' })).toContain('property names are 1 to 255 characters');
    expect(badCreate({ '': 'v' })).toContain('property names are 1 to 255 characters');
  });

  it('checks kernel_id and ramdisk_id are image ids', () => {
    expect(create({ kernel_id: UUID, ramdisk_id: UUID.toUpperCase() }).properties).toEqual({
      kernel_id: UUID,
      ramdisk_id: UUID.toUpperCase(),
    });
    expect(badCreate({ kernel_id: 'vmlinuz' })).toBe(
      "Invalid value for 'kernel_id': must be an image id (UUID)",
    );
    expect(badCreate({ ramdisk_id: UUID.replace(/-/g, '') })).toBe(
      "Invalid value for 'ramdisk_id': must be an image id (UUID)",
    );
    expect(create({ kernel_id: null }).properties).toEqual({});
  });
});

describe('fieldsForNewImage: tags', () => {
  it('drops duplicate tags, keeping first-seen order', () => {
    expect(create({ tags: ['b', 'a', 'b', 'a'] }).tags).toEqual(['b', 'a']);
  });

  it('takes 128 tags and refuses 129 with a 413', () => {
    expect(create({ tags: manyTags(128) }).tags).toHaveLength(128);
    const err = expectDomainError(() => create({ tags: manyTags(129) }), 'TooManyTags', 413);
    expect(err.message).toContain('at most 128');
  });

  it('counts tags after removing duplicates', () => {
    expect(create({ tags: [...manyTags(128), 't0', 't1'] }).tags).toHaveLength(128);
  });

  it('checkTag and assertTagCount enforce the same limits', () => {
    expect(checkTag('x'.repeat(255))).toHaveLength(255);
    expect(expectDomainError(() => checkTag(''), 'ValidationFailed', 400).message).toContain("'tags'");
    expect(() => assertTagCount(IMAGE_LIMITS.maxTags)).not.toThrow();
    expectDomainError(() => assertTagCount(IMAGE_LIMITS.maxTags + 1), 'TooManyTags', 413);
  });
});

describe('fieldsForNewImage: visibility, owner and property count', () => {
  it('lets only admins create public images', () => {
    const err = expectDomainError(() => create({ visibility: 'public' }), 'Forbidden', 403);
    expect(err.message).toBe('Only administrators may make an image public');
    expect(fieldsForNewImage(admin, { visibility: 'public' }).visibility).toBe('public');
  });

  it.each(['private', 'shared', 'community'] as const)('lets a member create %s images', (visibility) => {
    expect(create({ visibility }).visibility).toBe(visibility);
  });

  it("lets only admins set an owner other than the caller's project", () => {
    expect(create({ owner: 'p-1' }).owner).toBe('p-1');
    const err = expectDomainError(() => create({ owner: 'p-2' }), 'Forbidden', 403);
    expect(err.message).toContain("owned by 'p-2'");
    expect(fieldsForNewImage(admin, { owner: 'p-2' }).owner).toBe('p-2');
    expect(fieldsForNewImage(admin, {}).owner).toBe('p-admin');
  });

  it('takes 128 custom properties and refuses 129 with a 413', () => {
    expect(Object.keys(create(manyProperties(128)).properties)).toHaveLength(128);
    const err = expectDomainError(() => create(manyProperties(129)), 'QuotaExceeded', 413);
    expect(err.message).toContain('at most 128');
  });
});

describe('parsePatch', () => {
  it('reads add, replace and remove operations', () => {
    expect(
      parsePatch([
        { op: 'add', path: '/name', value: 'n' },
        { op: 'replace', path: '/min_ram', value: 1 },
        { op: 'remove', path: '/os_distro' },
      ]),
    ).toEqual([
      { op: 'add', path: 'name', value: 'n' },
      { op: 'replace', path: 'min_ram', value: 1 },
      { op: 'remove', path: 'os_distro' },
    ]);
  });

  it('keeps a null value and drops the value of remove', () => {
    expect(parsePatch([{ op: 'replace', path: '/name', value: null }])).toEqual([
      { op: 'replace', path: 'name', value: null },
    ]);
    expect(parsePatch([{ op: 'remove', path: '/x', value: 1 }])).toEqual([{ op: 'remove', path: 'x' }]);
  });

  it('decodes ~1 and ~0 escapes in paths', () => {
    expect(parsePatch([{ op: 'add', path: '/a~1b', value: 'v' }])[0]!.path).toBe('a/b');
    expect(parsePatch([{ op: 'add', path: '/a~0b', value: 'v' }])[0]!.path).toBe('a~b');
    expect(parsePatch([{ op: 'add', path: '/a~01', value: 'v' }])[0]!.path).toBe('a~1');
  });

  it('accepts an empty document', () => {
    expect(parsePatch([])).toEqual([]);
  });

  it.each([{}, null, 'add', { op: 'add', path: '/name', value: 'x' }])(
    'refuses a document that is not an array: %j',
    (body) => {
      expect(expectDomainError(() => parsePatch(body), 'ValidationFailed', 400).message).toBe(
        'A JSON-patch document must be an array of operations',
      );
    },
  );

  it('refuses operations that are not objects', () => {
    expect(expectDomainError(() => parsePatch(['add']), 'ValidationFailed', 400).message).toBe(
      'Operation 0 must be an object',
    );
    expect(expectDomainError(() => parsePatch([null]), 'ValidationFailed', 400).message).toBe(
      'Operation 0 must be an object',
    );
  });

  it.each([undefined, 'move', 'copy', 'test', 'ADD', 1])('refuses op %j', (op) => {
    const err = expectDomainError(
      () => parsePatch([{ op, path: '/name', value: 'x' }]),
      'ValidationFailed',
      400,
    );
    expect(err.message).toBe('Operation 0: "op" must be one of add, replace, remove');
  });

  it.each([undefined, '', 'name', '/', '/a/b', '//a', '/a/', 5])('refuses path %j', (path) => {
    const err = expectDomainError(
      () => parsePatch([{ op: 'add', path, value: 'x' }]),
      'ValidationFailed',
      400,
    );
    expect(err.message).toContain('"path" must be a JSON pointer to one attribute');
  });

  it('requires a value for add and replace, naming the operation', () => {
    const ok = { op: 'add', path: '/a', value: 1 };
    expect(
      expectDomainError(() => parsePatch([ok, { op: 'add', path: '/name' }]), 'ValidationFailed', 400)
        .message,
    ).toBe('Operation 1: "value" is required for add');
    expect(
      expectDomainError(() => parsePatch([{ op: 'replace', path: '/name' }]), 'ValidationFailed', 400)
        .message,
    ).toBe('Operation 0: "value" is required for replace');
  });
});

describe('applyPatch', () => {
  const image = makeImage({ properties: { os_distro: 'cirros' }, tags: ['a'] });
  const patch = (ops: PatchOp[], img = image, ctx = member) => applyPatch(ctx, img, ops);

  it('returns the fields unchanged for an empty patch, without touching the image', () => {
    const before = structuredClone(image);
    expect(patch([])).toEqual(fieldsOf(image));
    const f = patch([{ op: 'add', path: 'extra', value: 'v' }]);
    f.tags.push('mutated');
    expect(image).toEqual(before);
  });

  it('adds a new custom property', () => {
    expect(patch([{ op: 'add', path: 'hw_disk_bus', value: 'scsi' }]).properties).toEqual({
      os_distro: 'cirros',
      hw_disk_bus: 'scsi',
    });
  });

  it('replaces an existing custom property on add (Glance, media type v2.1)', () => {
    expect(patch([{ op: 'add', path: 'os_distro', value: 'ubuntu' }]).properties).toEqual({
      os_distro: 'ubuntu',
    });
  });

  it('replaces an existing custom property', () => {
    expect(patch([{ op: 'replace', path: 'os_distro', value: 'ubuntu' }]).properties).toEqual({
      os_distro: 'ubuntu',
    });
  });

  it('refuses to replace a missing custom property with a 409', () => {
    const err = expectDomainError(
      () => patch([{ op: 'replace', path: 'missing', value: 'x' }]),
      'Conflict',
      409,
    );
    expect(err.message).toBe('Property missing does not exist.');
  });

  it('removes an existing custom property', () => {
    expect(patch([{ op: 'remove', path: 'os_distro' }]).properties).toEqual({});
  });

  it('refuses to remove a missing custom property with a 409', () => {
    const err = expectDomainError(() => patch([{ op: 'remove', path: 'missing' }]), 'Conflict', 409);
    expect(err.message).toBe('Property missing does not exist.');
  });

  it.each(['name', 'visibility', 'tags', 'min_disk', 'disk_format', 'protected', 'owner'])(
    'refuses to remove base attribute %s with a 403',
    (path) => {
      const err = expectDomainError(() => patch([{ op: 'remove', path }]), 'Forbidden', 403);
      expect(err.message).toBe(`Property ${path} may not be removed.`);
    },
  );

  it('refuses read-only and reserved attributes in every operation', () => {
    for (const op of ['add', 'replace', 'remove'] as const) {
      const change = (path: string): PatchOp => (op === 'remove' ? { op, path } : { op, path, value: 'x' });
      expect(expectDomainError(() => patch([change('status')]), 'ReadOnlyProperty', 403).message).toBe(
        "Attribute 'status' is read-only.",
      );
      expectDomainError(() => patch([change('id')]), 'ReadOnlyProperty', 403);
      expectDomainError(() => patch([change('checksum')]), 'ReadOnlyProperty', 403);
      expectDomainError(() => patch([change('__imagetype')]), 'ReadOnlyProperty', 403);
      expect(expectDomainError(() => patch([change('location')]), 'ReservedProperty', 403).message).toBe(
        "Attribute 'location' is reserved.",
      );
      expectDomainError(() => patch([change('deleted')]), 'ReservedProperty', 403);
      expectDomainError(() => patch([change('os_glance_import_task')]), 'ReservedProperty', 403);
    }
  });

  it('treats add on a base attribute as replace', () => {
    const f = patch([
      { op: 'add', path: 'name', value: 'renamed' },
      { op: 'add', path: 'min_ram', value: 1024 },
      { op: 'add', path: 'protected', value: true },
      { op: 'add', path: 'os_hidden', value: true },
    ]);
    expect(f).toMatchObject({ name: 'renamed', minRam: 1024, protected: true, osHidden: true });
  });

  it('replaces tags, dropping duplicates, and refuses too many with a 413', () => {
    expect(patch([{ op: 'replace', path: 'tags', value: ['x', 'y', 'x'] }]).tags).toEqual(['x', 'y']);
    expectDomainError(
      () => patch([{ op: 'replace', path: 'tags', value: manyTags(129) }]),
      'TooManyTags',
      413,
    );
  });

  it('checks types on patch as on create, naming the field', () => {
    expect(
      expectDomainError(
        () => patch([{ op: 'replace', path: 'min_disk', value: 'ten' }]),
        'ValidationFailed',
        400,
      ).message,
    ).toMatch(/^Invalid value for 'min_disk'/);
    expect(
      expectDomainError(
        () => patch([{ op: 'add', path: 'kernel_id', value: 'vmlinuz' }]),
        'ValidationFailed',
        400,
      ).message,
    ).toBe("Invalid value for 'kernel_id': must be an image id (UUID)");
    expectDomainError(() => patch([{ op: 'add', path: 'os_distro', value: 3 }]), 'ValidationFailed', 400);
    expectDomainError(
      () => patch([{ op: 'replace', path: 'visibility', value: 'everyone' }]),
      'ValidationFailed',
      400,
    );
  });

  it('applies operations in order', () => {
    expect(
      patch([
        { op: 'add', path: 'a', value: '1' },
        { op: 'replace', path: 'a', value: '2' },
        { op: 'add', path: 'b', value: '3' },
        { op: 'remove', path: 'a' },
      ]).properties,
    ).toEqual({ os_distro: 'cirros', b: '3' });
  });

  it('uses ~1-escaped names end to end', () => {
    const ops = parsePatch([{ op: 'add', path: '/vendor~1release', value: '24.04' }]);
    expect(patch(ops).properties).toEqual({ os_distro: 'cirros', 'vendor/release': '24.04' });
  });

  describe('disk_format and container_format', () => {
    const withStatus = (status: ImageStatus) =>
      makeImage({ status, diskFormat: 'qcow2', containerFormat: 'bare' });

    it.each(['queued', 'importing'] as const)('change while the image is %s', (status) => {
      expect(
        patch(
          [
            { op: 'replace', path: 'disk_format', value: 'raw' },
            { op: 'replace', path: 'container_format', value: 'ova' },
          ],
          withStatus(status),
        ),
      ).toMatchObject({ diskFormat: 'raw', containerFormat: 'ova' });
    });

    it.each(['active', 'saving', 'uploading', 'deactivated', 'killed'] as const)(
      'are fixed once the image is %s',
      (status) => {
        const err = expectDomainError(
          () => patch([{ op: 'replace', path: 'disk_format', value: 'raw' }], withStatus(status)),
          'Forbidden',
          403,
        );
        expect(err.message).toBe('Attribute disk_format can be only replaced for a queued image.');
        expect(
          expectDomainError(
            () => patch([{ op: 'add', path: 'container_format', value: 'ova' }], withStatus(status)),
            'Forbidden',
            403,
          ).message,
        ).toBe('Attribute container_format can be only replaced for a queued image.');
      },
    );

    it('let an active image be patched with the values it already has', () => {
      expect(
        patch([{ op: 'replace', path: 'disk_format', value: 'qcow2' }], withStatus('active')).diskFormat,
      ).toBe('qcow2');
    });
  });

  describe('limits and permissions', () => {
    it('refuses a 129th custom property with a 413, but allows replacing at 128', () => {
      const full = makeImage({ properties: manyProperties(128) });
      expect(patch([{ op: 'replace', path: 'p0', value: 'w' }], full).properties.p0).toBe('w');
      const err = expectDomainError(
        () => patch([{ op: 'add', path: 'one_more', value: 'v' }], full),
        'QuotaExceeded',
        413,
      );
      expect(err.message).toContain('at most 128');
      expect(
        Object.keys(
          patch(
            [
              { op: 'remove', path: 'p0' },
              { op: 'add', path: 'one_more', value: 'v' },
            ],
            full,
          ).properties,
        ),
      ).toHaveLength(128);
    });

    it('lets only admins make an image public', () => {
      expectDomainError(
        () => patch([{ op: 'replace', path: 'visibility', value: 'public' }]),
        'Forbidden',
        403,
      );
      expect(patch([{ op: 'replace', path: 'visibility', value: 'public' }], image, admin).visibility).toBe(
        'public',
      );
      expect(patch([{ op: 'replace', path: 'visibility', value: 'community' }]).visibility).toBe('community');
    });

    it('does not re-check visibility that a patch leaves alone', () => {
      const published = makeImage({ visibility: 'public' });
      expect(patch([{ op: 'replace', path: 'name', value: 'x' }], published).visibility).toBe('public');
    });

    it('lets only admins move an image to another owner', () => {
      const err = expectDomainError(
        () => patch([{ op: 'replace', path: 'owner', value: 'p-2' }]),
        'Forbidden',
        403,
      );
      expect(err.message).toContain("owned by 'p-2'");
      expect(patch([{ op: 'replace', path: 'owner', value: 'p-2' }], image, admin).owner).toBe('p-2');
    });
  });
});
