import { Bytes, GiB, KiB, MiB, ceilDiv, hasMagic, quote } from './bytes.ts';
import { runDetector, type Findings } from './detection.ts';
import { detectQcowV1, planQcowV1 } from './qcow.ts';
import { availability, safePlan, type Detector, type FileView, type RegionRequest } from './view.ts';

/**
 * qcow2 (versions 2 and 3), and the dispatch to legacy qcow v1, which shares the
 * magic. Field offsets and limits follow qemu's qcow2_do_open (7.2), so that
 * whatever qemu would refuse or treat specially we refuse first, and the
 * format-safety reference: no backing file, no external data file, no
 * encryption, no unvetted incompatible feature, every table inside the file.
 */
export const QCOW_MAGIC = Buffer.from('514649fb', 'hex');

const INCOMPAT_DIRTY = 1n << 0n;
const INCOMPAT_CORRUPT = 1n << 1n;
const INCOMPAT_DATA_FILE = 1n << 2n;
const INCOMPAT_COMPRESSION = 1n << 3n;
const INCOMPAT_EXTL2 = 1n << 4n;
/**
 * Incompatible bits we have vetted. Extended L2 (bit 4) is accepted: qemu has
 * read it since 5.2 (we run 7.2), it changes only the L2 entry layout
 * (subclusters) and names no other file; the L1 and refcount checks below are
 * the same for it. Dirty (bit 0) is accepted: qemu opens it read-only without
 * repair and `qemu-img check` reports leaked clusters.
 */
const KNOWN_INCOMPAT =
  INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
const AUTOCLEAR_DATA_FILE_RAW = 1n << 1n;

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_CRYPTO = 0x0537be77;
const EXT_DATA_FILE = 0x44415441;

/** qemu's limits (QCOW_MAX_L1_SIZE, QCOW_MAX_REFTABLE_SIZE, QCOW_MAX_SNAPSHOTS, ...). */
const MAX_L1_ENTRIES = (32 * MiB) / 8;
const MAX_REFTABLE_BYTES = 8 * MiB;
const MAX_SNAPSHOTS = 65536;
const MAX_SNAPSHOT_EXTRA = 1024;
const INT_MAX = 0x7fffffffn;

/** How much of each table we capture and check entry by entry (the rest is bounds-checked only). */
const EXT_CAP = 64 * KiB;
const TABLE_CAP = 512 * KiB;
/** One snapshot entry at most: 40-byte header, 1 KiB extra data, two 64 KiB strings, padding. */
const SNAPSHOT_ENTRY_MAX = 40 + MAX_SNAPSHOT_EXTRA + 2 * 65535 + 8;
/** L1/L2/refcount entries: bits 9-55 (L1) or 9-63 (refcount) are the offset. */
const L1_OFFSET_MASK = 0x00fffffffffffe00n;
const L1_RESERVED_MASK = 0x7f000000000001ffn;
const REFTABLE_RESERVED_MASK = 0x1ffn;

interface Header {
  version: number;
  backingOffset: bigint;
  backingSize: number;
  clusterBits: number;
  size: bigint;
  cryptMethod: number;
  l1Size: number;
  l1Offset: bigint;
  refcountOffset: bigint;
  refcountClusters: number;
  snapshotCount: number;
  snapshotsOffset: bigint;
  incompatible: bigint;
  compatible: bigint;
  autoclear: bigint;
  refcountOrder: number;
  headerLength: number;
  compressionType: number;
}

function readHeader(b: Bytes): Header {
  const version = b.u32be(4);
  const v3 = version >= 3;
  const headerLength = v3 ? b.u32be(100) : 72;
  return {
    version,
    backingOffset: b.u64be(8),
    backingSize: b.u32be(16),
    clusterBits: b.u32be(20),
    size: b.u64be(24),
    cryptMethod: b.u32be(32),
    l1Size: b.u32be(36),
    l1Offset: b.u64be(40),
    refcountOffset: b.u64be(48),
    refcountClusters: b.u32be(56),
    snapshotCount: b.u32be(60),
    snapshotsOffset: b.u64be(64),
    incompatible: v3 ? b.u64be(72) : 0n,
    compatible: v3 ? b.u64be(80) : 0n,
    autoclear: v3 ? b.u64be(88) : 0n,
    refcountOrder: v3 ? b.u32be(96) : 4,
    headerLength,
    // The compression type byte exists only when the header is long enough for it.
    compressionType: v3 && headerLength > 104 ? b.u8(104) : 0,
  };
}

