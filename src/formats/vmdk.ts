import { Bytes, KiB, MiB, U64_MAX, ceilDiv, hasMagic, isPowerOfTwo, quote } from './bytes.ts';
import { runDetector, type Findings } from './detection.ts';
import { isBareName, looksLikeDescriptorFile, parseVmdkDescriptor } from './vmdk-descriptor.ts';
import { availability, safePlan, type Detector, type FileView, type RegionRequest } from './view.ts';

/**
 * VMDK. Accepted: a single-file sparse extent (`KDMV`, LE) whose embedded
 * descriptor says monolithicSparse or streamOptimized and lists exactly one
 * SPARSE extent naming a bare file (the image itself). Everything else names
 * other files or is not supported: a text descriptor file (flat, split, vmfs,
 * custom ... all external extents), the old `COWD` format, a sparse header with
 * capacity 0 (qemu then opens its embedded descriptor as a descriptor *file*,
 * extents and all), parent links (`parentCID`, `parentFileNameHint`).
 * Header checks follow qemu 7.2's vmdk_open_vmdk4 and vmdk_add_extent.
 */
const KDMV = Buffer.from('KDMV', 'latin1');
const COWD = Buffer.from('COWD', 'latin1');
const GD_AT_END = U64_MAX;
const FLAG_RGD = 1 << 1;
const COMPRESSION_NONE = 0;
const COMPRESSION_DEFLATE = 1;
const MARKER_EOS = 0;
const MARKER_FOOTER = 3;
const DESCRIPTOR_MAX_SECTORS = 2048n; // 1 MiB
const MAX_GRAIN_SECTORS = 0x200000n; // qemu: larger grains are "unrealistic"
const MAX_GD_ENTRIES = 32n * 1024n * 1024n; // qemu's l1_size limit
/** qemu's vmdk_parent_open looks for `parentFileNameHint` in these bytes whatever the header says. */
const PARENT_HINT_AREA = { offset: 512, length: 10 * KiB };
const GD_CAP = 512 * KiB;
const ACCEPTED_CREATE_TYPES = ['monolithicSparse', 'streamOptimized'];

interface Header {
  version: number;
  flags: number;
  capacity: bigint;
  grain: bigint;
  descOffset: bigint;
  descSize: bigint;
  gtes: number;
  rgdOffset: bigint;
  gdOffset: bigint;
  grainOffset: bigint;
  compression: number;
}

/** Reads a sparse header whose magic sits at `at` (0 for the header, size-1024 for a stream footer). */
function readHeader(b: Bytes, at: number): Header {
  b.slice(at, 79);
  return {
    version: b.u32le(at + 4),
    flags: b.u32le(at + 8),
    capacity: b.u64le(at + 12),
    grain: b.u64le(at + 20),
    descOffset: b.u64le(at + 28),
    descSize: b.u64le(at + 36),
    gtes: b.u32le(at + 44),
    rgdOffset: b.u64le(at + 48),
    gdOffset: b.u64le(at + 56),
    grainOffset: b.u64le(at + 64),
    compression: b.u16le(at + 77),
  };
}

/** Grain directory entries, as qemu computes l1_size; null when the geometry is invalid. */
function gdEntries(h: Header): bigint | null {
  const perGd = BigInt(h.gtes) * h.grain;
  if (h.gtes === 0 || h.gtes > 512 || perGd === 0n || h.grain > MAX_GRAIN_SECTORS) return null;
  return ceilDiv(h.capacity, perGd);
}

function planSparse(head: Buffer): RegionRequest[] {
  const h = readHeader(new Bytes(head), 0);
  const out: RegionRequest[] = [];
  if (h.descOffset > 0n && h.descSize > 0n) {
    const length = h.descSize > DESCRIPTOR_MAX_SECTORS ? MiB : Number(h.descSize) * 512;
    out.push({ key: 'vmdk:descriptor', offset: h.descOffset * 512n, length });
  }
  const entries = gdEntries(h);
  if (h.gdOffset !== GD_AT_END && h.gdOffset > 0n && entries !== null && entries > 0n) {
    const length = entries > BigInt(GD_CAP / 4) ? GD_CAP : Number(entries) * 4;
    out.push({ key: 'vmdk:gd', offset: h.gdOffset * 512n, length });
  }
  return out;
}

