import { Bytes, KiB, MiB, TiB, ceilDiv, hasMagic, isPowerOfTwo, msGuid } from './bytes.ts';
import { crc32c } from './crc32c.ts';
import { runDetector, type Findings } from './detection.ts';
import { availability, safePlan, type Detector, type FileView, type RegionRequest } from './view.ts';

/**
 * VHDX, LE (MS-VHDX and qemu 7.2's vhdx.c). File identifier at 0, two
 * checksummed headers at 64 and 128 KiB (the valid one with the higher
 * sequence number is current), the region table at 192 KiB pointing at the BAT
 * and the metadata region. Refused: bad signatures or checksums, a parent
 * (has-parent flag or parent locator), a log that would have to be replayed,
 * unknown required regions or metadata items, sizes past the 64 TiB format
 * maximum, and any table or payload block outside the file.
 */
const HEADER_1 = 64 * KiB;
const HEADER_2 = 128 * KiB;
const HEADER_BYTES = 4 * KiB;
const REGION_TABLE = 192 * KiB;
const REGION_TABLE_BYTES = 64 * KiB;
const MAX_ENTRIES = 2047;
const MAX_VIRTUAL_SIZE = 64n * TiB;
const LOG_CAP = MiB;
const META_CAP = MiB;
const BAT_CAP = 512 * KiB;

