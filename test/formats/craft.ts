import { crc32c } from '../../src/formats/crc32c.ts';
import { msGuid } from '../../src/formats/bytes.ts';
import { vhdChecksum } from '../../src/formats/vhd.ts';

/**
 * Byte-level crafting for the cases qemu-img cannot (or must not) make: ISO
 * volumes, partition tables, refused formats, and hostile edits of real
 * images made by qemu-img.
 */

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandom(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export const MiB = 1024 * 1024;

/**
 * The guest data every valid image holds (format-safety reference, section 7):
 * the first sector, cluster-aligned and unaligned runs, a run of an odd number
 * of sectors, compressible and incompressible data, and the last MiB.
 */
export function sourceDisk(size = 6 * MiB): Buffer {
  const d = Buffer.alloc(size);
  pseudoRandom(512, 1).copy(d, 0); // first sector
  pseudoRandom(65536, 2).copy(d, 65536); // one whole 64 KiB cluster
  pseudoRandom(70001, 3).copy(d, 300007); // unaligned start and end
  pseudoRandom(7 * 512, 4).copy(d, MiB + 512); // odd number of sectors
  const text = Buffer.from('compressible guest data, the same line again and again\n');
  for (let o = 2 * MiB; o < 3 * MiB; o += text.length) text.copy(d, o, 0, Math.min(text.length, 3 * MiB - o));
  pseudoRandom(MiB / 2, 5).copy(d, 3 * MiB); // incompressible
  pseudoRandom(MiB, 6).copy(d, size - MiB); // the last MiB
  return d;
}

/** An MBR with one Linux partition (type 0x83) from sector 2048. */
export function writeMbr(d: Buffer, type = 0x83, start = 2048, sectors = 4096): Buffer {
  d.fill(0, 446, 512);
  d[446] = 0x80;
  d[446 + 4] = type;
  d.writeUInt32LE(start, 446 + 8);
  d.writeUInt32LE(sectors, 446 + 12);
  d[510] = 0x55;
  d[511] = 0xaa;
  return d;
}

/** A protective MBR and a GPT header at LBA 1 (enough for detection; CRCs are not checked). */
export function writeGpt(d: Buffer): Buffer {
  writeMbr(d, 0xee, 1, Math.min(0xffffffff, d.length / 512 - 1));
  d[446] = 0;
  d.fill(0, 512, 1024);
  d.write('EFI PART', 512, 'latin1');
  d.writeUInt32LE(0x00010000, 520);
  d.writeUInt32LE(92, 524);
  d.writeBigUInt64LE(1n, 536);
  return d;
}

function bothEndian32(d: Buffer, at: number, v: number): void {
  d.writeUInt32LE(v, at);
  d.writeUInt32BE(v, at + 4);
}

/** A minimal ISO 9660 volume: system area, primary descriptor at 32 KiB, terminator, some files' worth of data. */
export function makeIso(blocks = 64, systemArea?: Buffer): Buffer {
  const d = Buffer.alloc(blocks * 2048);
  if (systemArea) systemArea.copy(d, 0, 0, Math.min(systemArea.length, 32768));
  const pvd = 32768;
  d[pvd] = 1;
  d.write('CD001', pvd + 1, 'latin1');
  d[pvd + 6] = 1;
  d.write('IMS TEST'.padEnd(32, ' '), pvd + 8, 'latin1');
  d.write('IMS_TEST_VOLUME'.padEnd(32, ' '), pvd + 40, 'latin1');
  bothEndian32(d, pvd + 80, blocks);
  d.writeUInt16LE(1, pvd + 120);
  d.writeUInt16BE(1, pvd + 122);
  d.writeUInt16LE(1, pvd + 124);
  d.writeUInt16BE(1, pvd + 126);
  d.writeUInt16LE(2048, pvd + 128);
  d.writeUInt16BE(2048, pvd + 130);
  d[pvd + 881] = 1;
  const term = pvd + 2048;
  d[term] = 255;
  d.write('CD001', term + 1, 'latin1');
  d[term + 6] = 1;
  pseudoRandom(8192, 7).copy(d, 20 * 2048);
  return d;
}

/** Fixes the checksum of a VHD footer at `at` (512 bytes). */
export function fixVhdFooter(d: Buffer, at: number): void {
  const f = d.subarray(at, at + 512);
  f.writeUInt32BE(vhdChecksum(f, 64), 64);
}

/** Rewrites both footer copies of a dynamic VHD and its dynamic header checksum. */
export function editDynamicVhd(d: Buffer, edit: (footer: Buffer, dynamic: Buffer) => void): Buffer {
  const footer = d.subarray(0, 512);
  const dynOffset = Number(footer.readBigUInt64BE(16));
  const dynamic = d.subarray(dynOffset, dynOffset + 1024);
  edit(footer, dynamic);
  footer.writeUInt32BE(vhdChecksum(footer, 64), 64);
  dynamic.writeUInt32BE(vhdChecksum(dynamic, 36), 36);
  footer.copy(d, d.length - 512);
  return d;
}

const VHDX_META = msGuid('8B7CA206-4790-4B9A-B8FE-575F050F886E');

/** The metadata item `guid` of a VHDX file (a view into `d`). */
export function vhdxItem(d: Buffer, guid: string): Buffer {
  const rt = 192 * 1024;
  let meta = -1;
  for (let i = 0; i < d.readUInt32LE(rt + 8); i++) {
    const e = rt + 16 + i * 32;
    if (d.subarray(e, e + 16).equals(VHDX_META)) meta = Number(d.readBigUInt64LE(e + 16));
  }
  const want = msGuid(guid);
  for (let i = 0; i < d.readUInt16LE(meta + 10); i++) {
    const e = meta + 32 + i * 32;
    if (d.subarray(e, e + 16).equals(want)) {
      const off = meta + d.readUInt32LE(e + 16);
      return d.subarray(off, off + d.readUInt32LE(e + 20));
    }
  }
  throw new Error(`no VHDX metadata item ${guid}`);
}

export const VHDX_FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
export const VHDX_VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';

/** Edits the current VHDX header (the one with the higher sequence number) and fixes its CRC. */
export function editVhdxHeader(d: Buffer, edit: (h: Buffer) => void): Buffer {
  const h1 = d.subarray(64 * 1024, 68 * 1024);
  const h2 = d.subarray(128 * 1024, 132 * 1024);
  const h = h1.readBigUInt64LE(8) > h2.readBigUInt64LE(8) ? h1 : h2;
  edit(h);
  h.writeUInt32LE(crc32c(h, 4), 4);
  return d;
}

/** Replaces the embedded descriptor of a sparse VMDK made by qemu-img (sector 1, 20 sectors). */
export function replaceVmdkDescriptor(d: Buffer, text: string): Buffer {
  const size = Number(d.readBigUInt64LE(36)) * 512;
  d.fill(0, 512, 512 + size);
  d.write(text, 512, 'latin1');
  return d;
}

/**
 * Turns qemu's streamOptimized layout (grain directory located by the header)
 * into VMware's: header says "grain directory at end", followed at the end of
 * the file by a footer marker, a footer (the real header) and an
 * end-of-stream marker.
 */
export function vmdkStreamWithFooter(d: Buffer, editFooter?: (footer: Buffer) => void): Buffer {
  const footer = Buffer.from(d.subarray(0, 512));
  editFooter?.(footer);
  const header = Buffer.from(d);
  header.writeBigUInt64LE(0xffffffffffffffffn, 56);
  const marker = Buffer.alloc(512);
  marker.writeBigUInt64LE(1n, 0);
  marker.writeUInt32LE(0, 8);
  marker.writeUInt32LE(3, 12);
  return Buffer.concat([header, marker, footer, Buffer.alloc(512)]);
}

export function writeAscii(d: Buffer, at: number, text: string): Buffer {
  d.write(text, at, 'latin1');
  return d;
}

/** Replaces the header extensions of a qemu-made qcow2 v3 (header length 112) with `extensions`. */
export function setQcow2Extensions(d: Buffer, extensions: { type: number; data: Buffer }[]): Buffer {
  let at = d.readUInt32BE(100);
  d.fill(0, at, 4096);
  for (const e of extensions) {
    d.writeUInt32BE(e.type, at);
    d.writeUInt32BE(e.data.length, at + 4);
    e.data.copy(d, at + 8);
    at += 8 + Math.ceil(e.data.length / 8) * 8;
  }
  return d;
}

export const BOCHS = (() => {
  const d = Buffer.alloc(1024);
  d.write('Bochs Virtual HD Image', 0, 'latin1');
  d.write('Redolog', 32, 'latin1');
  d.write('Growing', 48, 'latin1');
  d.writeUInt32LE(0x00020000, 64);
  d.writeUInt32LE(512, 68);
  return d;
})();

export const CLOOP = Buffer.concat([
  Buffer.from('#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r -t iso9660 /dev/cloop $1\n'),
  Buffer.alloc(1024),
]);

export const DMG = (() => {
  const d = pseudoRandom(8192, 9);
  const t = d.length - 512;
  d.fill(0, t);
  d.write('koly', t, 'latin1');
  d.writeUInt32BE(4, t + 4);
  d.writeUInt32BE(512, t + 8);
  return d;
})();

export const COWD = (() => {
  const d = Buffer.alloc(2048);
  d.write('COWD', 0, 'latin1');
  d.writeUInt32LE(1, 4);
  d.writeUInt32LE(3, 8);
  d.writeUInt32LE(2048, 12);
  return d;
})();
