import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFoundError } from '../../src/adapters/storage/blob-store.ts';
import type { BlobStore, ByteRange } from '../../src/adapters/storage/blob-store.ts';

/**
 * Behaviour every BlobStore driver must have. It uses nothing but the BlobStore interface, so the
 * same tests run on the file store and against a real S3 server. Each test works under its own
 * key prefix, so tests can share one store (and one bucket across runs).
 */
export function blobStoreConformance(
  name: string,
  makeStore: () => Promise<{ store: BlobStore; cleanup: () => Promise<void> }>,
): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let store: BlobStore;
    let cleanup: (() => Promise<void>) | undefined;
    const run = randomUUID();
    let tests = 0;
    const freshPrefix = () => `conformance-${run}/t${++tests}/`;

    beforeAll(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    it('round-trips a small object', async () => {
      const key = `${freshPrefix()}small.bin`;
      const data = Buffer.from('hello, image service\n');
      expect(await put(store, key, data)).toEqual({ size: data.length });
      expectBytes(await get(store, key), data);
      expect(await store.stat(key)).toEqual({ size: data.length });
    });

    it('round-trips an empty object', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}empty`;
      expect(await put(store, key, Buffer.alloc(0))).toEqual({ size: 0 });
      expect((await get(store, key)).length).toBe(0);
      expect(await store.stat(key)).toEqual({ size: 0 });
      expect(await listAll(store, prefix)).toEqual([{ key, size: 0 }]);
    });

    it('streams a 20 MiB object in and out without corruption', { timeout: 120_000 }, async () => {
      const key = `${freshPrefix()}big.raw`;
      const size = 20 * 1024 * 1024 + 7;
      const sent = createHash('sha256');
      const writer = await store.openWriter(key);
      await pipeline(
        Readable.from(
          (function* () {
            for (const chunk of patternChunks(1, size)) {
              sent.update(chunk);
              yield chunk;
            }
          })(),
        ),
        writer.stream,
      );
      expect(await writer.commit()).toEqual({ size });
      expect(await store.stat(key)).toEqual({ size });

      const received = createHash('sha256');
      let length = 0;
      for await (const chunk of await store.read(key)) {
        received.update(chunk as Buffer);
        length += (chunk as Buffer).length;
      }
      expect(length).toBe(size);
      expect(received.digest('hex')).toBe(sent.digest('hex'));

      // A range that straddles chunk boundaries deep inside the object.
      const range = { start: 10 * 1024 * 1024 - 3, end: 10 * 1024 * 1024 + 300_000 };
      expectBytes(await get(store, key, range), pattern(1, range.start, range.end - range.start + 1));
      expectBytes(await get(store, key, { start: size - 1, end: size - 1 }), pattern(1, size - 1, 1));
    });

    it('keeps uncommitted bytes invisible to read, stat and list', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}pending`;
      const writer = await store.openWriter(key);
      await write(writer.stream, pattern(2, 0, 100_000));
      await expectAbsent(store, prefix, key);

      await new Promise<void>((resolve) => writer.stream.end(pattern(2, 100_000, 1000), resolve));
      await expectAbsent(store, prefix, key);

      expect(await writer.commit()).toEqual({ size: 101_000 });
      expectBytes(await get(store, key), pattern(2, 0, 101_000));
      expect(await listAll(store, prefix)).toEqual([{ key, size: 101_000 }]);
    });

    it('abort leaves nothing behind and can be repeated', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}aborted`;
      const writer = await store.openWriter(key);
      await write(writer.stream, pattern(3, 0, 50_000));
      writer.stream.end();
      await writer.abort();
      await writer.abort();
      await expectAbsent(store, prefix, key);
    });

    it('abort before the stream is ended leaves nothing behind', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}half-written`;
      const writer = await store.openWriter(key);
      await write(writer.stream, pattern(3, 0, 50_000));
      await writer.abort();
      await expectAbsent(store, prefix, key);
    });

    it('commit after abort rejects and leaves nothing behind', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}too-late`;
      const writer = await store.openWriter(key);
      writer.stream.end(Buffer.from('data'));
      await writer.abort();
      await expect(writer.commit()).rejects.toThrow();
      await writer.abort();
      await expectAbsent(store, prefix, key);
    });

    it('a stream that fails mid-write, then abort, leaves nothing behind', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}broken`;
      const writer = await store.openWriter(key);
      const source = Readable.from(
        (function* () {
          yield pattern(4, 0, 64 * 1024);
          yield pattern(4, 64 * 1024, 64 * 1024);
          throw new Error('client went away');
        })(),
      );
      await expect(pipeline(source, writer.stream)).rejects.toThrow('client went away');
      await expect(writer.commit()).rejects.toThrow();
      await writer.abort();
      await expectAbsent(store, prefix, key);
    });

    it('abort after a successful commit keeps the object', async () => {
      const key = `${freshPrefix()}kept`;
      const writer = await store.openWriter(key);
      writer.stream.end(Buffer.from('keep me'));
      expect(await writer.commit()).toEqual({ size: 7 });
      await writer.abort();
      expect((await get(store, key)).toString()).toBe('keep me');
    });

    it('serves inclusive byte ranges', async () => {
      const key = `${freshPrefix()}ranged`;
      const data = pattern(5, 0, 1000);
      await put(store, key, data);
      const ranges: ByteRange[] = [
        { start: 0, end: 0 },
        { start: 100, end: 199 },
        { start: 999, end: 999 },
        { start: 1, end: 998 },
        { start: 0, end: 999 },
      ];
      for (const range of ranges) {
        expectBytes(await get(store, key, range), data.subarray(range.start, range.end + 1));
      }
    });

    it('rejects reading a missing key with BlobNotFoundError', async () => {
      const key = `${freshPrefix()}missing`;
      await expect(store.read(key)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.read(key, { start: 0, end: 0 })).rejects.toMatchObject({ key });
    });

    it('stat reports the committed size, or null', async () => {
      const prefix = freshPrefix();
      await put(store, `${prefix}sized`, pattern(6, 0, 12_345));
      expect(await store.stat(`${prefix}sized`)).toEqual({ size: 12_345 });
      expect(await store.stat(`${prefix}unknown`)).toBeNull();
    });

    it('copy makes an independent object', async () => {
      const prefix = freshPrefix();
      const [src, dst] = [`${prefix}src`, `${prefix}copies/dst`];
      const original = pattern(7, 0, 70_000);
      await put(store, src, original);
      await store.copy(src, dst);
      expectBytes(await get(store, dst), original);
      expect(await store.stat(dst)).toEqual({ size: original.length });

      await put(store, src, Buffer.from('changed'));
      expectBytes(await get(store, dst), original);
      await store.delete(src);
      expectBytes(await get(store, dst), original);
      expect(await listAll(store, prefix)).toEqual([{ key: dst, size: original.length }]);
    });

    it('copy replaces an existing destination', async () => {
      const prefix = freshPrefix();
      await put(store, `${prefix}a`, Buffer.from('from a'));
      await put(store, `${prefix}b`, pattern(8, 0, 5000));
      await store.copy(`${prefix}a`, `${prefix}b`);
      expect((await get(store, `${prefix}b`)).toString()).toBe('from a');
      expect(await store.stat(`${prefix}b`)).toEqual({ size: 6 });
    });

    it('copy of a missing key rejects with BlobNotFoundError and creates nothing', async () => {
      const prefix = freshPrefix();
      const [src, dst] = [`${prefix}nothing-here`, `${prefix}dst`];
      await expect(store.copy(src, dst)).rejects.toBeInstanceOf(BlobNotFoundError);
      await expect(store.copy(src, dst)).rejects.toMatchObject({ key: src });
      await expectAbsent(store, prefix, dst);
    });

    it('delete removes the object and is idempotent', async () => {
      const prefix = freshPrefix();
      const key = `${prefix}doomed`;
      await put(store, key, Buffer.from('bye'));
      await store.delete(key);
      await expectAbsent(store, prefix, key);
      await store.delete(key);
      await store.delete(`${prefix}never-existed`);
    });

    it('lists exactly the committed keys under a prefix, with sizes', async () => {
      const prefix = freshPrefix();
      const sizes: Record<string, number> = {
        a: 1,
        'b/c': 2,
        'b/d': 3,
        bb: 4,
        'b-e': 0,
        'c/d/e/f': 5,
        gone: 6,
      };
      for (const [key, size] of Object.entries(sizes)) await put(store, prefix + key, pattern(9, 0, size));
      await store.delete(`${prefix}gone`);
      const pending = await store.openWriter(`${prefix}b/pending`);
      await write(pending.stream, Buffer.from('not yet'));

      const expected = (...keys: string[]) =>
        keys.map((key) => ({ key: prefix + key, size: sizes[key] })).sort(byKey);
      expect(await listAll(store, prefix)).toEqual(expected('a', 'b/c', 'b/d', 'bb', 'b-e', 'c/d/e/f'));
      // A prefix is a string prefix of the key, not a directory name.
      expect(await listAll(store, `${prefix}b`)).toEqual(expected('b/c', 'b/d', 'bb', 'b-e'));
      expect(await listAll(store, `${prefix}b/`)).toEqual(expected('b/c', 'b/d'));
      expect(await listAll(store, `${prefix}c/d/e/f`)).toEqual(expected('c/d/e/f'));
      expect(await listAll(store, `${prefix}zz`)).toEqual([]);
      await pending.abort();
    });

    it('a second commit replaces the object atomically', async () => {
      const key = `${freshPrefix()}versioned`;
      const v1 = pattern(10, 0, 100_000);
      const v2 = pattern(11, 0, 60_000);
      await put(store, key, v1);

      const writer = await store.openWriter(key);
      await write(writer.stream, v2.subarray(0, 30_000));
      expectBytes(await get(store, key), v1);
      writer.stream.end(v2.subarray(30_000));
      expectBytes(await get(store, key), v1);

      expect(await writer.commit()).toEqual({ size: v2.length });
      expectBytes(await get(store, key), v2);
      expect(await store.stat(key)).toEqual({ size: v2.length });
    });

    it('concurrent commits to one key leave one whole version', async () => {
      const key = `${freshPrefix()}contended`;
      const versions = [pattern(12, 0, 300_000), pattern(13, 0, 200_000)];
      const writers = await Promise.all(versions.map(() => store.openWriter(key)));
      for (let offset = 0; offset < 300_000; offset += 50_000) {
        await Promise.all(
          writers.map((w, i) => write(w.stream, versions[i]!.subarray(offset, offset + 50_000))),
        );
      }
      writers.forEach((w) => w.stream.end());
      await Promise.all(writers.map((w) => w.commit()));

      const stored = await get(store, key);
      expect(versions.some((v) => v.equals(stored))).toBe(true);
      expect(await store.stat(key)).toEqual({ size: stored.length });
    });

    it('concurrent writers to different keys do not interfere', async () => {
      const prefix = freshPrefix();
      const count = 8;
      const keys = Array.from({ length: count }, (_, i) => `${prefix}parallel/${i}`);
      const sizeOf = (i: number) => 40_000 + i * 1111;
      const writers = await Promise.all(keys.map((key) => store.openWriter(key)));
      for (let offset = 0; offset < sizeOf(count - 1); offset += 8192) {
        await Promise.all(
          writers.map((w, i) =>
            offset < sizeOf(i)
              ? write(w.stream, pattern(100 + i, offset, Math.min(8192, sizeOf(i) - offset)))
              : null,
          ),
        );
      }
      writers.forEach((w) => w.stream.end());
      const results = await Promise.all(writers.map((w) => w.commit()));

      expect(results).toEqual(keys.map((_, i) => ({ size: sizeOf(i) })));
      for (const [i, key] of keys.entries())
        expectBytes(await get(store, key), pattern(100 + i, 0, sizeOf(i)));
      expect(await listAll(store, prefix)).toHaveLength(count);
    });

    it('rejects invalid keys in every operation', async () => {
      const prefix = freshPrefix();
      const valid = `${prefix}valid`;
      await put(store, valid, Buffer.from('x'));
      for (const bad of ['../x', '/abs', 'a//b', '', 'a/../b', 'a/', './a', 'a\\b', 'a b', 'x'.repeat(513)]) {
        const invalid = /invalid blob key/;
        await expect(store.openWriter(bad), bad).rejects.toThrow(invalid);
        await expect(store.read(bad), bad).rejects.toThrow(invalid);
        await expect(store.stat(bad), bad).rejects.toThrow(invalid);
        await expect(store.delete(bad), bad).rejects.toThrow(invalid);
        await expect(store.copy(bad, `${prefix}dst`), bad).rejects.toThrow(invalid);
        await expect(store.copy(valid, bad), bad).rejects.toThrow(invalid);
      }
      for (const bad of ['../', '/abs', 'a//b', '..', 'a/../']) {
        await expect(listAll(store, bad), bad).rejects.toThrow(/invalid blob key/);
      }
      expect(await listAll(store, prefix)).toEqual([{ key: valid, size: 1 }]);
    });
  });
}