const validClusterBits = (bits: number) => bits >= 9 && bits <= 21;

/** Where header extensions may be: from the header's end to the backing name or the end of cluster 0. */
function extensionArea(h: Header): { start: bigint; end: bigint } | null {
  if (!validClusterBits(h.clusterBits)) return null;
  const cluster = 1n << BigInt(h.clusterBits);
  const end = h.backingOffset !== 0n && h.backingOffset < cluster ? h.backingOffset : cluster;
  const start = BigInt(h.headerLength);
  return start < end ? { start, end } : null;
}

function planQcow2(b: Bytes): RegionRequest[] {
  const h = readHeader(b);
  if (h.version !== 2 && h.version !== 3) return [];
  const out: RegionRequest[] = [];
  const ext = extensionArea(h);
  if (ext) {
    out.push({ key: 'qcow2:ext', offset: ext.start, length: Number(min(ext.end - ext.start, EXT_CAP)) });
  }
  if (h.backingOffset !== 0n && h.backingSize > 0) {
    out.push({ key: 'qcow2:backing', offset: h.backingOffset, length: Math.min(h.backingSize, 1023) });
  }
  if (!validClusterBits(h.clusterBits)) return out;
  const cluster = 1 << h.clusterBits;
  if (h.l1Size > 0) {
    out.push({ key: 'qcow2:l1', offset: h.l1Offset, length: Math.min(h.l1Size * 8, TABLE_CAP) });
  }
  if (h.refcountClusters > 0) {
    const length = Math.min(h.refcountClusters * cluster, TABLE_CAP);
    out.push({ key: 'qcow2:refcount', offset: h.refcountOffset, length });
  }
  if (h.snapshotCount > 0) {
    const length = Math.min(h.snapshotCount * SNAPSHOT_ENTRY_MAX, TABLE_CAP);
    out.push({ key: 'qcow2:snapshots', offset: h.snapshotsOffset, length });
  }
  return out;
}

const min = (a: bigint, b: number) => (a < BigInt(b) ? a : BigInt(b));

/** qemu's size_to_l1: L1 entries needed to map `size` bytes when one entry maps 2^shift bytes. */
function sizeToL1(size: bigint, shift: bigint): bigint {
  return ceilDiv(size, 1n << shift);
}

function checkHeaderFields(h: Header, f: Findings): void {
  if (h.cryptMethod !== 0) {
    const kind = h.cryptMethod === 1 ? 'AES' : h.cryptMethod === 2 ? 'LUKS' : `method ${h.cryptMethod}`;
    f.add('encrypted', `qcow2 image is encrypted (${kind})`);
  }
  if (h.version !== 3) return;
  if (h.incompatible & INCOMPAT_CORRUPT) f.add('corrupt', 'qcow2 image is marked corrupt');
  if (h.incompatible & INCOMPAT_DATA_FILE)
    f.add('data-file', 'qcow2 image keeps its data in an external data file');
  const unknown = h.incompatible & ~KNOWN_INCOMPAT;
  if (unknown) {
    f.add(
      'unsupported-feature',
      `qcow2 image has unknown incompatible feature bits 0x${unknown.toString(16)}`,
    );
  }
  if (h.autoclear & AUTOCLEAR_DATA_FILE_RAW) {
    f.add('data-file', 'qcow2 image declares a raw external data file');
  }
  if (h.headerLength < 104) f.add('corrupt', `qcow2 header length ${h.headerLength} is shorter than 104`);
  if (validClusterBits(h.clusterBits) && h.headerLength > 1 << h.clusterBits) {
    f.add('corrupt', `qcow2 header length ${h.headerLength} exceeds the cluster size`);
  }
  if (h.refcountOrder > 6) f.add('corrupt', `qcow2 refcount order ${h.refcountOrder} is invalid`);
  // qemu's validate_compression_type: zlib (0) or zstd (1), and bit 3 set exactly when not zlib.
  const flagged = (h.incompatible & INCOMPAT_COMPRESSION) !== 0n;
  if (h.compressionType > 1) {
    f.add('unsupported-feature', `qcow2 compression type ${h.compressionType} is unknown`);
  } else if (flagged !== (h.compressionType !== 0)) {
    f.add('corrupt', 'qcow2 compression type and its incompatible feature bit disagree');
  }
  if (h.incompatible & INCOMPAT_EXTL2 && h.clusterBits < 14) {
    f.add('corrupt', 'qcow2 extended L2 entries need clusters of at least 16 KiB');
  }
}

