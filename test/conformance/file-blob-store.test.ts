import { statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlobNotFoundError } from '../../src/adapters/storage/blob-store.ts';
import { FileBlobStore } from '../../src/adapters/storage/file-blob-store.ts';
import { blobStoreConformance } from './blob-store.suite.ts';

const newRoot = () => mkdtemp(join(tmpdir(), 'ims-blob-'));

blobStoreConformance('file', async () => {
  const root = await newRoot();
  return { store: new FileBlobStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('FileBlobStore', () => {
  let root: string;
  let store: FileBlobStore;

  beforeEach(async () => {
    root = await newRoot();
    store = new FileBlobStore(root);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const tempFiles = () => readdir(join(root, 'tmp')).catch(() => []);

  async function put(key: string, data: string): Promise<void> {
    const writer = await store.openWriter(key);
    writer.stream.end(data);
    await writer.commit();
  }

  it('stores zero blocks as holes: same bytes and size, only the data on disk', async () => {
    const data = Buffer.alloc(16 * 1024 * 1024);
    data.fill(7, 0, 1024 * 1024);
    data.fill(9, 9 * 1024 * 1024 + 100, 9 * 1024 * 1024 + 5000);
    const writer = await store.openWriter('sparse/disk');
    // Uneven pieces written at once: batched writes (writev) across runs and holes.
    writer.stream.cork();
    for (let at = 0; at < data.length; at += 65_537) writer.stream.write(data.subarray(at, at + 65_537));
    writer.stream.uncork();
    writer.stream.end();
    expect(await writer.commit()).toEqual({ size: data.length });
    const file = join(root, 'objects', 'sparse', 'disk');
    expect((await readFile(file)).equals(data)).toBe(true);
    expect((await stat(file)).blocks * 512).toBeLessThan(2 * 1024 * 1024);
  });

  it('keeps committed objects at objects/<key> and no temp file after commit or copy', async () => {
    expect(store.kind).toBe('file');
    await put('images/1/disk', 'qcow2 bytes');
    await store.copy('images/1/disk', 'images/2/disk');
    expect(await readFile(join(root, 'objects/images/1/disk'), 'utf8')).toBe('qcow2 bytes');
    expect(await readFile(join(root, 'objects/images/2/disk'), 'utf8')).toBe('qcow2 bytes');
    expect(await tempFiles()).toEqual([]);
  });

  it('removes the temp file on abort, even before the stream is ended', async () => {
    const writer = await store.openWriter('images/1/disk');
    writer.stream.write('partial');
    expect(await tempFiles()).toHaveLength(1);
    await writer.abort();
    expect(await tempFiles()).toEqual([]);
  });

  it('removes the temp file when the stream fails, without waiting for abort', async () => {
    const writer = await store.openWriter('images/1/disk');
    writer.stream.write('partial');
    writer.stream.destroy(new Error('client went away'));
    await vi.waitFor(async () => expect(await tempFiles()).toEqual([]));
    await expect(writer.commit()).rejects.toThrow('client went away');
    await writer.abort();
  });

  it('rejects commit after abort and leaves no temp file', async () => {
    const writer = await store.openWriter('images/1/disk');
    writer.stream.end('complete');
    await writer.abort();
    await expect(writer.commit()).rejects.toThrow(/aborted/);
    expect(await tempFiles()).toEqual([]);
    expect(await store.stat('images/1/disk')).toBeNull();
  });

  it('rejects commit before the stream is ended, and discards the upload', async () => {
    const writer = await store.openWriter('images/1/disk');
    writer.stream.write('partial');
    await expect(writer.commit()).rejects.toThrow(/end the upload stream/);
    expect(await tempFiles()).toEqual([]);
  });

  it('purgeStaleUploads deletes only temp files older than the given age', async () => {
    expect(await store.purgeStaleUploads(0)).toBe(0);
    await put('images/old/disk', 'committed long ago');
    await utimes(join(root, 'objects/images/old/disk'), new Date(0), new Date(0));

    const stale = await store.openWriter('images/1/disk');
    stale.stream.write('abandoned');
    const [staleFile] = await tempFiles();
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(root, 'tmp', staleFile!), twoHoursAgo, twoHoursAgo);
    const fresh = await store.openWriter('images/2/disk');
    fresh.stream.write('still uploading');

    expect(await store.purgeStaleUploads(3600_000)).toBe(1);
    expect(await tempFiles()).toHaveLength(1);

    fresh.stream.end();
    await fresh.commit();
    expect((await store.stat('images/2/disk'))?.size).toBe('still uploading'.length);
    stale.stream.end();
    await expect(stale.commit()).rejects.toThrow();
    expect(await store.stat('images/1/disk')).toBeNull();
    expect(await store.stat('images/old/disk')).not.toBeNull();
    expect(await tempFiles()).toEqual([]);
  });

  it('prunes emptied directories on delete, so a key prefix can become a key', async () => {
    await put('images/1/disk', 'x');
    await store.delete('images/1/disk');
    expect(await readdir(join(root, 'objects'))).toEqual([]);
    await put('images', 'now a plain key');
    expect(await store.stat('images')).toEqual({ size: 15 });
  });

  it('treats a key that is a directory of other keys as missing', async () => {
    await put('images/1/disk', 'x');
    expect(await store.stat('images/1')).toBeNull();
    await expect(store.read('images/1')).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.copy('images/1', 'other')).rejects.toBeInstanceOf(BlobNotFoundError);
    await store.delete('images/1');
    expect(await store.stat('images/1/disk')).toEqual({ size: 1 });
  });

  it('lists in key order', async () => {
    for (const key of ['a0', 'a/x', 'a.x', 'a-x', 'b']) await put(key, 'x');
    const keys: string[] = [];
    for await (const { key } of store.list('a')) keys.push(key);
    expect(keys).toEqual(['a-x', 'a.x', 'a/x', 'a0']);
  });

  it('rejects ranges that start past the end of the object', async () => {
    await put('small', 'abc');
    await expect(store.read('small', { start: 3, end: 5 })).rejects.toBeInstanceOf(RangeError);
    await expect(store.read('small', { start: 2, end: 1 })).rejects.toBeInstanceOf(RangeError);
    const chunks: Buffer[] = [];
    for await (const chunk of await store.read('small', { start: 1, end: 99 })) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('bc');
  });

  it('writes nothing for a traversal key', async () => {
    await expect(store.openWriter('../escape')).rejects.toThrow(/invalid blob key/);
    await expect(store.copy('../../etc/passwd', 'stolen')).rejects.toThrow(/invalid blob key/);
    expect(await readdir(root)).toEqual([]);
  });

  it('ping resolves on a usable root and rejects on a missing one', async () => {
    await store.ping();
    await expect(new FileBlobStore(join(root, 'does-not-exist')).ping()).rejects.toThrow(/ENOENT/);
    await writeFile(join(root, 'a-file'), '');
    await expect(new FileBlobStore(join(root, 'a-file', 'sub')).ping()).rejects.toThrow();
  });

  it('linkLocal gives an object a second name without copying; missing keys and key prefixes are not found', async () => {
    await put('images/1/disk', 'stored bytes');
    const dest = join(root, 'linked');
    expect(await store.linkLocal('images/1/disk', dest)).toBe(true);
    expect(await readFile(dest, 'utf8')).toBe('stored bytes');
    const [a, b] = await Promise.all([stat(dest), stat(join(root, 'objects/images/1/disk'))]);
    expect([a.ino, a.nlink]).toEqual([b.ino, 2]);
    // Deleting the object leaves the second name readable; removing that one leaves the object.
    await store.delete('images/1/disk');
    expect(await readFile(dest, 'utf8')).toBe('stored bytes');
    await expect(store.linkLocal('images/1/disk', join(root, 'x'))).rejects.toBeInstanceOf(BlobNotFoundError);
    await put('images/2/disk', 'other');
    await expect(store.linkLocal('images/2', join(root, 'y'))).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.linkLocal('images/2/disk', dest)).rejects.toThrow(/EEXIST/);
  });

  // /dev/shm is a tmpfs on Linux: another file system than the temp dir, unless the temp dir is one too.
  const shm = statSync('/dev/shm', { throwIfNoEntry: false });
  it.skipIf(!shm || shm.dev === statSync(tmpdir()).dev)(
    'linkLocal and adoptLocal answer no across file systems, and the caller copies',
    async () => {
      await put('images/1/disk', 'stored bytes');
      const shm = await mkdtemp('/dev/shm/ims-link-');
      try {
        expect(await store.linkLocal('images/1/disk', join(shm, 'linked'))).toBe(false);
        expect(await readdir(shm)).toEqual([]);
        await writeFile(join(shm, 'converted'), 'bytes');
        expect(await store.adoptLocal('images/2/disk', join(shm, 'converted'))).toBeNull();
        expect(await tempFiles()).toEqual([]);
      } finally {
        await rm(shm, { recursive: true, force: true });
      }
    },
  );

  it('adoptLocal takes a local file as an object without copying, visible only on commit', async () => {
    const file = join(root, 'converted');
    await writeFile(file, 'converted bytes');
    const written = new Date(Date.now() - 2 * 24 * 3600_000);
    await utimes(file, written, written);
    const session = await store.adoptLocal('images/1/disk', file);
    expect(session).not.toBeNull();
    // The session is as old as the adoption, not as the file's last write.
    expect(await store.purgeStaleUploads(3600_000)).toBe(0);
    expect(await store.stat('images/1/disk')).toBeNull();
    expect(await tempFiles()).toHaveLength(1);
    expect(await session!.commit()).toEqual({ size: 15 });
    expect(await session!.commit()).toEqual({ size: 15 });
    await session!.abort(); // after a commit: a no-op
    const [a, b] = await Promise.all([stat(file), stat(join(root, 'objects/images/1/disk'))]);
    expect([b.ino, b.nlink]).toEqual([a.ino, 2]);
    expect(await tempFiles()).toEqual([]);

    const dropped = await store.adoptLocal('images/2/disk', file);
    await dropped!.abort();
    await dropped!.abort();
    expect(await store.stat('images/2/disk')).toBeNull();
    expect(await tempFiles()).toEqual([]);
    expect((await stat(file)).nlink).toBe(2);
    await expect(store.adoptLocal('images/3/disk', join(root, 'missing'))).rejects.toThrow(/ENOENT/);
    expect(await tempFiles()).toEqual([]);
  });
});
