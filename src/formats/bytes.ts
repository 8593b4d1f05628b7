import { OutOfBounds } from './errors.ts';

/**
 * Bounds-checked field reads over a buffer. Every parser goes through these so
 * that a short or hostile header ends in OutOfBounds (turned into a
 * "truncated" violation) instead of a RangeError or a silent zero.
 * 64-bit fields are read as bigint: sizes near 2^64 must not lose precision.
 */
export class Bytes {
  constructor(readonly buf: Buffer) {}

  get length(): number {
    return this.buf.length;
  }

  has(offset: number, length: number): boolean {
    return Number.isSafeInteger(offset) && offset >= 0 && length >= 0 && offset + length <= this.buf.length;
  }

  private check(offset: number, length: number): void {
    if (!this.has(offset, length)) throw new OutOfBounds(offset, length, this.buf.length);
  }

  u8(o: number): number {
    this.check(o, 1);
    return this.buf.readUInt8(o);
  }
  u16le(o: number): number {
    this.check(o, 2);
    return this.buf.readUInt16LE(o);
  }
  u16be(o: number): number {
    this.check(o, 2);
    return this.buf.readUInt16BE(o);
  }
  u32le(o: number): number {
    this.check(o, 4);
    return this.buf.readUInt32LE(o);
  }
  u32be(o: number): number {
    this.check(o, 4);
    return this.buf.readUInt32BE(o);
  }
  u64le(o: number): bigint {
    this.check(o, 8);
    return this.buf.readBigUInt64LE(o);
  }
  u64be(o: number): bigint {
    this.check(o, 8);
    return this.buf.readBigUInt64BE(o);
  }
  slice(o: number, length: number): Buffer {
    this.check(o, length);
    return this.buf.subarray(o, o + length);
  }
  latin1(o: number, length: number): string {
    return this.slice(o, length).toString('latin1');
  }
  isZero(o: number, length: number): boolean {
    const s = this.slice(o, length);
    for (let i = 0; i < s.length; i++) if (s[i] !== 0) return false;
    return true;
  }
}

/** True when `buf` holds `magic` at `offset` (false when too short: a partial magic is no magic). */
export function hasMagic(buf: Buffer, offset: number, magic: string | Buffer): boolean {
  const m = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : magic;
  if (offset < 0 || offset + m.length > buf.length) return false;
  return buf.subarray(offset, offset + m.length).equals(m);
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024n * 1024n * 1024n;
export const TiB = 1024n * GiB;
export const U64_MAX = (1n << 64n) - 1n;

export function isPowerOfTwo(n: bigint | number): boolean {
  const b = BigInt(n);
  return b > 0n && (b & (b - 1n)) === 0n;
}

export function roundUp(n: bigint, to: bigint): bigint {
  return ((n + to - 1n) / to) * to;
}

export function ceilDiv(n: bigint, d: bigint): bigint {
  return (n + d - 1n) / d;
}

/**
 * Quotes bytes from an image for a violation message: printable ASCII kept,
 * everything else escaped, and long names cut, so that a hostile name cannot
 * forge log lines or flood them.
 */
export function quote(raw: Buffer | string, max = 200): string {
  const s = typeof raw === 'string' ? raw : raw.toString('latin1');
  let out = '';
  for (const ch of s.slice(0, max)) {
    const c = ch.charCodeAt(0);
    out += c >= 0x20 && c < 0x7f && ch !== '"' && ch !== '\\' ? ch : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${out}${s.length > max ? '…' : ''}"`;
}

/**
 * A Microsoft-style GUID in its on-disk byte order (first three groups little
 * endian), as VHDX stores them.
 */
export function msGuid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  return Buffer.concat([
    Buffer.from(b.subarray(0, 4)).reverse(),
    Buffer.from(b.subarray(4, 6)).reverse(),
    Buffer.from(b.subarray(6, 8)).reverse(),
    b.subarray(8, 16),
  ]);
}
