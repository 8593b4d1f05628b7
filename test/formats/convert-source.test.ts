/**
 * How the conversion step gets the stored data to qemu-img (src/services/image-convert.ts): a file
 * store links the stored object into the private work dir, any other store is copied sparsely; the
 * output is the same guest data either way.
 */
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BlobStore } from '../../src/adapters/storage/blob-store.ts';
import { FileBlobStore } from '../../src/adapters/storage/file-blob-store.ts';
import { StoreRegistry } from '../../src/adapters/storage/store-registry.ts';
import { convertStoredImage, withConvertedFile } from '../../src/services/image-convert.ts';
import { IngestPipeline } from '../../src/services/ingest.ts';
import { createHash, randomBytes } from 'node:crypto';
import { convertToRaw, makeTempDir, qemuImg } from './qemu.ts';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
let dir: string;
let files: FileBlobStore;
let guest: Buffer;

/** The file store as a store that cannot link or adopt (as S3 cannot): every other method is the file store's. */
function withoutLink(store: FileBlobStore): BlobStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'linkLocal' || prop === 'adoptLocal') return undefined;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

const readdirOrEmpty = (d: string) => readdir(d).catch(() => []);

beforeAll(async () => {
  dir = await makeTempDir('convert-source');
  files = new FileBlobStore(path.join(dir, 'store'));
  // 64 MiB virtual: data in the first sector, an unaligned run in the middle and the last MiB.
  guest = Buffer.alloc(SIZE);
  randomBytes(512).copy(guest, 0);
  randomBytes(3 * MiB + 4097).copy(guest, 20 * MiB + 123);
  randomBytes(MiB).copy(guest, SIZE - MiB);
  const raw = path.join(dir, 'guest.raw');
  await writeFile(raw, guest);
  const qcow2 = path.join(dir, 'guest.qcow2');
  await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  for (const [key, file] of [
    ['images/raw', raw],
    ['images/qcow2', qcow2],
  ] as const) {
    const w = await files.openWriter(key);
    await pipeline(Readable.from([await readFile(file)]), w.stream);
    await w.commit();
  }
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the conversion source', () => {
  for (const [label, linking] of [
    ['a file store links the stored object', true],
    ['a store that cannot link is copied sparsely', false],
  ] as const) {
    for (const [from, to] of [
      ['raw', 'qcow2'],
      ['qcow2', 'raw'],
    ] as const) {
      it(`${label} (${from} → ${to}), and the output holds the same guest data`, async () => {
        const stores = new StoreRegistry([['s', linking ? files : withoutLink(files)]]);
        const workDir = path.join(dir, `work-${from}-${linking}`);
        const source = path.join(workDir, 'source');
        const stored = await stat(path.join(dir, 'store/objects/images', from));
        const out = await withConvertedFile(
          {
            source: { store: 's', key: `images/${from}`, diskFormat: from },
            targetFormat: to,
            workDir,
            maxVirtualSize: 1n << 40n,
          },
          stores,
          async (output) => {
            const st = await stat(source);
            if (linking) {
              expect([st.ino, st.nlink]).toEqual([stored.ino, 2]);
            } else {
              expect([st.size, st.nlink]).toEqual([stored.size, 1]);
              expect(st.ino).not.toBe(stored.ino);
              // The raw source's holes stay holes: about 4.5 MiB of data in 64 MiB.
              if (from === 'raw') expect(st.blocks * 512).toBeLessThan(8 * MiB);
            }
            return convertToRaw(output, to, dir);
          },
        );
        expect(out.equals(guest)).toBe(true);
        // The work dir is gone, and the stored object with it only lost its second name.
        await expect(stat(workDir)).rejects.toThrow(/ENOENT/);
        expect((await stat(path.join(dir, 'store/objects/images', from))).nlink).toBe(1);
      }, 60_000);
    }
  }

  for (const [label, linking] of [
    ['a file store adopts the output file (sparse, no copy)', true],
    ['a store that cannot link gets the output streamed', false],
  ] as const) {
    it(`${label}; hashes and inspection are the output's`, async () => {
      const store = linking ? files : withoutLink(files);
      const stores = new StoreRegistry([['s', store]]);
      const opened = vi.spyOn(files, 'openWriter');
      const ingest = new IngestPipeline(stores, { maxImageSize: 1 << 30, maxVirtualSize: 1n << 40n });
      const blob = await convertStoredImage(
        {
          source: { store: 's', key: 'images/qcow2', diskFormat: 'qcow2' },
          targetFormat: 'raw',
          target: { store: 's', blobId: `out-${linking}`, key: `images/out-${linking}` },
          workDir: path.join(dir, `work-ingest-${linking}`),
          maxVirtualSize: 1n << 40n,
        },
        stores,
        ingest,
      );
      expect(blob).toMatchObject({
        size: SIZE,
        diskFormat: 'raw',
        virtualSize: SIZE,
        checksum: createHash('md5').update(guest).digest('hex'),
        osHashValue: createHash('sha512').update(guest).digest('hex'),
      });
      const stored = path.join(dir, 'store/objects', blob.key);
      expect((await readFile(stored)).equals(guest)).toBe(true);
      // qemu-img writes holes where the guest has zeros; an adopted output keeps them, and a streamed
      // one gets them back from the store's sparse writes.
      expect(opened).toHaveBeenCalledTimes(linking ? 0 : 1);
      opened.mockRestore();
      const st = await stat(stored);
      expect([st.nlink, st.blocks * 512 < 8 * MiB]).toEqual([1, true]);
      expect(await readdirOrEmpty(path.join(dir, 'store/tmp'))).toEqual([]);
    }, 60_000);
  }

  for (const [from, to, driver] of [
    ['raw', 'vhdx', 'vhdx'],
    ['qcow2', 'vhd', 'vpc'],
  ] as const) {
    it(`converts ${from} → ${to} through the service: the output is inspected as ${to} and holds the guest data`, async () => {
      const stores = new StoreRegistry([['s', files]]);
      const ingest = new IngestPipeline(stores, { maxImageSize: 1 << 30, maxVirtualSize: 1n << 40n });
      const blob = await convertStoredImage(
        {
          source: { store: 's', key: `images/${from}`, diskFormat: from },
          targetFormat: to,
          target: { store: 's', blobId: `out-${to}`, key: `images/out-${to}` },
          workDir: path.join(dir, `work-${to}`),
          maxVirtualSize: 1n << 40n,
        },
        stores,
        ingest,
      );
      expect(blob.diskFormat).toBe(to);
      expect(blob.inspection).toMatchObject({ ok: true, format: to });
      // A VHD's size is rounded up to whole CHS cylinders: the guest data, then zeros.
      expect(blob.virtualSize).toBeGreaterThanOrEqual(SIZE);
      const raw = await convertToRaw(path.join(dir, 'store/objects', blob.key), driver, dir);
      expect(raw.length).toBe(blob.virtualSize);
      expect(raw.subarray(0, SIZE).equals(guest)).toBe(true);
      expect(raw.subarray(SIZE).equals(Buffer.alloc(raw.length - SIZE))).toBe(true);
    }, 60_000);
  }
});
