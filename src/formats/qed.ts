import { Bytes, KiB, MiB, hasMagic, isPowerOfTwo, quote } from './bytes.ts';
import { runDetector } from './detection.ts';
import { safePlan, type Detector, type RegionRequest } from './view.ts';

/**
 * QED: `QED\0`, LE. The OpenStack inspector bans it outright; IMS accepts it,
 * so the checks of qemu's qed_open (7.2) are ours: no backing file, no
 * unknown feature, not "needs check", sane cluster and table sizes, and the L1
 * table and every L2 table it points to inside the file.
 */
const MAGIC = Buffer.from('QED\0', 'latin1');
const F_BACKING_FILE = 1n;
const F_NEED_CHECK = 2n;
const F_BACKING_FORMAT_NO_PROBE = 4n;
const KNOWN_FEATURES = F_BACKING_FILE | F_NEED_CHECK | F_BACKING_FORMAT_NO_PROBE;
const TABLE_CAP = 512 * KiB;

interface Header {
  clusterSize: number;
  tableSize: number;
  headerSize: number;
  features: bigint;
  l1Offset: bigint;
  imageSize: bigint;
  backingOffset: number;
  backingSize: number;
}

function readHeader(b: Bytes): Header {
  b.slice(0, 64);
  return {
    clusterSize: b.u32le(4),
    tableSize: b.u32le(8),
    headerSize: b.u32le(12),
    features: b.u64le(16),
    l1Offset: b.u64le(40),
    imageSize: b.u64le(48),
    backingOffset: b.u32le(56),
    backingSize: b.u32le(60),
  };
}

const validCluster = (n: number) => isPowerOfTwo(n) && n >= 4 * KiB && n <= 64 * MiB;
const validTable = (n: number) => isPowerOfTwo(n) && n >= 1 && n <= 16;

export const qedDetector: Detector = {
  name: 'qed',
  plan(head) {
    if (!hasMagic(head, 0, MAGIC)) return [];
    return safePlan(() => {
      const h = readHeader(new Bytes(head));
      const out: RegionRequest[] = [];
      if (h.backingOffset !== 0 && h.backingSize > 0) {
        out.push({
          key: 'qed:backing',
          offset: BigInt(h.backingOffset),
          length: Math.min(h.backingSize, 1023),
        });
      }
      if (validCluster(h.clusterSize) && validTable(h.tableSize)) {
        const length = Math.min(h.tableSize * h.clusterSize, TABLE_CAP);
        out.push({ key: 'qed:l1', offset: h.l1Offset, length });
      }
      return out;
    });
  },
  detect(view) {
    if (!hasMagic(view.head, 0, MAGIC)) return null;
    return runDetector('qed', 'container', (f) => {
      f.variant = 'qed';
      const h = readHeader(new Bytes(view.head));
      f.virtualSize = h.imageSize;
      f.claim(h.imageSize);
      if (h.features & F_BACKING_FILE || h.backingOffset !== 0) {
        const name = view.region('qed:backing')?.data ?? Buffer.alloc(0);
        f.add('backing-file', `QED image names a backing file${name.length ? ` ${quote(name)}` : ''}`);
      } else if (h.features & F_BACKING_FORMAT_NO_PROBE) {
        f.add('backing-file', 'QED image declares a raw backing file');
      }
      if (h.features & F_NEED_CHECK) f.add('corrupt', 'QED image was not closed cleanly (needs check)');
      const unknown = h.features & ~KNOWN_FEATURES;
      if (unknown)
        f.add('unsupported-feature', `QED image has unknown feature bits 0x${unknown.toString(16)}`);
      if (!validCluster(h.clusterSize))
        return f.add('corrupt', `QED cluster size ${h.clusterSize} is invalid`);
      if (!validTable(h.tableSize)) return f.add('corrupt', `QED table size ${h.tableSize} is invalid`);
      const cluster = BigInt(h.clusterSize);
      if (h.headerSize === 0 || BigInt(h.headerSize) * cluster > 0xffffffffn) {
        return f.add('corrupt', `QED header size ${h.headerSize} is invalid`);
      }
      const entries = (BigInt(h.tableSize) * cluster) / 8n;
      if (h.imageSize % 512n !== 0n || h.imageSize > entries * entries * cluster) {
        f.add('corrupt', 'QED image size is not a multiple of 512 or exceeds what its tables can map');
      }
      // qemu rounds the file size down to a cluster and wants tables in whole clusters after the header.
      const fileEnd = (view.size / cluster) * cluster;
      const tableBytes = BigInt(h.tableSize) * cluster;
      const firstData = BigInt(h.headerSize) * cluster;
      const tableOk = (offset: bigint) =>
        offset % cluster === 0n && offset >= firstData && offset + tableBytes <= fileEnd;
      if (!tableOk(h.l1Offset))
        return f.add('corrupt', 'QED L1 table is misplaced or lies past the end of the file');
      const r = view.region('qed:l1');
      if (!r) return;
      const count = Math.min(Number(entries), Math.floor(r.data.length / 8));
      for (let i = 0; i < count; i++) {
        const l2 = r.data.readBigUInt64LE(i * 8);
        if (l2 !== 0n && !tableOk(l2)) {
          return f.add('corrupt', `QED L1 entry ${i} points outside the file`);
        }
      }
    });
  },
};
