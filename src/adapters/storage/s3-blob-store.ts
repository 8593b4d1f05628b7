import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type S3Client,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Readable } from 'node:stream';
import { assertValidKey, assertValidPrefix, BlobNotFoundError } from './blob-store.ts';
import type { BlobStore, BlobWriter, ByteRange } from './blob-store.ts';
import { createS3Client } from './s3-client.ts';
import { S3BlobWriter } from './s3-blob-writer.ts';
import { isS3Status } from './s3-errors.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** S3's bounds on a part (the last part of an upload may be smaller than the minimum). */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;

/** Everything the S3 driver needs; the defaults suit AWS and the Swift s3api test server. */
export interface S3BlobStoreOptions {
  bucket: string;
  region: string;
  /** Unset: AWS's own endpoint for the region. */
  endpoint?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (Swift, MinIO, Ceph). */
  forcePathStyle?: boolean;
  /** Unset: the AWS SDK's default chain (environment, shared files, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Every key is stored under this prefix ("" or ending in "/"), so deployments can share a bucket. */
  keyPrefix?: string;
  /** Bytes per multipart part; memory per upload is concurrency × partSize. Default 16 MiB. */
  partSize?: number;
  /** Parts sent at once per upload (and per multipart copy). Default 4. */
  concurrency?: number;
  /** Larger objects are copied part by part (UploadPartCopy); S3 refuses CopyObject over 5 GiB. */
  multipartCopyThreshold?: number;
  /** Parts per part size before upload parts double (see partSizeFor). Tests only. */
  partsPerTier?: number;
}

