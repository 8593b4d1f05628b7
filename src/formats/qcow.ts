import { Bytes, KiB, U64_MAX, ceilDiv, quote } from './bytes.ts';
import type { Findings } from './detection.ts';
import type { FileView, RegionRequest } from './view.ts';

/**
 * Legacy qcow (version 1): same magic as qcow2, a 48-byte BE header, no
 * feature bits. It can name a backing file and use AES, both refused. Limits
 * follow qemu's qcow_open (7.2). IMS accepts it under the declared disk format
 * `qcow2` and converts it with `-f qcow`.
 */
const TABLE_CAP = 512 * KiB;
const INT_MAX = 0x7fffffff;

interface Header {
  backingOffset: bigint;
  backingSize: number;
  size: bigint;
  clusterBits: number;
  l2Bits: number;
  cryptMethod: number;
  l1Offset: bigint;
}

function readHeader(b: Bytes): Header {
  b.slice(0, 48); // the whole header must be there
  return {
    backingOffset: b.u64be(8),
    backingSize: b.u32be(16),
    size: b.u64be(24),
    clusterBits: b.u8(32),
    l2Bits: b.u8(33),
    cryptMethod: b.u32be(36),
    l1Offset: b.u64be(40),
  };
}

const validBits = (h: Header) => h.clusterBits >= 9 && h.clusterBits <= 16 && h.l2Bits >= 6 && h.l2Bits <= 13;

/** L1 entries qemu allocates, or null when the size overflows (qemu: "Image too large"). */
function l1Entries(h: Header): bigint | null {
  const span = 1n << BigInt(h.clusterBits + h.l2Bits);
  if (h.size > U64_MAX - span) return null;
  const n = ceilDiv(h.size, span);
  return n > BigInt(Math.floor(INT_MAX / 8)) ? null : n;
}

export function planQcowV1(b: Bytes): RegionRequest[] {
  const h = readHeader(b);
  const out: RegionRequest[] = [];
  if (h.backingOffset !== 0n && h.backingSize > 0) {
    out.push({ key: 'qcow:backing', offset: h.backingOffset, length: Math.min(h.backingSize, 1023) });
  }
  const n = validBits(h) ? l1Entries(h) : null;
  if (n !== null && n > 0n) {
    out.push({ key: 'qcow:l1', offset: h.l1Offset, length: Math.min(Number(n) * 8, TABLE_CAP) });
  }
  return out;
}

export function detectQcowV1(view: FileView, f: Findings): void {
  f.variant = 'v1';
  const h = readHeader(new Bytes(view.head));
  f.virtualSize = (h.size / 512n) * 512n;
  f.claim(h.size);
  if (h.backingOffset !== 0n) {
    const name = view.region('qcow:backing')?.data ?? Buffer.alloc(0);
    f.add('backing-file', `qcow image names a backing file${name.length ? ` ${quote(name)}` : ''}`);
  }
  if (h.cryptMethod === 1) f.add('encrypted', 'qcow image is encrypted (AES)');
  else if (h.cryptMethod !== 0) f.add('corrupt', `qcow encryption method ${h.cryptMethod} is invalid`);
  if (!validBits(h)) {
    return f.add('corrupt', `qcow cluster bits ${h.clusterBits} / L2 bits ${h.l2Bits} are out of range`);
  }
  if (h.size <= 1n) return f.add('corrupt', 'qcow virtual size is too small');
  const n = l1Entries(h);
  if (n === null) return f.add('corrupt', 'qcow virtual size is too large for an L1 table');
  if (h.l1Offset + n * 8n > view.size) return f.add('corrupt', 'qcow L1 table lies past the end of the file');
  const l2Bytes = 8n << BigInt(h.l2Bits);
  const r = view.region('qcow:l1');
  if (!r) return;
  const count = Math.min(Number(n), Math.floor(r.data.length / 8));
  for (let i = 0; i < count; i++) {
    const l2 = r.data.readBigUInt64BE(i * 8);
    if (l2 !== 0n && l2 + l2Bytes > view.size) {
      return f.add('corrupt', `qcow L1 entry ${i} points past the end of the file`);
    }
  }
}