async function put(store: BlobStore, key: string, data: Buffer): Promise<{ size: number }> {
  const writer = await store.openWriter(key);
  writer.stream.end(data);
  return writer.commit();
}

async function get(store: BlobStore, key: string, range?: ByteRange): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key, range)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listAll(store: BlobStore, prefix: string): Promise<{ key: string; size: number }[]> {
  const entries: { key: string; size: number }[] = [];
  for await (const entry of store.list(prefix)) entries.push(entry);
  // The interface does not promise an order.
  return entries.sort(byKey);
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Writes and waits until the driver has accepted the chunk. */
function write(stream: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : resolve())));
}

async function expectAbsent(store: BlobStore, prefix: string, key: string): Promise<void> {
  expect(await store.stat(key)).toBeNull();
  await expect(store.read(key)).rejects.toBeInstanceOf(BlobNotFoundError);
  expect(await listAll(store, prefix)).toEqual([]);
}

/** Compares by length and digest: a failure message with two 100 KB buffers helps nobody. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(sha256(actual)).toBe(sha256(expected));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Deterministic pseudo-random bytes, addressable by offset, so any slice of a large object can be
 * recomputed instead of kept in memory. Different seeds give unrelated content.
 */
function pattern(seed: number, offset: number, length: number): Buffer {
  const firstWord = Math.floor(offset / 4);
  const words = new Uint32Array(Math.ceil((offset + length) / 4) - firstWord);
  for (let i = 0; i < words.length; i++) words[i] = mix32((firstWord + i) ^ Math.imul(seed, 0x9e3779b9));
  const skip = offset - firstWord * 4;
  return Buffer.from(words.buffer, skip, length);
}

/** MurmurHash3's finaliser: a cheap bijection that scatters consecutive integers. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** An odd chunk size, so writes never line up with pages, blocks or multipart part sizes. */
function* patternChunks(seed: number, size: number, chunkSize = 256 * 1024 + 13): Generator<Buffer> {
  for (let offset = 0; offset < size; offset += chunkSize) {
    yield pattern(seed, offset, Math.min(chunkSize, size - offset));
  }
}
