/**
 * CRC-32C (Castagnoli), which VHDX uses for its headers, region tables and log
 * entries. Node's zlib only has the other CRC-32, so this is the usual table
 * implementation (reflected polynomial 0x82F63B78).
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32C of `buf`, computed as if the four bytes at `zeroAt` were zero (the
 * stored checksum field is zero while the checksum is computed).
 */
export function crc32c(buf: Buffer, zeroAt?: number): number {
  const from = zeroAt ?? -1;
  const to = zeroAt === undefined ? -1 : zeroAt + 4;
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) {
    const byte = i >= from && i < to ? 0 : (buf[i] as number);
    c = (TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}
