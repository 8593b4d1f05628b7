import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FormatInspectionError } from './errors.ts';
import type { RandomAccessReader } from './types.ts';

/** A reader over bytes already in memory (tests, small objects). */
export function bufferReader(buf: Buffer): RandomAccessReader {
  return {
    size: BigInt(buf.length),
    read: async (offset, length) => buf.subarray(Number(offset), Number(offset) + length),
  };
}

/** A reader over a local file. Close it when done. */
export async function openFileReader(path: string): Promise<RandomAccessReader & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat({ bigint: true });
  return {
    size,
    async read(offset, length) {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(buf, done, length - done, Number(offset) + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return buf.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

/**
 * A reader over any store that serves inclusive byte ranges as streams (the
 * BlobStore's `read(key, { start, end })`, an S3 ranged GET).
 */
export function rangeReader(
  size: bigint,
  openRange: (start: number, endInclusive: number) => Promise<Readable>,
): RandomAccessReader {
  return {
    size,
    async read(offset, length) {
      if (offset + BigInt(length) > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new FormatInspectionError('misuse', 'offset beyond what the range reader can address');
      }
      const start = Number(offset);
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of await openRange(start, start + length - 1)) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        chunks.push(b);
        total += b.length;
        if (total >= length) break;
      }
      return Buffer.concat(chunks, Math.min(total, length));
    },
  };
}