const REGION_BAT = msGuid('2DC27766-F623-4200-9D64-115E9BFD4A08');
const REGION_METADATA = msGuid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const ITEM_FILE_PARAMETERS = msGuid('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
const ITEM_VIRTUAL_DISK_SIZE = msGuid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
const ITEM_PAGE83 = msGuid('BECA12AB-B2E6-4523-93EF-C309E000C746');
const ITEM_LOGICAL_SECTOR = msGuid('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
const ITEM_PHYSICAL_SECTOR = msGuid('CDA348C7-445D-4471-9CC9-E9885251C556');
const ITEM_PARENT_LOCATOR = msGuid('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');

const BAT_NOT_PRESENT = 0;
const BAT_UNDEFINED = 1;
const BAT_ZERO = 2;
const BAT_UNMAPPED = 3;
const BAT_FULLY_PRESENT = 6;
const BAT_PARTIALLY_PRESENT = 7;

interface Header {
  sequence: bigint;
  logGuid: Buffer;
  logLength: number;
  logOffset: bigint;
}

interface Region {
  offset: bigint;
  length: number;
}

/** The current header: valid signature, checksum and version, highest sequence number. */
function currentHeader(b: Bytes): Header | 'none' | 'tie' {
  const read = (at: number): Header | null => {
    const raw = b.slice(at, HEADER_BYTES);
    if (raw.toString('latin1', 0, 4) !== 'head' || crc32c(raw, 4) !== raw.readUInt32LE(4)) return null;
    if (raw.readUInt16LE(66) !== 1) return null;
    return {
      sequence: raw.readBigUInt64LE(8),
      logGuid: raw.subarray(48, 64),
      logLength: raw.readUInt32LE(68),
      logOffset: raw.readBigUInt64LE(72),
    };
  };
  const h1 = read(HEADER_1);
  const h2 = read(HEADER_2);
  if (!h1 && !h2) return 'none';
  if (!h1 || !h2) return (h1 ?? h2) as Header;
  if (h1.sequence === h2.sequence) return 'tie';
  return h1.sequence > h2.sequence ? h1 : h2;
}

/** Region table entries for the BAT and the metadata, plus what else is there. */
function regionTable(b: Bytes): { bat?: Region; meta?: Region; unknownRequired: number; count: number } {
  const count = b.u32le(REGION_TABLE + 8);
  const out: { bat?: Region; meta?: Region; unknownRequired: number; count: number } = {
    unknownRequired: 0,
    count,
  };
  for (let i = 0; i < Math.min(count, MAX_ENTRIES); i++) {
    const at = REGION_TABLE + 16 + i * 32;
    const guid = b.slice(at, 16);
    const region = { offset: b.u64le(at + 16), length: b.u32le(at + 24) };
    if (guid.equals(REGION_BAT)) out.bat = region;
    else if (guid.equals(REGION_METADATA)) out.meta = region;
    else if (b.u32le(at + 28) & 1) out.unknownRequired++;
  }
  return out;
}

function plan(head: Buffer): RegionRequest[] {
  if (!hasMagic(head, 0, 'vhdxfile')) return [];
  return safePlan(() => {
    const b = new Bytes(head);
    const out: RegionRequest[] = [];
    const h = currentHeader(b);
    if (typeof h === 'object' && !isZero(h.logGuid) && h.logLength > 0) {
      out.push({ key: 'vhdx:log', offset: h.logOffset, length: Math.min(h.logLength, LOG_CAP) });
    }
    if (b.latin1(REGION_TABLE, 4) !== 'regi') return out;
    const rt = regionTable(b);
    if (rt.meta)
      out.push({ key: 'vhdx:meta', offset: rt.meta.offset, length: Math.min(rt.meta.length, META_CAP) });
    if (rt.bat)
      out.push({ key: 'vhdx:bat', offset: rt.bat.offset, length: Math.min(rt.bat.length, BAT_CAP) });
    return out;
  });
}

const isZero = (b: Buffer) => b.every((x) => x === 0);

function checkLog(view: FileView, h: Header, f: Findings): void {
  if (isZero(h.logGuid) || h.logLength === 0) return;
  const r = view.region('vhdx:log');
  if (!r) return f.add('unsupported-feature', 'VHDX log is active and could not be verified');
  // qemu replays any valid entry carrying the header's log GUID; read-only it refuses to open.
  for (let at = 0; at + 48 <= r.data.length; at += 4 * KiB) {
    if (
      r.data.toString('latin1', at, at + 4) === 'loge' &&
      r.data.subarray(at + 32, at + 48).equals(h.logGuid)
    ) {
      return f.add('unsupported-feature', 'VHDX log holds entries that would have to be replayed');
    }
  }
  if (availability(r, h.logLength) !== 'ok') {
    f.add('unsupported-feature', 'VHDX log is active and too large to verify');
  }
}

function checkRegion(name: string, r: Region | undefined, size: bigint, f: Findings): r is Region {
  if (!r) {
    f.add('corrupt', `VHDX region table has no ${name} region`);
    return false;
  }
  const mib = BigInt(MiB);
  if (r.offset % mib !== 0n || r.offset < mib || r.length === 0 || r.length % MiB !== 0) {
    f.add('corrupt', `VHDX ${name} region is misaligned`);
    return false;
  }
  if (r.offset + BigInt(r.length) > size) {
    f.add('corrupt', `VHDX ${name} region lies past the end of the file`);
    return false;
  }
  return true;
}

interface Metadata {
  virtualSize: bigint;
  blockSize: number;
  logicalSector: number;
  hasParent: boolean;
  leaveBlocksAllocated: boolean;
}

function parseMetadata(view: FileView, meta: Region, f: Findings): Metadata | null {
  const r = view.region('vhdx:meta');
  if (!r || availability(r, 32) !== 'ok') {
    f.add('corrupt', 'VHDX metadata region is missing');
    return null;
  }
  const m = new Bytes(r.data);
  if (m.latin1(0, 8) !== 'metadata') {
    f.add('corrupt', 'VHDX metadata table has a bad signature');
    return null;
  }
  const count = m.u16le(10);
  if (count > MAX_ENTRIES) {
    f.add('corrupt', `VHDX metadata table has ${count} entries`);
    return null;
  }
  const items = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const at = 32 + i * 32;
    if (availability(r, at + 32) !== 'ok') {
      f.add('corrupt', 'VHDX metadata table is truncated');
      return null;
    }
    const guid = m.slice(at, 16);
    const offset = m.u32le(at + 16);
    const length = m.u32le(at + 20);
    const required = (m.u32le(at + 24) & 4) !== 0;
    if (length > 0 && (offset < 64 * KiB || offset + length > meta.length)) {
      f.add('corrupt', `VHDX metadata item ${i} lies outside the metadata region`);
      return null;
    }
    const known = [
      ITEM_FILE_PARAMETERS,
      ITEM_VIRTUAL_DISK_SIZE,
      ITEM_PAGE83,
      ITEM_LOGICAL_SECTOR,
      ITEM_PHYSICAL_SECTOR,
      ITEM_PARENT_LOCATOR,
    ].some((g) => g.equals(guid));
    if (!known) {
      if (required) f.add('unsupported-feature', `VHDX has an unknown required metadata item (entry ${i})`);
      continue;
    }
    const state = availability(r, offset + length);
    if (state !== 'ok') {
      f.add(state === 'eof' ? 'corrupt' : 'unsupported-feature', `VHDX metadata item ${i} cannot be read`);
      return null;
    }
    items.set(guid.toString('hex'), r.data.subarray(offset, offset + length));
  }
  if (items.has(ITEM_PARENT_LOCATOR.toString('hex'))) {
    f.add('backing-file', 'VHDX has a parent locator (differencing disk)');
  }
  const get = (g: Buffer, size: number): Bytes | null => {
    const v = items.get(g.toString('hex'));
    return v && v.length >= size ? new Bytes(v) : null;
  };
  const params = get(ITEM_FILE_PARAMETERS, 8);
  const vsize = get(ITEM_VIRTUAL_DISK_SIZE, 8);
  const logical = get(ITEM_LOGICAL_SECTOR, 4);
  const physical = get(ITEM_PHYSICAL_SECTOR, 4);
  if (!params || !vsize || !logical || !physical || !get(ITEM_PAGE83, 16)) {
    f.add('corrupt', 'VHDX metadata lacks a required item');
    return null;
  }
  const md: Metadata = {
    virtualSize: vsize.u64le(0),
    blockSize: params.u32le(0),
    logicalSector: logical.u32le(0),
    hasParent: (params.u32le(4) & 2) !== 0,
    leaveBlocksAllocated: (params.u32le(4) & 1) !== 0,
  };
  if (md.hasParent) f.add('backing-file', 'VHDX file parameters declare a parent (differencing disk)');
  const phys = physical.u32le(0);
  if (![512, 4096].includes(md.logicalSector) || ![512, 4096].includes(phys)) {
    f.add('corrupt', 'VHDX sector size is not 512 or 4096');
    return null;
  }
  if (!isPowerOfTwo(md.blockSize) || md.blockSize < MiB || md.blockSize > 256 * MiB) {
    f.add('corrupt', `VHDX block size ${md.blockSize} is invalid`);
    return null;
  }
  return md;
}

function checkBat(view: FileView, bat: Region, md: Metadata, f: Findings): void {
  const block = BigInt(md.blockSize);
  const chunkRatio = ((1n << 23n) * BigInt(md.logicalSector)) / block;
  const dataBlocks = ceilDiv(md.virtualSize, block);
  const entries = dataBlocks === 0n ? 0n : dataBlocks + (dataBlocks - 1n) / chunkRatio;
  if (entries * 8n > BigInt(bat.length))
    return f.add('corrupt', 'VHDX BAT is too small for the virtual size');
  const r = view.region('vhdx:bat');
  if (!r) return;
  const count = Math.min(Number(entries), Math.floor(r.data.length / 8));
  const period = Number(chunkRatio) + 1;
  for (let i = 0; i < count; i++) {
    const e = r.data.readBigUInt64LE(i * 8);
    const state = Number(e & 7n);
    const offset = (e >> 20n) << 20n;
    const bitmap = i % period === period - 1;
    if (bitmap) {
      if (state !== BAT_NOT_PRESENT && state !== BAT_FULLY_PRESENT) {
        return f.add('corrupt', `VHDX sector bitmap entry ${i} has state ${state}`);
      }
      continue;
    }
    if (state === BAT_PARTIALLY_PRESENT) {
      return f.add('backing-file', `VHDX block ${i} is partially present (it needs a parent)`);
    }
    if (state === BAT_FULLY_PRESENT) {
      if (offset < BigInt(MiB) || offset + block > view.size) {
        return f.add('corrupt', `VHDX block ${i} lies outside the file`);
      }
    } else if (![BAT_NOT_PRESENT, BAT_UNDEFINED, BAT_ZERO, BAT_UNMAPPED].includes(state)) {
      return f.add('corrupt', `VHDX block ${i} has unknown state ${state}`);
    }
  }
}

export const vhdxDetector: Detector = {
  name: 'vhdx',
  plan,
  detect(view) {
    if (!hasMagic(view.head, 0, 'vhdxfile')) return null;
    return runDetector('vhdx', 'container', (f) => {
      f.variant = 'vhdx';
      const b = new Bytes(view.head);
      b.slice(0, REGION_TABLE + REGION_TABLE_BYTES); // headers and region table must be there
      const h = currentHeader(b);
      if (h === 'none') return f.add('corrupt', 'VHDX has no valid header');
      if (h === 'tie') return f.add('corrupt', 'VHDX headers have equal sequence numbers');
      checkLog(view, h, f);
      const rt = b.slice(REGION_TABLE, REGION_TABLE_BYTES);
      if (rt.toString('latin1', 0, 4) !== 'regi' || crc32c(rt, 4) !== rt.readUInt32LE(4)) {
        return f.add('corrupt', 'VHDX region table has a bad signature or checksum');
      }
      const regions = regionTable(b);
      if (regions.count > MAX_ENTRIES)
        return f.add('corrupt', `VHDX region table has ${regions.count} entries`);
      if (regions.unknownRequired) return f.add('unsupported-feature', 'VHDX has an unknown required region');
      const meta = regions.meta;
      const bat = regions.bat;
      if (!checkRegion('metadata', meta, view.size, f) || !checkRegion('BAT', bat, view.size, f)) return;
      const md = parseMetadata(view, meta, f);
      if (!md) return;
      f.virtualSize = md.virtualSize;
      f.claim(md.virtualSize);
      if (md.virtualSize > MAX_VIRTUAL_SIZE)
        return f.add('too-large', 'VHDX virtual size exceeds the 64 TiB maximum');
      f.variant = md.leaveBlocksAllocated ? 'fixed' : 'dynamic';
      if (md.hasParent) return;
      checkBat(view, bat, md, f);
    });
  },
};
