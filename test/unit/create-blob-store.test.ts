import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createBlobStore,
  s3StoreFactory,
  s3StoreOptions,
} from '../../src/adapters/storage/create-blob-store.ts';
import { FileBlobStore } from '../../src/adapters/storage/file-blob-store.ts';
import { S3BlobStore } from '../../src/adapters/storage/s3-blob-store.ts';
import { loadConfig } from '../../src/config/config.ts';

describe('createBlobStore', () => {
  it('makes a file store, creating its root', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ims-factory-'));
    try {
      const store = await createBlobStore({ driver: 'file', root: join(dir, 'a', 'b') });
      expect(store).toBeInstanceOf(FileBlobStore);
      expect((await stat(join(dir, 'a', 'b'))).isDirectory()).toBe(true);
      await store.ping();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('makes an S3 store from the IMS_S3_* settings, without contacting it', async () => {
    const { s3 } = loadConfig({
      IMS_STORE: 's3',
      IMS_S3_BUCKET: 'images',
      IMS_S3_ENDPOINT: 'http://127.0.0.1:1',
      IMS_S3_ACCESS_KEY_ID: 'id',
      IMS_S3_SECRET_ACCESS_KEY: 'secret',
      IMS_S3_FORCE_PATH_STYLE: 'true',
      IMS_S3_KEY_PREFIX: 'ims/',
      IMS_S3_PART_SIZE: '8MiB',
    });
    const options = s3StoreOptions(s3!);
    expect(options).toEqual({
      bucket: 'images',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
      keyPrefix: 'ims/',
      partSize: 8 * 1024 * 1024,
      concurrency: 4,
      multipartCopyThreshold: 5 * 1024 ** 3,
    });
    const store = await createBlobStore({ driver: 's3', options });
    expect(store).toBeInstanceOf(S3BlobStore);
    expect(store.kind).toBe('s3');
    expect((store as S3BlobStore).keyPrefix).toBe('ims/');
    // Nothing listens on port 1: the health probe reports it.
    await expect(store.ping()).rejects.toThrow();
    (store as S3BlobStore).client.destroy();
  });

  it('leaves credentials to the AWS SDK chain when none are configured', () => {
    const { s3 } = loadConfig({ IMS_STORE: 's3', IMS_S3_BUCKET: 'images' });
    expect(s3StoreOptions(s3!)).not.toHaveProperty('credentials');
    expect(s3StoreOptions(s3!)).not.toHaveProperty('endpoint');
  });
});

describe('s3StoreFactory', () => {
  it('keeps the configured prefix for the default store and gives every other store its own', async () => {
    const { s3 } = loadConfig({
      IMS_STORES: 'default:s3,bulk:s3',
      IMS_S3_BUCKET: 'images',
      IMS_S3_KEY_PREFIX: 'ims/',
    });
    const factory = s3StoreFactory(s3!);
    const main = await factory({ name: 'default', options: {}, dataDir: '/nonexistent' });
    const bulk = await factory({ name: 'bulk', options: {}, dataDir: '/nonexistent' });
    expect(main).toBeInstanceOf(S3BlobStore);
    expect((main as S3BlobStore).keyPrefix).toBe('ims/');
    expect((bulk as S3BlobStore).keyPrefix).toBe('ims/bulk/');
    expect((bulk as S3BlobStore).bucket).toBe('images');
  });
});
