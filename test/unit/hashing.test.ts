import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { HashingMeter } from '../../src/adapters/hashing.ts';

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
const chunks = (data: Buffer, size: number) => {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
};

describe('HashingMeter', () => {
  // The worker reads through a 4 MiB ring: chunks larger than half of it are split, and a piece
  // that does not fit before the ring's end starts over at its beginning.
  for (const size of [3 * 1024 * 1024 + 1, 1024 * 1024 - 3, 7 * 1024 * 1024]) {
    it(`hashes large data arriving in chunks of ${size} bytes like one md5 of it`, async () => {
      const data = randomBytes(23 * 1024 * 1024 + 5);
      const meter = new HashingMeter(Number.MAX_SAFE_INTEGER, () => new Error('too large'));
      await pipeline(Readable.from(chunks(data, size)), meter, sink());
      expect(meter.digests().md5).toBe(createHash('md5').update(data).digest('hex'));
      expect(meter.digests().size).toBe(data.length);
    });
  }
  for (const [label, length] of [
    ['empty', 0],
    ['small (hashed inline)', 1000],
    ['large (md5 on a worker thread)', 9 * 1024 * 1024 + 7],
  ] as const) {
    it(`computes md5, sha512 and size of ${label} data`, async () => {
      const data = randomBytes(length);
      const meter = new HashingMeter(Number.MAX_SAFE_INTEGER, () => new Error('too large'));
      await pipeline(Readable.from(chunks(data, 65536)), meter, sink());
      expect(meter.digests()).toEqual({
        md5: createHash('md5').update(data).digest('hex'),
        sha512: createHash('sha512').update(data).digest('hex'),
        size: length,
      });
    });
  }

  it('passes every byte through unchanged and in order', async () => {
    const data = randomBytes(6 * 1024 * 1024);
    const seen: Buffer[] = [];
    const meter = new HashingMeter(Number.MAX_SAFE_INTEGER, () => new Error('too large'));
    await pipeline(
      Readable.from(chunks(data, 100_000)),
      meter,
      new Writable({ write: (c, _e, cb) => (seen.push(c), cb()) }),
    );
    expect(Buffer.concat(seen).equals(data)).toBe(true);
  });

  it('fails the stream once the limit is passed, with the given error', async () => {
    const meter = new HashingMeter(5 * 1024 * 1024, () => new Error('over the limit'));
    const data = Buffer.alloc(6 * 1024 * 1024);
    await expect(pipeline(Readable.from(chunks(data, 65536)), meter, sink())).rejects.toThrow(
      'over the limit',
    );
    expect(() => meter.digests()).toThrow();
  });
});
