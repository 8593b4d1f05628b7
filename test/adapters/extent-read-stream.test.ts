import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExtentReadStream } from '../../src/adapters/extent-read-stream.ts';
import { qemuMapRaw } from '../../src/adapters/qemu-img.ts';

const MiB = 1024 * 1024;
let dir = '';
let file = '';
let bytes: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-extent-read-'));
  file = path.join(dir, 'sparse.raw');
  // 9 MiB + a bit: data at the start, in the middle and at the end, holes between.
  const handle = await fs.open(file, 'w');
  await handle.truncate(9 * MiB + 4096);
  await handle.write(randomBytes(MiB + 100), 0, MiB + 100, 0);
  await handle.write(randomBytes(64 * 1024), 0, 64 * 1024, 5 * MiB);
  await handle.write(randomBytes(4096), 0, 4096, 9 * MiB);
  await handle.close();
  bytes = await fs.readFile(file);
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const collect = async (stream: ExtentReadStream) => {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
};

describe('qemuMapRaw + ExtentReadStream', () => {
  it('maps the holes of a sparse file, and reads it back byte for byte without reading them', async () => {
    const extents = await qemuMapRaw(file, bytes.length, { workDir: dir });
    expect(extents).not.toBeNull();
    // Covers the file in order, with holes where nothing was written.
    let at = 0;
    for (const e of extents!) {
      expect(e.start).toBe(at);
      at += e.length;
    }
    expect(at).toBe(bytes.length);
    const holeBytes = extents!.filter((e) => e.hole).reduce((n, e) => n + e.length, 0);
    expect(holeBytes).toBeGreaterThan(6 * MiB);
    expect(extents!.some((e) => e.hole && e.start < 5 * MiB && e.start + e.length > 2 * MiB)).toBe(true);
    expect((await collect(new ExtentReadStream(file, extents!))).equals(bytes)).toBe(true);
  });

  it('gives no map when the size it must cover is not the file size', async () => {
    expect(await qemuMapRaw(file, bytes.length + 1, { workDir: dir })).toBeNull();
  });

  it('fails when the file ends before its map does', async () => {
    const extents = [{ start: 0, length: bytes.length + MiB, hole: false }];
    await expect(collect(new ExtentReadStream(file, extents))).rejects.toThrow(/before its map's end/);
  });

  it('reads a hole from the map as zeros, even where the file has data (the map is trusted)', async () => {
    // Why the map must come from qemu-img on our own file: the stream does not check it.
    const extents = [{ start: 0, length: bytes.length, hole: true }];
    const out = await collect(new ExtentReadStream(file, extents));
    expect(out.length).toBe(bytes.length);
    expect(out.every((b) => b === 0)).toBe(true);
  });
});