function checkDescriptor(view: FileView, h: Header, f: Findings): string | null {
  if (h.descOffset !== 1n) {
    f.add('unsupported-feature', `VMDK embedded descriptor starts at sector ${h.descOffset}, not 1`);
    return null;
  }
  if (h.descSize === 0n || h.descSize > DESCRIPTOR_MAX_SECTORS) {
    f.add('corrupt', `VMDK embedded descriptor size of ${h.descSize} sectors is invalid`);
    return null;
  }
  const r = view.region('vmdk:descriptor');
  if (!r || availability(r, r.wanted) !== 'ok') {
    f.add('corrupt', 'VMDK embedded descriptor runs past the end of the file');
    return null;
  }
  const d = parseVmdkDescriptor(r.data);
  if (d.badLines.length)
    f.add('corrupt', `VMDK descriptor line ${d.badLines[0]} is not valid descriptor syntax`);
  const createType = d.values.get('createType') ?? null;
  if (createType === null) f.add('corrupt', 'VMDK descriptor has no createType');
  else if (!ACCEPTED_CREATE_TYPES.includes(createType)) {
    f.add(
      'external-extent',
      `VMDK create type ${quote(createType)} refers to other files or is not supported`,
    );
  }
  const parentCid = d.values.get('parentCID');
  if (parentCid !== undefined && parentCid.toLowerCase() !== 'ffffffff') {
    f.add('backing-file', `VMDK descriptor has a parent (parentCID=${quote(parentCid)})`);
  }
  if (d.values.has('parentFileNameHint')) {
    f.add(
      'backing-file',
      `VMDK descriptor names a parent ${quote(d.values.get('parentFileNameHint') ?? '')}`,
    );
  }
  if (d.extents.length === 0) f.add('corrupt', 'VMDK descriptor lists no extent');
  if (d.extents.length > 1) f.add('external-extent', `VMDK descriptor lists ${d.extents.length} extents`);
  for (const e of d.extents) {
    if (e.type !== 'SPARSE')
      f.add('external-extent', `VMDK extent of type ${quote(e.type)} is not the image itself`);
    if (!isBareName(e.name)) f.add('external-extent', `VMDK extent names ${quote(e.name ?? '(nothing)')}`);
    if (e.sectors !== h.capacity) f.add('corrupt', 'VMDK extent size disagrees with the header capacity');
  }
  return createType;
}

/** The VMware stream layout: footer marker, footer (a header copy), end-of-stream marker. */
function streamFooter(view: FileView, header: Header, f: Findings): Header | null {
  const t = view.size >= 1536n + 512n ? view.bytes(view.size - 1536n, 1536) : null;
  if (!t) {
    f.add('corrupt', 'VMDK stream is too short for its footer');
    return null;
  }
  const b = new Bytes(t);
  const markerOk = b.u32le(8) === 0 && b.u32le(12) === MARKER_FOOTER;
  const eosOk = b.u64le(1024) === 0n && b.u32le(1032) === 0 && b.u32le(1036) === MARKER_EOS;
  if (!markerOk || !eosOk || !hasMagic(t, 512, KDMV)) {
    f.add('corrupt', 'VMDK stream footer or end-of-stream marker is missing (truncated stream?)');
    return null;
  }
  const footer = readHeader(b, 512);
  const same =
    footer.version === header.version &&
    footer.descOffset === header.descOffset &&
    footer.descSize === header.descSize &&
    footer.capacity === header.capacity &&
    footer.grain === header.grain &&
    footer.gtes === header.gtes &&
    footer.compression === header.compression;
  if (!same) {
    f.add('corrupt', 'VMDK stream footer disagrees with the header');
    return null;
  }
  return footer;
}

function checkGrainDirectory(
  view: FileView,
  h: Header,
  entries: bigint,
  fromHeader: boolean,
  f: Findings,
): void {
  const gdEnd = h.gdOffset * 512n + entries * 4n;
  if (h.gdOffset === 0n || gdEnd > view.size) {
    return f.add('corrupt', 'VMDK grain directory lies past the end of the file');
  }
  if (h.flags & FLAG_RGD && h.rgdOffset !== 0n && h.rgdOffset * 512n + entries * 4n > view.size) {
    return f.add('corrupt', 'VMDK redundant grain directory lies past the end of the file');
  }
  // Entries are followed only for a directory located by the head (a stream footer's is behind us).
  const r = fromHeader ? view.region('vmdk:gd') : undefined;
  if (!r) return;
  const count = Math.min(Number(entries), Math.floor(r.data.length / 4));
  const gtBytes = BigInt(h.gtes) * 4n;
  for (let i = 0; i < count; i++) {
    const gt = BigInt(r.data.readUInt32LE(i * 4));
    if (gt !== 0n && gt * 512n + gtBytes > view.size) {
      return f.add('corrupt', `VMDK grain directory entry ${i} points past the end of the file`);
    }
  }
}