function checkExtensions(view: FileView, h: Header, f: Findings): void {
  const r = view.region('qcow2:ext');
  const area = extensionArea(h);
  if (!r || !area) return;
  const full = area.end - area.start;
  let off = 0;
  for (;;) {
    if (BigInt(off) >= full) return; // reached the end of cluster 0 (or the backing name)
    const state = availability(r, off + 8);
    if (state === 'eof') return f.add('corrupt', 'qcow2 header extensions run past the end of the file');
    if (state === 'cut') {
      return f.add('unsupported-feature', `qcow2 header extensions are longer than ${EXT_CAP} bytes`);
    }
    const magic = r.data.readUInt32BE(off);
    const len = r.data.readUInt32BE(off + 4);
    off += 8;
    if (magic === EXT_END) return;
    if (BigInt(len) > full - BigInt(off)) return f.add('corrupt', 'qcow2 header extension is too large');
    const value = r.data.subarray(off, Math.min(off + len, r.data.length));
    if (magic === EXT_DATA_FILE)
      f.add('data-file', `qcow2 header names an external data file ${quote(value)}`);
    if (magic === EXT_BACKING_FORMAT)
      f.add('backing-file', `qcow2 header names a backing format ${quote(value)}`);
    if (magic === EXT_CRYPTO) f.add('encrypted', 'qcow2 header has an encryption header extension');
    off += Math.ceil(len / 8) * 8;
  }
}

/** Checks the entries of a table of 8-byte offsets that point at one cluster each. */
function checkClusterPointers(
  view: FileView,
  key: string,
  entries: number,
  cluster: bigint,
  offsetMask: bigint,
  reservedMask: bigint,
  what: string,
  f: Findings,
): void {
  const r = view.region(key);
  if (!r) return;
  const n = Math.min(entries, Math.floor(r.data.length / 8));
  for (let i = 0; i < n; i++) {
    const e = r.data.readBigUInt64BE(i * 8);
    if (e & reservedMask) return f.add('corrupt', `qcow2 ${what} entry ${i} has reserved bits set`);
    const target = e & offsetMask;
    if (target === 0n) continue;
    if (target % cluster !== 0n) return f.add('corrupt', `qcow2 ${what} entry ${i} is not cluster aligned`);
    if (target + cluster > view.size) {
      return f.add('corrupt', `qcow2 ${what} entry ${i} points past the end of the file`);
    }
  }
}

