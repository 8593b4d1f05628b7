/**
 * The tenants' object store (IMS_USER_S3_*): an S3-compatible endpoint apart from
 * the image store, where users keep the files they import images from and export
 * images to. Which bucket a project may use is the service's decision (granted
 * buckets); this adapter only reads and writes objects by bucket and key.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import type { Config } from '../../config/config.ts';
import type { BlobWriter } from './blob-store.ts';
import { createS3Client, s3Sdk, type S3ClientSettings } from './s3-client.ts';
import { S3BlobWriter } from './s3-blob-writer.ts';
import { s3Status } from './s3-errors.ts';

const EXPORT_PART_SIZE = 16 * 1024 * 1024;
const EXPORT_CONCURRENCY = 4;

export interface UserObjectStoreOptions extends S3ClientSettings {
  /** Bytes per multipart part of an export. */
  partSize: number;
  /** Parts sent at once per export. */
  concurrency: number;
}

/** Why an object could not be used: it is absent, or the store refused us (bucket missing, no right). */
export class UserObjectError extends Error {
  constructor(
    readonly reason: 'not-found' | 'no-access' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'UserObjectError';
  }
}

function classify(err: unknown, what: string): UserObjectError {
  const status = s3Status(err);
  if (status === 404) return new UserObjectError('not-found', `${what} does not exist`);
  if (status === 403 || status === 401) return new UserObjectError('no-access', `${what} is not accessible`);
  return new UserObjectError('unavailable', `the object store could not be reached for ${what}`);
}

export class UserObjectStore {
  readonly client: S3Client;
  readonly #partSize: number;
  readonly #concurrency: number;

  constructor(options: UserObjectStoreOptions) {
    this.client = createS3Client(options);
    this.#partSize = options.partSize;
    this.#concurrency = options.concurrency;
  }

  /** The object's size, or null when it does not exist. */
  async stat(bucket: string, key: string): Promise<{ size: number } | null> {
    try {
      const out = await this.client.send(new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: key }));
      return { size: Number(out.ContentLength ?? 0) };
    } catch (err) {
      const e = classify(err, `${bucket}:${key}`);
      if (e.reason === 'not-found') return null;
      throw e;
    }
  }

  /** The object's bytes as a stream, with the length the store announced. */
  async read(bucket: string, key: string, signal?: AbortSignal): Promise<{ stream: Readable; size: number }> {
    try {
      const out = await this.client.send(
        new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key: key }),
        signal ? { abortSignal: signal } : {},
      );
      return { stream: out.Body as Readable, size: Number(out.ContentLength ?? 0) };
    } catch (err) {
      throw classify(err, `${bucket}:${key}`);
    }
  }

  /**
   * A multipart upload of the object, visible only when committed. `onUploadStarted` is told the
   * upload's id before any part is sent: the caller records it to abort it should the process die.
   */
  openWriter(
    bucket: string,
    key: string,
    options: { onUploadStarted?: (uploadId: string) => Promise<void> } = {},
  ): BlobWriter {
    return new S3BlobWriter({
      client: this.client,
      bucket,
      key,
      partSize: this.#partSize,
      concurrency: this.#concurrency,
      ...(options.onUploadStarted ? { onUploadStarted: options.onUploadStarted } : {}),
    });
  }

  /** Aborts a multipart upload and frees its parts; true also when it is already gone. */
  async abortUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(
        new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: bucket, Key: key, UploadId: uploadId }),
      );
    } catch (err) {
      if (s3Status(err) === 404) return;
      throw classify(err, `${bucket}:${key}`);
    }
  }

  /** The unfinished multipart uploads in a bucket (under a prefix): IMS's and anyone else's. */
  async *pendingUploads(bucket: string, prefix = ''): AsyncIterable<{ key: string; uploadId: string }> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const out = await this.client.send(
        new (s3Sdk().ListMultipartUploadsCommand)({
          Bucket: bucket,
          Prefix: prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
      for (const u of out.Uploads ?? []) if (u.Key && u.UploadId) yield { key: u.Key, uploadId: u.UploadId };
      if (!out.IsTruncated) return;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
    }
  }

  close(): void {
    this.client.destroy();
  }
}

/** The tenants' object store of the configuration, or null when IMS_USER_S3_* is unset. */
export function userObjectStoreOf(config: Pick<Config, 'userS3'>): UserObjectStore | null {
  const s = config.userS3;
  if (!s) return null;
  return new UserObjectStore({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    ...(s.accessKeyId && s.secretAccessKey
      ? { credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey } }
      : {}),
    partSize: EXPORT_PART_SIZE,
    concurrency: EXPORT_CONCURRENCY,
  });
}

/**
 * The buckets the image store keeps its objects in: a tenant may never read or write them
 * through the object-store routes, whatever was granted.
 */
export function imageStoreBucketsOf(config: Pick<Config, 's3'>): string[] {
  return config.s3 ? [config.s3.bucket] : [];
}
