import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SparseFileWriter, SparseHandleWriter } from '../../src/adapters/sparse-file-writer.ts';

const MiB = 1024 * 1024;
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ims-sparse-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Streams `data` in pieces of the given sizes (cycled), so block boundaries fall inside and across chunks. */
function chunked(data: Buffer, sizes: number[]): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    pieces.push(data.subarray(at, at + n));
    at += n;
  }
  return Readable.from(pieces);
}

describe('SparseFileWriter', () => {
  it('writes the same bytes, leaving all-zero blocks as holes and a trailing hole by length', async () => {
    const data = Buffer.alloc(8 * MiB);
    randomBytes(3 * MiB + 123).copy(data, 0); // a run ending inside a block
    randomBytes(1).copy(data, 5 * MiB + 4095); // one byte at the end of a block
    randomBytes(700).copy(data, 6 * MiB - 350); // a run across a block boundary
    const file = join(dir, 'out');
    const writer = new SparseFileWriter(file);
    await pipeline(chunked(data, [1000, 65536, 4096, 1 * MiB + 7]), writer);

    expect((await readFile(file)).equals(data)).toBe(true);
    const st = await stat(file);
    expect(st.size).toBe(data.length);
    // Only the blocks holding data were written: 3 MiB and the block the first run ends in, the one
    // block of the single byte, the two blocks the last run spans.
    expect(writer.dataBytes).toBe(3 * MiB + 4 * 4096);
    expect(st.blocks * 512).toBeLessThan(4 * MiB);
  });

  it('writes an all-zero stream as one hole, and an empty stream as an empty file', async () => {
    const zeros = join(dir, 'zeros');
    await pipeline(Readable.from([Buffer.alloc(3 * MiB), Buffer.alloc(17)]), new SparseFileWriter(zeros));
    expect((await stat(zeros)).size).toBe(3 * MiB + 17);
    expect((await stat(zeros)).blocks).toBe(0);
    expect((await readFile(zeros)).equals(Buffer.alloc(3 * MiB + 17))).toBe(true);

    const empty = join(dir, 'empty');
    await pipeline(Readable.from([]), new SparseFileWriter(empty));
    expect((await stat(empty)).size).toBe(0);
  });

  it('writes chunks queued together in runs that cross chunk boundaries, and skips holes between them', async () => {
    const data = Buffer.alloc(4 * MiB);
    randomBytes(10_000).copy(data, 4096 - 3); // starts 3 bytes before a block boundary
    randomBytes(2 * MiB).copy(data, MiB + 1);
    const file = join(dir, 'batched');
    const writer = new SparseFileWriter(file);
    writer.cork();
    for (let at = 0; at < data.length; at += 5000) writer.write(data.subarray(at, at + 5000));
    writer.uncork();
    await pipeline(Readable.from([]), writer);
    expect((await readFile(file)).equals(data)).toBe(true);
    // Blocks 0..3 hold the 10,000 bytes from 4093, but the chunk boundary at 15,000 splits block 3 and
    // its all-zero tail (15,000..16,383) is skipped; then MiB+1 .. 3 MiB+1: 512 blocks plus a partial one.
    expect(writer.dataBytes).toBe(15_000 + 2 * MiB + 4096);
  });

  it('refuses to write over an existing file', async () => {
    const file = join(dir, 'exists');
    await writeFile(file, 'stored');
    await expect(pipeline(Readable.from([Buffer.from('x')]), new SparseFileWriter(file))).rejects.toThrow(
      /EEXIST/,
    );
    expect(await readFile(file, 'utf8')).toBe('stored');
  });
});

describe('SparseHandleWriter', () => {
  it('flushes written data in the background every flushEvery bytes, and leaves the handle open', async () => {
    const data = randomBytes(5 * MiB);
    const handle = await open(join(dir, 'flushed'), 'w');
    const datasync = vi.spyOn(handle, 'datasync');
    await pipeline(
      chunked(data, [MiB]),
      new SparseHandleWriter(handle, { highWaterMark: MiB, flushEvery: 2 * MiB }),
    );
    expect(datasync.mock.calls.length).toBeGreaterThanOrEqual(1);
    expect(datasync.mock.calls.length).toBeLessThanOrEqual(2);
    await handle.sync(); // still open: the owner's
    await handle.close();
    expect((await readFile(join(dir, 'flushed'))).equals(data)).toBe(true);
  });

  it('fails the stream when a background flush fails', async () => {
    const handle = await open(join(dir, 'failing'), 'w');
    vi.spyOn(handle, 'datasync').mockRejectedValue(
      Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }),
    );
    const writer = new SparseHandleWriter(handle, { highWaterMark: MiB, flushEvery: MiB });
    await expect(pipeline(chunked(randomBytes(4 * MiB), [MiB]), writer)).rejects.toThrow(/EIO/);
    await handle.close();
  });
});
