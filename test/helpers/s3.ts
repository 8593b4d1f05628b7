import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/adapters/storage/s3-client.ts';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/adapters/storage/s3-blob-store.ts';

/** The S3 server the tests use, as `eval "$(../shared/services/s3-up.sh)"` describes it. */
export interface S3TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
}

/**
 * The S3 server from the environment, or null when none is configured. In CI (CI set) a missing
 * server is an error, not a reason to skip: the S3 tests must run there (.ci/run starts one).
 */
export function s3TestServer(): S3TestServer | null {
  const env = process.env;
  if (!env.S3_ENDPOINT) {
    if (env.CI) {
      throw new Error(
        'CI must run the S3 tests, but S3_ENDPOINT is not set: run eval "$(../shared/services/s3-up.sh)" first',
      );
    }
    return null;
  }
  return {
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION ?? 'us-east-1',
    accessKeyId: env.S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? '',
    bucket: env.IMS_TEST_S3_BUCKET ?? 'ims-test',
  };
}

/** Store options for the test server; each call gets its own key prefix unless one is given. */
export function s3StoreOptions(
  server: S3TestServer,
  extra: Partial<S3BlobStoreOptions> = {},
): S3BlobStoreOptions {
  return {
    bucket: server.bucket,
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    keyPrefix: `test-${randomUUID()}/`,
    ...extra,
  };
}

/** Creates the test bucket if needed (several test files may race to do it). */
export async function ensureTestBucket(store: S3BlobStore): Promise<void> {
  try {
    await store.client.send(new CreateBucketCommand({ Bucket: store.bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

/** Deletes every object and aborts every upload under the store's prefix. */
export async function emptyTestStore(store: S3BlobStore): Promise<void> {
  await store.purgeStaleUploads(-60_000);
  for await (const { key } of store.list('')) await store.delete(key);
}

/**
 * IMS_* settings for a server on the test S3 server, under a fresh key prefix (in a bucket that
 * exists). Small parts, so that test-sized images go up as multipart uploads.
 */
export async function s3TestEnv(): Promise<Record<string, string>> {
  const server = s3TestServer();
  if (!server) throw new Error('S3 tests need S3_ENDPOINT: eval "$(../shared/services/s3-up.sh)" first');
  const options = s3StoreOptions(server);
  const probe = new S3BlobStore(options);
  await ensureTestBucket(probe);
  probe.client.destroy();
  return {
    IMS_STORE: 's3',
    IMS_S3_ENDPOINT: server.endpoint,
    IMS_S3_BUCKET: server.bucket,
    IMS_S3_REGION: server.region,
    IMS_S3_ACCESS_KEY_ID: server.accessKeyId,
    IMS_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
    IMS_S3_FORCE_PATH_STYLE: 'true',
    IMS_S3_KEY_PREFIX: options.keyPrefix!,
    IMS_S3_PART_SIZE: '5MiB',
    IMS_S3_CONCURRENCY: '2',
  };
}

/** The settings that make the test server the tenants' object store (`IMS_USER_S3_*`). */
export function tenantStoreEnv(server: S3TestServer): Record<string, string> {
  return {
    IMS_USER_S3_ENDPOINT: server.endpoint,
    IMS_USER_S3_REGION: server.region,
    IMS_USER_S3_ACCESS_KEY_ID: server.accessKeyId,
    IMS_USER_S3_SECRET_ACCESS_KEY: server.secretAccessKey,
    IMS_USER_S3_FORCE_PATH_STYLE: 'true',
  };
}

/** A client of the test server as a tenant uses it, with the tenants' buckets made if missing. */
export async function tenantS3Client(server: S3TestServer, buckets: string[]): Promise<S3Client> {
  const client = createS3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  });
  for (const bucket of buckets) {
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
    }
  }
  return client;
}
