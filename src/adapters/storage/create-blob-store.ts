import { mkdir } from 'node:fs/promises';
import { DEFAULT_STORE_NAME, type Config, type S3Settings } from '../../config/config.ts';
import { createStoreRegistry, type BlobStoreFactory, type StoreRegistry } from './store-registry.ts';
import type { BlobStore } from './blob-store.ts';
import { FileBlobStore } from './file-blob-store.ts';
import type { S3BlobStoreOptions } from './s3-blob-store.ts';

/** One store: which driver, and that driver's options. */
export type BlobStoreSpec = { driver: 'file'; root: string } | { driver: 's3'; options: S3BlobStoreOptions };

/**
 * Builds a store from its spec. It reads no global configuration, so a deployment with several
 * named stores calls it once per store.
 */
export async function createBlobStore(spec: BlobStoreSpec): Promise<BlobStore> {
  switch (spec.driver) {
    case 'file':
      await mkdir(spec.root, { recursive: true });
      return new FileBlobStore(spec.root);
    case 's3': {
      // Loaded on demand: a deployment on files never loads the AWS SDK.
      const { S3BlobStore } = await import('./s3-blob-store.ts');
      return new S3BlobStore(spec.options);
    }
  }
}

/** The S3 driver's options from the IMS_S3_* settings. */
export function s3StoreOptions(settings: S3Settings): S3BlobStoreOptions {
  return {
    bucket: settings.bucket,
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    ...(settings.accessKeyId && settings.secretAccessKey
      ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
      : {}),
    keyPrefix: settings.keyPrefix,
    partSize: settings.partSize,
    concurrency: settings.concurrency,
    multipartCopyThreshold: settings.multipartCopyThreshold,
  };
}

/**
 * The `s3` driver for named stores: every s3 store shares the IMS_S3_* settings; the store
 * named `default` keeps the configured key prefix, any other store lives under `<prefix><name>/`
 * so that two stores in one bucket never see each other's objects.
 */
export function s3StoreFactory(settings: S3Settings): BlobStoreFactory {
  return ({ name }) => {
    const keyPrefix = name === DEFAULT_STORE_NAME ? settings.keyPrefix : `${settings.keyPrefix}${name}/`;
    return createBlobStore({ driver: 's3', options: { ...s3StoreOptions(settings), keyPrefix } });
  };
}

/**
 * The stores a deployment's configuration names (IMS_STORE / IMS_STORES, IMS_S3_*), for the
 * server and for every command that must reach the same bytes (`ims audit export`, …).
 */
export function openConfiguredStores(
  config: Pick<Config, 'stores' | 'dataDir' | 's3'>,
  extraFactories: Readonly<Record<string, BlobStoreFactory>> = {},
): Promise<StoreRegistry> {
  const factories = { ...(config.s3 ? { s3: s3StoreFactory(config.s3) } : {}), ...extraFactories };
  return createStoreRegistry(config.stores, config.dataDir, factories);
}
