import { createHash, randomBytes } from 'node:crypto';
import { HeadObjectCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BlobNotFoundError } from '../../src/adapters/storage/blob-store.ts';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/adapters/storage/s3-blob-store.ts';
import { partSizeFor } from '../../src/adapters/storage/s3-blob-writer.ts';
import { emptyTestStore, ensureTestBucket, s3StoreOptions, s3TestServer } from '../helpers/s3.ts';
import { blobStoreConformance } from './blob-store.suite.ts';

/** Swift under CI load can take seconds to show a multipart upload or part; vi.waitFor's default is 1 s. */
const SLOW_S3 = { timeout: 30_000, interval: 100 };

const MiB = 1024 * 1024;
const server = s3TestServer();

if (!server) {
  describe.skip('S3BlobStore (no S3 server: eval "$(../shared/services/s3-up.sh)" to run these)', () => {
    it('needs S3_ENDPOINT', () => undefined);
  });
} else {
  // The smallest part S3 allows, so the conformance suite's 20 MiB object is a 5-part upload.
  blobStoreConformance('s3', async () => {
    const store = new S3BlobStore(s3StoreOptions(server, { partSize: 5 * MiB, concurrency: 2 }));
    await ensureTestBucket(store);
    return { store, cleanup: () => emptyTestStore(store) };
  });

  describe('S3BlobStore', () => {
    const stores: S3BlobStore[] = [];
    const newStore = async (extra: Partial<S3BlobStoreOptions> = {}) => {
      const store = new S3BlobStore(s3StoreOptions(server, { partSize: 5 * MiB, concurrency: 2, ...extra }));
      await ensureTestBucket(store);
      stores.push(store);
      return store;
    };
    let store: S3BlobStore;
    beforeAll(async () => {
      store = await newStore();
    });
    afterAll(async () => {
      for (const s of stores) await emptyTestStore(s);
    });

    const etagOf = async (s: S3BlobStore, key: string) => {
      const out = await s.client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: fullKey(s, key) }));
      return out.ETag ?? '';
    };
    const contentTypeOf = async (s: S3BlobStore, key: string) => {
      const out = await s.client.send(new HeadObjectCommand({ Bucket: s.bucket, Key: fullKey(s, key) }));
      return out.ContentType;
    };
    const pending = async (s: S3BlobStore) => {
      const uploads: string[] = [];
      for await (const u of s.pendingUploads()) uploads.push(u.key);
      return uploads;
    };

    it('sends an object larger than a part as a multipart upload, invisible until commit', async () => {
      const key = 'multi/disk';
      const data = randomBytes(12 * MiB + 3);
      const writer = await store.openWriter(key);
      await write(writer.stream, data.subarray(0, 6 * MiB));
      // The first part is on its way: the upload exists, the object does not.
      await vi.waitFor(async () => expect(await pending(store)).toEqual([fullKey(store, key)]), SLOW_S3);
      expect(await store.stat(key)).toBeNull();
      writer.stream.end(data.subarray(6 * MiB));
      expect(await writer.commit()).toEqual({ size: data.length });
      expect(await pending(store)).toEqual([]);
      expect(await etagOf(store, key)).toMatch(/-3"$/);
      expect(sha256(await get(store, key))).toBe(sha256(data));
      // Not the server's default: glanceclient reads any other type as text.
      expect(await contentTypeOf(store, key)).toBe('application/octet-stream');

      // Ranges inside a part, across part boundaries and at the end.
      for (const [start, end] of [
        [0, 0],
        [5 * MiB - 10, 5 * MiB + 10],
        [5 * MiB, 10 * MiB],
        [3 * MiB, 12 * MiB + 2],
        [12 * MiB + 2, 12 * MiB + 2],
        [10 * MiB, 20 * MiB],
      ] as const) {
        const got = await get(store, key, { start, end });
        expect(got.equals(data.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
      }
      await expect(store.read(key, { start: data.length, end: data.length + 5 })).rejects.toBeInstanceOf(
        RangeError,
      );
    });

    it('sends an object that fits in one part as a single PUT on commit', async () => {
      const writer = await store.openWriter('single');
      writer.stream.end(randomBytes(5 * MiB - 1));
      await writer.commit();
      expect(await etagOf(store, 'single')).not.toContain('-');
      expect(await contentTypeOf(store, 'single')).toBe('application/octet-stream');
      expect(await pending(store)).toEqual([]);
    });

    it('doubles the part size every partsPerTier parts', async () => {
      expect([1, 1000, 1001, 2001, 9000].map((n) => partSizeFor(n, 16 * MiB, 1000) / MiB)).toEqual([
        16, 16, 32, 64, 4096,
      ]);
      expect(partSizeFor(10_000, 1024 * MiB, 1000)).toBe(5 * 1024 * MiB);
      const growing = await newStore({ partsPerTier: 2 });
      const data = randomBytes(24 * MiB + 5); // parts of 5, 5, 10 MiB, then a 4 MiB tail
      const writer = await growing.openWriter('growing');
      await pipeline(Readable.from(chunks(data, 300_001)), writer.stream);
      expect(await writer.commit()).toEqual({ size: data.length });
      expect(await etagOf(growing, 'growing')).toMatch(/-4"$/);
      expect(sha256(await get(growing, 'growing'))).toBe(sha256(data));
    });

    it('copies objects over the multipart-copy threshold part by part on the server', async () => {
      const copier = await newStore({ multipartCopyThreshold: 5 * MiB });
      const data = randomBytes(11 * MiB + 1);
      await put(copier, 'src', data);
      await copier.copy('src', 'dst');
      expect(await etagOf(copier, 'dst')).toMatch(/-3"$/);
      expect(sha256(await get(copier, 'dst'))).toBe(sha256(data));
      expect(await copier.stat('dst')).toEqual({ size: data.length });
      // At the threshold, one CopyObject.
      await put(copier, 'small', data.subarray(0, 5 * MiB));
      await copier.copy('small', 'small-copy');
      expect(await etagOf(copier, 'small-copy')).not.toContain('-');
      expect(await pending(copier)).toEqual([]);
      await copier.delete('src');
      expect(sha256(await get(copier, 'dst'))).toBe(sha256(data));
      await expect(copier.copy('src', 'dst2')).rejects.toBeInstanceOf(BlobNotFoundError);
    });

    it('abort and a failed stream leave no multipart upload behind', async () => {
      const aborting = await newStore();
      const writer = await aborting.openWriter('aborted');
      await write(writer.stream, randomBytes(11 * MiB));
      await vi.waitFor(async () => expect(await pending(aborting)).toHaveLength(1), SLOW_S3);
      await writer.abort();
      expect(await pending(aborting)).toEqual([]);

      const broken = await aborting.openWriter('broken');
      await write(broken.stream, randomBytes(11 * MiB));
      await vi.waitFor(async () => expect(await pending(aborting)).toHaveLength(1), SLOW_S3);
      broken.stream.destroy(new Error('client went away'));
      // Without anyone calling abort().
      await vi.waitFor(async () => expect(await pending(aborting)).toEqual([]), SLOW_S3);
      await expect(broken.commit()).rejects.toThrow('client went away');
      expect(await aborting.stat('broken')).toBeNull();
    });

    it('purges uploads idle for longer than the given age, and only those', async () => {
      const purging = await newStore();
      const other = await newStore();
      // One byte over a part, so that the first part is sent.
      const stale = await purging.openWriter('stale');
      await write(stale.stream, randomBytes(5 * MiB + 1));
      const slow = await purging.openWriter('slow');
      await write(slow.stream, randomBytes(5 * MiB + 1));
      const elsewhere = await other.openWriter('elsewhere');
      await write(elsewhere.stream, randomBytes(5 * MiB + 1));
      await vi.waitFor(async () => expect(await pending(purging)).toHaveLength(2), SLOW_S3);
      await vi.waitFor(async () => expect(await pending(other)).toHaveLength(1), SLOW_S3);
      await sleep(2500);
      // The slow upload sends another part: started long ago, but alive.
      await write(slow.stream, randomBytes(5 * MiB + 1));
      await vi.waitFor(async () => expect(await partCount(purging, 'slow')).toBe(2), SLOW_S3);

      expect(await purging.purgeStaleUploads(60_000)).toBe(0);
      expect(await purging.purgeStaleUploads(1500)).toBe(1);
      expect(await pending(purging)).toEqual([fullKey(purging, 'slow')]);
      // Another store's prefix is not this store's business.
      expect(await pending(other)).toHaveLength(1);

      slow.stream.end();
      expect(await slow.commit()).toEqual({ size: 10 * MiB + 2 });
      stale.stream.end();
      await expect(stale.commit()).rejects.toThrow();
      expect(await purging.stat('stale')).toBeNull();
      await elsewhere.abort();
      expect(await pending(purging)).toEqual([]);
    });

    it('presigns GET URLs that serve the object and its ranges, and expire', async () => {
      const data = randomBytes(7 * MiB);
      await put(store, 'presigned', data);
      const url = await store.presignedUrl('presigned', 60);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
      const ranged = await fetch(url, { headers: { range: 'bytes=100-199' } });
      expect(ranged.status).toBe(206);
      expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);

      const shortLived = await store.presignedUrl('presigned', 1);
      await sleep(2100);
      expect((await fetch(shortLived)).status).toBe(403);
      await expect(store.presignedUrl('../x', 60)).rejects.toThrow(/invalid blob key/);
    });

    it('keeps each store inside its key prefix', async () => {
      const a = await newStore();
      const b = await newStore();
      await put(a, 'same/key', Buffer.from('from a'));
      expect(await b.stat('same/key')).toBeNull();
      const listed: string[] = [];
      for await (const entry of a.list('')) listed.push(entry.key);
      expect(listed).toEqual(['same/key']);
      await b.delete('same/key');
      expect((await get(a, 'same/key')).toString()).toBe('from a');
    });

    it('ping fails on a missing bucket or a wrong secret', async () => {
      await store.ping();
      expect(store.kind).toBe('s3');
      await expect(
        new S3BlobStore(s3StoreOptions(server, { bucket: 'no-such-bucket-here' })).ping(),
      ).rejects.toThrow();
      const wrong = s3StoreOptions(server, {
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'wrong' },
      });
      await expect(new S3BlobStore(wrong).ping()).rejects.toThrow();
      await expect(new S3BlobStore(wrong).stat('x')).rejects.toThrow();
    });

    it('refuses options S3 cannot honour', () => {
      const bad: Partial<S3BlobStoreOptions>[] = [
        { partSize: 5 * MiB - 1 },
        { partSize: 6 * 1024 * MiB },
        { concurrency: 0 },
        { multipartCopyThreshold: 1024 },
        { keyPrefix: 'no-slash' },
        { keyPrefix: '../up/' },
      ];
      for (const extra of bad) expect(() => new S3BlobStore(s3StoreOptions(server, extra))).toThrow();
    });
  });
}

/** The object's key in the bucket. */
function fullKey(store: S3BlobStore, key: string): string {
  return store.keyPrefix + key;
}

async function partCount(store: S3BlobStore, key: string): Promise<number> {
  for await (const upload of store.pendingUploads()) {
    if (upload.key !== fullKey(store, key)) continue;
    const out = await store.client.send(
      new ListPartsCommand({ Bucket: store.bucket, Key: upload.key, UploadId: upload.uploadId }),
    );
    return out.Parts?.length ?? 0;
  }
  return 0;
}

async function put(store: S3BlobStore, key: string, data: Buffer): Promise<void> {
  const writer = await store.openWriter(key);
  writer.stream.end(data);
  await writer.commit();
}

async function get(store: S3BlobStore, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await store.read(key, range)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function write(stream: Writable, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : resolve())));
}

function* chunks(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