function checkTables(view: FileView, h: Header, f: Findings): void {
  if (!validClusterBits(h.clusterBits)) {
    return f.add('corrupt', `qcow2 cluster bits ${h.clusterBits} is outside 9..21`);
  }
  const cluster = 1n << BigInt(h.clusterBits);
  const extL2 = h.version === 3 && (h.incompatible & INCOMPAT_EXTL2) !== 0n;
  const shift = BigInt(h.clusterBits * 2 - 3 - (extL2 ? 1 : 0));

  // Active L1 table: big enough for the virtual size, not absurdly bigger (a huge
  // l1_size is a memory lever for qemu), and inside the file.
  const needed = sizeToL1(h.size, shift);
  const roomy = sizeToL1(h.size * 2n > h.size + 64n * GiB ? h.size * 2n : h.size + 64n * GiB, shift);
  if (needed > INT_MAX) f.add('corrupt', 'qcow2 virtual size is too large for an L1 table');
  if (h.l1Size > MAX_L1_ENTRIES) f.add('corrupt', `qcow2 L1 table of ${h.l1Size} entries is too large`);
  else if (BigInt(h.l1Size) < needed) f.add('corrupt', 'qcow2 L1 table is too small for the virtual size');
  else if (BigInt(h.l1Size) > roomy)
    f.add('corrupt', 'qcow2 L1 table is far larger than the virtual size needs');
  if (h.l1Offset % cluster !== 0n) f.add('corrupt', 'qcow2 L1 table offset is not cluster aligned');
  else if (h.l1Size > 0 && h.l1Offset + BigInt(h.l1Size) * 8n > view.size) {
    f.add('corrupt', 'qcow2 L1 table lies past the end of the file');
  } else {
    checkClusterPointers(view, 'qcow2:l1', h.l1Size, cluster, L1_OFFSET_MASK, L1_RESERVED_MASK, 'L1', f);
  }

  // Refcount table.
  const refBytes = BigInt(h.refcountClusters) * cluster;
  if (h.refcountClusters === 0) f.add('corrupt', 'qcow2 image has no refcount table');
  else if (refBytes > BigInt(MAX_REFTABLE_BYTES)) f.add('corrupt', 'qcow2 refcount table is too large');
  else if (h.refcountOffset % cluster !== 0n)
    f.add('corrupt', 'qcow2 refcount table offset is not cluster aligned');
  else if (h.refcountOffset + refBytes > view.size) {
    f.add('corrupt', 'qcow2 refcount table lies past the end of the file');
  } else {
    const entries = Number(refBytes / 8n);
    checkClusterPointers(
      view,
      'qcow2:refcount',
      entries,
      cluster,
      ~0x1ffn,
      REFTABLE_RESERVED_MASK,
      'refcount',
      f,
    );
  }

  // Internal snapshots are allowed (conversion exports the active layer), but
  // their tables must be sane too: qemu reads them all when it opens the image.
  if (h.snapshotCount === 0) return;
  if (h.snapshotCount > MAX_SNAPSHOTS) return f.add('corrupt', `qcow2 has ${h.snapshotCount} snapshots`);
  if (h.snapshotsOffset % cluster !== 0n)
    return f.add('corrupt', 'qcow2 snapshot table offset is not aligned');
  if (h.snapshotsOffset + BigInt(h.snapshotCount) * 40n > view.size) {
    return f.add('corrupt', 'qcow2 snapshot table lies past the end of the file');
  }
  const r = view.region('qcow2:snapshots');
  if (!r) return;
  let off = 0;
  for (let i = 0; i < h.snapshotCount; i++) {
    const state = availability(r, off + 40);
    if (state === 'eof') return f.add('corrupt', 'qcow2 snapshot table runs past the end of the file');
    if (state === 'cut') return;
    const e = new Bytes(r.data.subarray(off));
    const l1Offset = e.u64be(0);
    const l1Size = e.u32be(8);
    const extra = e.u32be(36);
    if (extra > MAX_SNAPSHOT_EXTRA) return f.add('corrupt', `qcow2 snapshot ${i} has too much extra data`);
    if (l1Size > MAX_L1_ENTRIES) return f.add('corrupt', `qcow2 snapshot ${i} L1 table is too large`);
    if (l1Offset % cluster !== 0n) return f.add('corrupt', `qcow2 snapshot ${i} L1 table is not aligned`);
    if (l1Offset + BigInt(l1Size) * 8n > view.size) {
      return f.add('corrupt', `qcow2 snapshot ${i} L1 table lies past the end of the file`);
    }
    off += Math.ceil((40 + extra + e.u16be(12) + e.u16be(14)) / 8) * 8;
  }
}

function detectQcow2(view: FileView, f: Findings): void {
  const b = new Bytes(view.head);
  const version = b.u32be(4);
  f.variant = `v${version}`;
  if (version !== 2 && version !== 3) {
    return f.add('unsupported-feature', `qcow2 version ${version} is not supported`);
  }
  b.slice(0, version === 2 ? 72 : 104); // the whole fixed header must be there
  const h = readHeader(b);
  f.virtualSize = (h.size / 512n) * 512n;
  f.claim(h.size);
  checkHeaderFields(h, f);
  if (h.backingOffset !== 0n) {
    const name = view.region('qcow2:backing')?.data ?? Buffer.alloc(0);
    f.add('backing-file', `qcow2 image names a backing file${name.length ? ` ${quote(name)}` : ''}`);
  }
  checkExtensions(view, h, f);
  checkTables(view, h, f);
}

export const qcowDetector: Detector = {
  name: 'qcow',
  plan(head) {
    if (!hasMagic(head, 0, QCOW_MAGIC)) return [];
    return safePlan(() => {
      const b = new Bytes(head);
      return b.u32be(4) === 1 ? planQcowV1(b) : planQcow2(b);
    });
  },
  detect(view) {
    if (!hasMagic(view.head, 0, QCOW_MAGIC)) return null;
    if (view.head.length >= 8 && view.head.readUInt32BE(4) === 1) {
      return runDetector('qcow', 'container', (f) => detectQcowV1(view, f));
    }
    return runDetector('qcow2', 'container', (f) => detectQcow2(view, f));
  },
};
