import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.ts';
import {
  assertBucketUsable,
  declaredFormatOf,
  fileImageFields,
  parseExportRequest,
  parseFileImageRequest,
  parseObjectAddress,
} from '../../src/domain/object-files.ts';

/** The IMS code a call fails with. */
function codeOf(call: () => unknown): string {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return (err as DomainError).imsCode;
  }
  throw new Error('expected a DomainError');
}

describe('object addresses', () => {
  it('splits at the first colon; the object keeps later colons and slashes', () => {
    expect(parseObjectAddress('image_url', 'my-bucket:dir/a:b.qcow2')).toEqual({
      bucket: 'my-bucket',
      key: 'dir/a:b.qcow2',
    });
  });

  it.each([
    ['no-colon', 'IMG.0017'],
    [':key', 'IMG.0068'],
    ['UPPER:key', 'IMG.0109'],
    ['a:key', 'IMG.0109'],
    ['bad..dots:key', 'IMG.0109'],
    ['-dash:key', 'IMG.0109'],
    ['bucket:', 'IMG.0073'],
    [`bucket:${'x'.repeat(1025)}`, 'IMG.0074'],
    ['bucket:a\nb', 'IMG.0075'],
    ['bucket:/abs', 'IMG.0075'],
  ])('refuses %j with %s', (value, code) => {
    expect(codeOf(() => parseObjectAddress('image_url', value))).toBe(code);
  });

  it.each([true, 7, null, undefined, ['b:k'], { bucket: 'b' }])('refuses %j: not a string', (value) => {
    expect(codeOf(() => parseObjectAddress('image_url', value))).toBe('IMG.0001');
  });
});

describe('declared formats', () => {
  it.each([
    ['a.QCOW2', 'qcow2'],
    ['d/x.img', 'raw'],
    ['x.iso', 'iso'],
    ['x.zvhd2', 'zvhd2'],
  ])('%s is %s', (key, format) => {
    expect(declaredFormatOf(key)).toBe(format);
  });

  it.each(['noext', 'x.exe', 'x.qcow2.gz', 'x.'])('%s names no supported format', (key) => {
    expect(codeOf(() => declaredFormatOf(key))).toBe('IMG.0057');
  });
});