function detectSparse(view: FileView, f: Findings): void {
  const b = new Bytes(view.head);
  let h = readHeader(b, 0);
  f.variant = 'sparse';
  f.virtualSize = h.capacity * 512n;
  f.claim(f.virtualSize);
  if (h.version < 1 || h.version > 3) {
    return f.add('unsupported-feature', `VMDK version ${h.version} is not supported`);
  }
  if (h.capacity === 0n) {
    if (h.descOffset !== 0n) {
      return f.add(
        'external-extent',
        'VMDK sparse header of capacity 0 makes qemu read its descriptor as a file',
      );
    }
    return f.add('corrupt', 'VMDK sparse header has capacity 0');
  }
  if (h.compression !== COMPRESSION_NONE && h.compression !== COMPRESSION_DEFLATE) {
    f.add('unsupported-feature', `VMDK compression algorithm ${h.compression} is unknown`);
  }
  const hint = view.bytes(
    BigInt(PARENT_HINT_AREA.offset),
    Math.min(PARENT_HINT_AREA.length, view.head.length - 512),
  );
  if (hint && hint.includes('parentFileNameHint')) {
    f.add('backing-file', 'VMDK descriptor area names a parent (parentFileNameHint)');
  }
  const createType = checkDescriptor(view, h, f);
  if (createType) f.variant = createType;
  if (createType === 'streamOptimized' && h.compression !== COMPRESSION_DEFLATE) {
    f.add('corrupt', 'VMDK streamOptimized image is not compressed');
  }
  if (createType === 'monolithicSparse' && h.compression !== COMPRESSION_NONE) {
    f.add('corrupt', 'VMDK monolithicSparse image is compressed');
  }
  let fromHeader = true;
  if (h.gdOffset === GD_AT_END) {
    // qemu then takes the whole header from the footer; it must agree with the head.
    const footer = streamFooter(view, h, f);
    if (!footer) return;
    h = footer;
    fromHeader = false;
  }
  const entries = gdEntries(h);
  if (entries === null) return f.add('corrupt', 'VMDK grain size or grain table size is invalid');
  if (!isPowerOfTwo(h.grain)) f.add('corrupt', `VMDK grain size ${h.grain} is not a power of two`);
  if (entries > MAX_GD_ENTRIES) return f.add('corrupt', 'VMDK grain directory is too large');
  if (h.grainOffset * 512n > view.size)
    return f.add('corrupt', 'VMDK file is truncated before its first grain');
  checkGrainDirectory(view, h, entries, fromHeader, f);
}

function detectDescriptorFile(view: FileView, f: Findings): void {
  f.variant = 'descriptor';
  const d = parseVmdkDescriptor(view.head);
  const createType = d.values.get('createType');
  if (createType) f.variant = createType;
  let total = 0n;
  for (const e of d.extents) total += e.sectors * 512n;
  f.virtualSize = total;
  f.claim(total);
  const names = d.extents.map((e) => quote(e.name ?? '(none)', 80)).join(', ');
  f.add(
    'external-extent',
    `VMDK descriptor file${createType ? ` (${quote(createType)})` : ''} refers to other files${names ? `: ${names}` : ''}`,
  );
  if (d.values.has('parentFileNameHint')) f.add('backing-file', 'VMDK descriptor file names a parent');
}

export const vmdkDetector: Detector = {
  name: 'vmdk',
  plan(head) {
    return hasMagic(head, 0, KDMV) ? safePlan(() => planSparse(head)) : [];
  },
  detect(view) {
    if (hasMagic(view.head, 0, KDMV)) return runDetector('vmdk', 'container', (f) => detectSparse(view, f));
    if (hasMagic(view.head, 0, COWD)) {
      return runDetector('vmdk', 'container', (f) => {
        f.variant = 'cowd';
        f.add('unsupported-feature', 'VMDK version 3 (COWD) sparse images are not supported');
      });
    }
    if (looksLikeDescriptorFile(view.head)) {
      return runDetector('vmdk', 'container', (f) => detectDescriptorFile(view, f));
    }
    return null;
  },
};
