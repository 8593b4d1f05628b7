import { describe, expect, it } from 'vitest';
import { msGuid, quote } from '../../src/formats/bytes.ts';
import { crc32c } from '../../src/formats/crc32c.ts';
import { partitionTable } from '../../src/formats/raw.ts';
import {
  isBareName,
  looksLikeDescriptorFile,
  parseVmdkDescriptor,
} from '../../src/formats/vmdk-descriptor.ts';
import { grantRegions, MAX_REGION_BYTES, REGION_BUDGET_BYTES } from '../../src/formats/view.ts';
import { pseudoRandom, writeGpt, writeMbr } from './craft.ts';

describe('crc32c', () => {
  it('matches the standard check value', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('treats the checksum field as zero', () => {
    const b = Buffer.from('abcdefgh');
    const zeroed = Buffer.from(b);
    zeroed.fill(0, 4, 8);
    expect(crc32c(b, 4)).toBe(crc32c(zeroed));
  });
});

describe('msGuid', () => {
  it('stores the first three groups little endian, as VHDX does', () => {
    expect(msGuid('2DC27766-F623-4200-9D64-115E9BFD4A08').toString('hex')).toBe(
      '6677c22d23f600429d64115e9bfd4a08',
    );
  });
});

describe('quote', () => {
  it('escapes control characters and quotes, and cuts long names', () => {
    expect(quote(Buffer.from('a\nb"c\\'))).toBe('"a\\x0ab\\x22c\\x5c"');
    expect(quote('x'.repeat(300), 10)).toBe(`"${'x'.repeat(10)}…"`);
  });
});

describe('VMDK descriptor parser', () => {
  const qemuDescriptor = [
    '# Disk DescriptorFile',
    'version=1',
    'CID=8cc09f29',
    'parentCID=ffffffff',
    'createType="monolithicSparse"',
    '',
    '# Extent description',
    'RW 8192 SPARSE "disk.vmdk"',
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    'ddb.geometry.cylinders = "8"',
    'ddb.adapterType = "ide"',
  ].join('\n');

  it("reads qemu's descriptor", () => {
    const d = parseVmdkDescriptor(Buffer.concat([Buffer.from(qemuDescriptor), Buffer.alloc(100)]));
    expect(d.badLines).toEqual([]);
    expect(d.values.get('createType')).toBe('monolithicSparse');
    expect(d.values.get('ddb.adapterType')).toBe('ide');
    expect(d.extents).toEqual([{ access: 'RW', sectors: 8192n, type: 'SPARSE', name: 'disk.vmdk' }]);
  });

  it('reports lines of any other shape instead of skipping them', () => {
    const d = parseVmdkDescriptor(
      Buffer.from(`${qemuDescriptor}\nRW 10 FLAT "/etc/passwd" 0 junk\nhello\n\x01\n`),
    );
    expect(d.badLines).toEqual([16, 17, 18]);
  });

  it('stops at the first NUL, as embedded descriptors are padded', () => {
    const d = parseVmdkDescriptor(Buffer.from('version=1\n\0RW 10 FLAT "/etc/passwd" 0\n'));
    expect(d.extents).toEqual([]);
  });

  it('accepts only bare extent names', () => {
    expect(isBareName('disk.vmdk')).toBe(true);
    for (const name of [
      '/etc/passwd',
      '../disk.vmdk',
      'dir\\disk',
      'json:{}',
      'nbd:host:10809',
      '',
      '..',
      null,
    ]) {
      expect(isBareName(name)).toBe(false);
    }
  });

  it('recognises descriptor files the way qemu probes them', () => {
    expect(looksLikeDescriptorFile(Buffer.from('# Disk DescriptorFile\n'))).toBe(true);
    expect(looksLikeDescriptorFile(Buffer.from('# any comment\n   \nversion=1\nCID=1\n'))).toBe(true);
    expect(looksLikeDescriptorFile(Buffer.from('version=2\r\n'))).toBe(true);
    expect(looksLikeDescriptorFile(Buffer.from('version=4\n'))).toBe(false);
    expect(looksLikeDescriptorFile(Buffer.from('  x\nversion=1\n'))).toBe(false);
    expect(looksLikeDescriptorFile(pseudoRandom(4096, 1))).toBe(false);
  });
});

describe('partition tables', () => {
  it('tells MBR from GPT', () => {
    expect(partitionTable(writeMbr(Buffer.alloc(4096)))).toBe('mbr');
    expect(partitionTable(writeGpt(Buffer.alloc(1 << 20)))).toBe('gpt');
  });

  it('does not take a FAT boot sector or an invalid boot flag for a partition table', () => {
    const fat = writeMbr(Buffer.alloc(4096));
    fat.write('FAT32   ', 82, 'latin1');
    expect(partitionTable(fat)).toBeNull();
    const bad = writeMbr(Buffer.alloc(4096));
    bad[446] = 0x12;
    expect(partitionTable(bad)).toBeNull();
    const empty = Buffer.alloc(4096);
    empty[510] = 0x55;
    empty[511] = 0xaa;
    expect(partitionTable(empty)).toBeNull();
  });
});

describe('region budget', () => {
  it('caps each region and all of them together, in request order', () => {
    const granted = grantRegions(
      Array.from({ length: 10 }, (_, i) => ({
        key: `r${i}`,
        offset: BigInt(i),
        length: 10 * MAX_REGION_BYTES,
      })),
    );
    expect(granted.every((g) => g.length === MAX_REGION_BYTES)).toBe(true);
    expect(granted.reduce((n, g) => n + g.granted, 0)).toBe(REGION_BUDGET_BYTES);
    expect(granted.at(-1)?.granted).toBe(0);
  });
});