describe('file image requests', () => {
  const base = { name: 'n', image_url: 'bucket:disk.qcow2', min_disk: 40 };
  it('reads the system shape with IMS defaults', () => {
    const req = parseFileImageRequest('system', base);
    expect(req).toMatchObject({
      virtualEnvType: 'FusionCompute',
      diskFormat: 'qcow2',
      architecture: 'x86',
      firmware: null,
      quick: false,
      enterpriseProjectId: '0',
    });
    expect(parseFileImageRequest('system', { ...base, architecture: 'arm' }).firmware).toBe('uefi');
    expect(parseFileImageRequest('data', base).virtualEnvType).toBe('DataImage');
  });

  it('data_images become data-disk requests in the enterprise project of the request', () => {
    const disk = { name: 'd', image_url: 'bucket:d.qcow2', min_disk: 2048, tags: ['k.v'] };
    const req = parseFileImageRequest('system', {
      ...base,
      enterprise_project_id: '0',
      data_images: [disk, { ...disk, name: 'e', is_quick_import: true, image_url: 'bucket:e.raw' }],
    });
    expect(req.dataImages.map((d) => [d.name, d.virtualEnvType, d.diskFormat, d.minDisk, d.quick])).toEqual([
      ['d', 'DataImage', 'qcow2', 2048, false],
      ['e', 'DataImage', 'raw', 2048, true],
    ]);
    expect(req.dataImages[0]!.tags).toEqual([{ key: 'k', value: 'v' }]);
    expect(req.dataImages[0]!.dataImages).toEqual([]);
    expect(codeOf(() => parseFileImageRequest('data', { ...base, data_images: [disk] }))).toBe('IMG.0001');
    expect(
      codeOf(() =>
        parseFileImageRequest('quick', {
          ...base,
          image_url: 'bucket:x.raw',
          os_version: 'o',
          data_images: [disk],
        }),
      ),
    ).toBe('IMG.0001');
  });

  it('a data disk keeps its os_type; with an OS version the catalogue decides it', () => {
    const disk = parseFileImageRequest('data', { ...base, type: 'DataImage', os_type: 'Windows' });
    expect(fileImageFields(disk, 'p').properties).toMatchObject({
      virtual_env_type: 'DataImage',
      __os_type: 'Windows',
    });
    const system = parseFileImageRequest('system', { ...base, os_version: 'v', os_type: 'Windows' });
    expect(fileImageFields(system, 'p').properties).toMatchObject({ __os_version: 'v' });
    expect(fileImageFields(system, 'p').properties.__os_type).toBeUndefined();
  });

  it.each([
    [{ instance_id: 'x' }, 'IMG.0105'],
    [{ volume_id: 'x' }, 'IMG.0105'],
    [{ image_url: undefined, data_images: [{ volume_id: 'v' }] }, 'IMG.0105'],
    [{ data_images: [{ image_url: 'bucket:d.raw', min_disk: 1 }] }, 'IMG.0013'],
    [{ data_images: [{ name: 'd', image_url: 'bucket:d.raw', min_disk: 1, volume_id: 'v' }] }, 'IMG.0105'],
    [{ data_images: {} }, 'IMG.0001'],
    [{ type: 'IsoImage' }, 'IMG.0056'],
    [{ type: 'IsoImage', os_version: 'x' }, 'IMG.0057'],
    [{ image_url: 'bucket:x.iso' }, 'IMG.0057'],
    [{ min_disk: 1025 }, 'IMG.0055'],
    [{ min_disk: 40.5 }, 'IMG.0055'],
    [{ tags: ['a.b'], image_tags: [{ key: 'a', value: 'b' }] }, 'IMG.0115'],
    [{ cmk_id: 'key' }, 'IMG.0095'],
    [{ is_config: 'false' }, 'IMG.0001'],
    [{ description: 'a<b' }, 'IMG.0054'],
  ])('refuses %j with %s', (extra, code) => {
    expect(codeOf(() => parseFileImageRequest('system', { ...base, ...extra }))).toBe(code);
  });

  it('quick imports take RAW or ZVHD2 and need an OS version, except for data disks', () => {
    expect(codeOf(() => parseFileImageRequest('quick', { ...base, os_version: 'o' }))).toBe('IMG.0057');
    expect(codeOf(() => parseFileImageRequest('quick', { ...base, image_url: 'bucket:d.raw' }))).toBe(
      'IMG.0056',
    );
    const data = parseFileImageRequest('quick', { ...base, image_url: 'bucket:d.zvhd2', type: 'DataImage' });
    expect([data.virtualEnvType, data.quick]).toEqual(['DataImage', true]);
  });
});

describe('exports and buckets', () => {
  it('needs a format unless quick, and never both', () => {
    expect(parseExportRequest({ bucket_url: 'b-1:o', is_quick_export: true }).fileFormat).toBeNull();
    expect(parseExportRequest({ bucket_url: 'b-1:o', file_format: 'vmdk' }).fileFormat).toBe('vmdk');
    expect(codeOf(() => parseExportRequest({ bucket_url: 'b-1:o' }))).toBe('IMG.0001');
    expect(codeOf(() => parseExportRequest({ bucket_url: 'b-1:o', file_format: 'raw' }))).toBe('IMG.0072');
  });

  it('refuses buckets not granted and the image store bucket even when granted', () => {
    expect(() => assertBucketUsable('mine', true, ['images'])).not.toThrow();
    expect(codeOf(() => assertBucketUsable('mine', false, ['images']))).toBe('IMG.0069');
    expect(codeOf(() => assertBucketUsable('images', true, ['images']))).toBe('IMG.0069');
  });
});