/**
 * BlobStore on an S3-compatible object store (AWS S3, Ceph RGW, MinIO, OpenStack Swift's s3api).
 * Uploads are multipart uploads completed on commit (see S3BlobWriter), so an uncommitted object is
 * never listed or readable, and commit is atomic. Content hashes are computed by the service as
 * the bytes stream in; S3 ETags are not used for integrity.
 *
 * Nothing here needs bucket lifecycle rules (Swift has none): purgeStaleUploads aborts multipart
 * uploads that a dead process left behind.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly client: S3Client;
  readonly bucket: string;
  /** Prepended to every key in the bucket. */
  readonly keyPrefix: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #concurrency: number;
  readonly #copyThreshold: number;
  readonly #partsPerTier: number | undefined;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.#prefix = this.keyPrefix = options.keyPrefix ?? '';
    this.#partSize = options.partSize ?? 16 * MiB;
    this.#concurrency = options.concurrency ?? 4;
    this.#copyThreshold = options.multipartCopyThreshold ?? MAX_PART_SIZE;
    this.#partsPerTier = options.partsPerTier;
    if (this.#prefix !== '') {
      assertValidPrefix(this.#prefix);
      if (!this.#prefix.endsWith('/')) throw new Error('the S3 key prefix must end with "/"');
    }
    for (const [name, value] of [
      ['part size', this.#partSize],
      ['multipart copy threshold', this.#copyThreshold],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < MIN_PART_SIZE || value > MAX_PART_SIZE) {
        throw new Error(`the S3 ${name} must be between 5 MiB and 5 GiB, got ${value}`);
      }
    }
    if (!Number.isSafeInteger(this.#concurrency) || this.#concurrency < 1) {
      throw new Error(`the S3 concurrency must be a positive integer, got ${this.#concurrency}`);
    }
    this.client = createS3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  async openWriter(key: string): Promise<BlobWriter> {
    assertValidKey(key);
    return new S3BlobWriter({
      client: this.client,
      bucket: this.bucket,
      key: this.#prefix + key,
      partSize: this.#partSize,
      concurrency: this.#concurrency,
      ...(this.#partsPerTier ? { partsPerTier: this.#partsPerTier } : {}),
    });
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range) checkRange(range);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.#prefix + key,
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
      return out.Body as Readable;
    } catch (err) {
      if (isS3Status(err, 404)) throw new BlobNotFoundError(key);
      if (range && isS3Status(err, 416)) {
        throw new RangeError(`byte range ${range.start}-${range.end} not satisfiable for ${key}`);
      }
      throw err;
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    assertValidKey(key);
    const head = await this.#head(key);
    return head && { size: head.size };
  }

  async copy(from: string, to: string): Promise<void> {
    assertValidKey(from);
    assertValidKey(to);
    const source = await this.#head(from);
    if (!source) throw new BlobNotFoundError(from);
    try {
      if (source.size <= this.#copyThreshold) {
        await this.client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: this.#prefix + to,
            CopySource: this.#copySource(from),
          }),
        );
      } else {
        await this.#multipartCopy(from, to, source);
      }
    } catch (err) {
      // Deleted between the HEAD and the copy.
      if (isS3Status(err, 404) && !(await this.#head(from))) throw new BlobNotFoundError(from);
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    // S3 answers 204 for a missing key: delete is idempotent by nature.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#prefix + key }));
  }

  async *list(prefix: string): AsyncGenerator<{ key: string; size: number }> {
    assertValidPrefix(prefix);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: this.#prefix + prefix,
          ...(token ? { ContinuationToken: token } : {}),
        }),
      );
      for (const entry of page.Contents ?? []) {
        if (entry.Key === undefined) continue;
        yield { key: entry.Key.slice(this.#prefix.length), size: Number(entry.Size ?? 0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async ping(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  /**
   * Aborts multipart uploads under this store's prefix that saw no new part for `olderThanMs`
   * (the initiation time when there is no part yet), so a slow upload that is still sending
   * survives. This is the job a bucket lifecycle rule would do, on servers that have none.
   */
  async purgeStaleUploads(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let purged = 0;
    for await (const upload of this.pendingUploads()) {
      if (upload.initiated.getTime() >= cutoff) continue;
      if ((await this.#lastPartTime(upload.key, upload.uploadId)) >= cutoff) continue;
      try {
        await this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.bucket,
            Key: upload.key,
            UploadId: upload.uploadId,
          }),
        );
        purged++;
      } catch (err) {
        // Completed or aborted while we looked: not ours to count.
        if (!isS3Status(err, 404)) throw err;
      }
    }
    return purged;
  }

  /** Multipart uploads not yet completed or aborted under this store's prefix (full S3 keys). */
  async *pendingUploads(): AsyncGenerator<{ key: string; uploadId: string; initiated: Date }> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: this.#prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        yield { key: upload.Key, uploadId: upload.UploadId, initiated: upload.Initiated ?? new Date(0) };
      }
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
      if (!keyMarker && !uploadIdMarker) return;
    }
  }

  async presignedUrl(key: string, ttlSeconds: number): Promise<string> {
    assertValidKey(key);
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.#prefix + key,
        // Whatever type the object was stored with: clients treat anything else as text.
        ResponseContentType: 'application/octet-stream',
      }),
      {
        expiresIn: ttlSeconds,
      },
    );
  }

  async #head(key: string): Promise<{ size: number; etag: string | undefined } | null> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.#prefix + key }),
      );
      return { size: Number(out.ContentLength ?? 0), etag: out.ETag };
    } catch (err) {
      if (isS3Status(err, 404)) return null;
      throw err;
    }
  }

  /** `bucket/key`, URL-encoded per segment, as x-amz-copy-source wants it. */
  #copySource(key: string): string {
    return [this.bucket, ...(this.#prefix + key).split('/')].map(encodeURIComponent).join('/');
  }

  /**
   * Copies part by part on the server. The source is checked again before the parts are joined,
   * so a source replaced mid-copy fails the copy instead of splicing two versions together.
   * (x-amz-copy-source-if-match would say it per part, but Swift's s3api never matches it on a
   * multipart object.)
   */
  async #multipartCopy(from: string, to: string, source: { size: number; etag: string | undefined }) {
    const key = this.#prefix + to;
    const created = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
    // Parts of at most 1 GiB keep each request short; 10,000 of them must still cover the object.
    const partSize = Math.max(Math.min(this.#copyThreshold, GiB), Math.ceil(source.size / 10_000));
    const count = Math.ceil(source.size / partSize);
    const parts: CompletedPart[] = [];
    let next = 0;
    const copyParts = async () => {
      try {
        while (next < count) {
          const index = next++;
          const start = index * partSize;
          const end = Math.min(start + partSize, source.size) - 1;
          const out = await this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber: index + 1,
              CopySource: this.#copySource(from),
              CopySourceRange: `bytes=${start}-${end}`,
            }),
          );
          const etag = out.CopyPartResult?.ETag;
          if (!etag) throw new Error(`UploadPartCopy ${index + 1} returned no ETag`);
          parts[index] = { PartNumber: index + 1, ETag: etag };
        }
      } catch (err) {
        next = count; // the other workers take no new part
        throw err;
      }
    };
    try {
      // Every worker stops before the upload is aborted: a part landing after the abort could be kept.
      const results = await Promise.allSettled(
        Array.from({ length: Math.min(this.#concurrency, count) }, copyParts),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const after = await this.#head(from);
      if (!after) throw new BlobNotFoundError(from);
      if (after.etag !== source.etag || after.size !== source.size) {
        throw new Error(`blob ${from} changed during the copy to ${to}`);
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  /** The newest part's upload time, or 0 when there is no part. */
  async #lastPartTime(key: string, uploadId: string): Promise<number> {
    let latest = 0;
    let marker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            ...(marker ? { PartNumberMarker: marker } : {}),
          }),
        );
      } catch (err) {
        if (isS3Status(err, 404)) return Number.POSITIVE_INFINITY; // gone: nothing to purge
        throw err;
      }
      for (const part of page.Parts ?? []) latest = Math.max(latest, part.LastModified?.getTime() ?? 0);
      if (!page.IsTruncated || !page.NextPartNumberMarker) return latest;
      marker = page.NextPartNumberMarker;
    }
  }
}

function checkRange({ start, end }: ByteRange): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`byte range ${start}-${end} is not valid`);
  }
}
