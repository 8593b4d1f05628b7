import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { BlobWriter } from './blob-store.ts';
import { s3Sdk } from './s3-client.ts';
import { isS3Status } from './s3-errors.ts';

/** Where the object goes and how it is cut. */
export interface S3UploadTarget {
  client: S3Client;
  bucket: string;
  /** The full object key in the bucket (store prefix included). */
  key: string;
  /** Bytes per multipart part (5 MiB to 5 GiB; the last part may be smaller). */
  partSize: number;
  /** Part buffers in memory at once (being sent, or being filled): memory is concurrency × partSize. */
  concurrency: number;
  /**
   * Told the id of the multipart upload once it exists, before any part is sent (so that the caller can
   * record it and abort it after a crash). If it throws, the upload is aborted and the write fails.
   */
  onUploadStarted?: (uploadId: string) => Promise<void>;
  /** Parts per part size before the size doubles (see partSizeFor); 1000 unless a test needs less. */
  partsPerTier?: number;
}

/**
 * Set explicitly: without it a multipart object gets the server's default type (binary/octet-stream
 * or none), and glanceclient, downloading through a presigned URL, then decodes the image as text.
 */
const CONTENT_TYPE = 'application/octet-stream';

/** S3's (and Swift's configured) limits on a multipart upload. */
const MAX_PARTS = 10_000;
const MAX_PART_SIZE = 5 * 1024 ** 3;

/**
 * S3 allows 10,000 parts, so a fixed 16 MiB part would cap objects at 156 GiB, and the total size is
 * unknown when the upload starts. Parts therefore double in size every `partsPerTier` parts:
 * with 16 MiB parts, images up to 16 GiB use 16 MiB parts, up to 48 GiB 32 MiB, up to 112 GiB
 * 64 MiB, ..., up to 2 TiB 1 GiB; 10,000 parts reach past S3's 5 TiB object limit.
 */
export function partSizeFor(partNumber: number, partSize: number, partsPerTier: number): number {
  const tier = Math.floor((partNumber - 1) / partsPerTier);
  return Math.min(MAX_PART_SIZE, partSize * 2 ** Math.min(tier, 30));
}

/**
 * An upload into S3 that stays invisible until commit(). Objects that fit in one part are kept in
 * memory and sent with one PutObject on commit; larger ones go up as a multipart upload whose parts
 * are sent while the stream is still arriving, and only CompleteMultipartUpload (on commit) makes
 * them an object. Aborting an unfinished multipart upload frees its parts; if that request is lost
 * too, the store's purgeStaleUploads finds the upload later.
 *
 * Memory is bounded: part buffers (parts being sent plus the one being filled) take at most
 * concurrency × partSize bytes, but always room for two parts, so that receiving overlaps sending
 * (with concurrency 1, and once parts have grown, see partSizeFor). While the budget is taken,
 * the stream stops accepting writes (backpressure).
 */
export class S3BlobWriter implements BlobWriter {
  readonly stream: Writable;
  readonly #t: S3UploadTarget;
  /** Cancels requests in flight when the upload is discarded. */
  readonly #cancel = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #parts: CompletedPart[] = [];
  readonly #spare: Buffer[] = [];
  /** Bytes in part buffers, spare ones included. */
  #bufferedBytes = 0;
  #buffers = 0;
  #current: Buffer | undefined;
  #filled = 0;
  #size = 0;
  #nextPart = 1;
  #uploadId: Promise<string> | undefined;
  #failure: Error | undefined;
  #aborted = false;
  #committed = false;
  #committing: Promise<{ size: number }> | undefined;
  #discarding: Promise<void> | undefined;
  #slotFreed: (() => void) | undefined;

  constructor(target: S3UploadTarget) {
    this.#t = target;
    this.stream = new Writable({
      // The part buffers are the buffer; the stream's own queue only needs to hold one chunk.
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _encoding, callback) => {
        this.#accept(chunk).then(() => callback(), callback);
      },
      final: (callback) => {
        this.#flush().then(() => callback(), callback);
      },
    });
    // A stream error leaves nothing behind even if the caller never calls abort().
    this.stream.on('error', () => {
      this.#discard().catch(() => undefined);
    });
  }

  commit(): Promise<{ size: number }> {
    this.#committing ??= this.#commit();
    return this.#committing;
  }

  async abort(): Promise<void> {
    this.#aborted = true;
    this.stream.destroy();
    // A commit that already completed wins: the object stays, and aborting is a no-op.
    await this.#committing?.catch(() => undefined);
    if (!this.#committed) await this.#discard();
  }

  async #commit(): Promise<{ size: number }> {
    try {
      if (this.#aborted) throw new Error('upload was aborted');
      if (!this.stream.writableEnded && !this.stream.destroyed) {
        throw new Error('end the upload stream before commit()');
      }
      await finished(this.stream);
      if (this.#aborted || this.#discarding) throw new Error('upload was aborted');
      const { client, bucket, key } = this.#t;
      if (this.#uploadId) {
        const uploadId = await this.#uploadId;
        await client.send(
          new (s3Sdk().CompleteMultipartUploadCommand)({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            MultipartUpload: { Parts: this.#parts },
          }),
        );
      } else {
        const body = this.#current?.subarray(0, this.#filled) ?? Buffer.alloc(0);
        await client.send(
          new (s3Sdk().PutObjectCommand)({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: CONTENT_TYPE,
          }),
        );
        this.#current = undefined;
      }
      this.#committed = true;
      return { size: this.#size };
    } catch (err) {
      await this.#discard();
      throw err;
    }
  }

  async #accept(chunk: Buffer): Promise<void> {
    for (let offset = 0; offset < chunk.length;) {
      this.#checkOpen();
      // A full part goes out only once more bytes follow: an object of exactly one part stays one PUT.
      if (this.#current && this.#filled === this.#current.length) this.#sendCurrentPart();
      if (!this.#current) {
        if (this.#nextPart > MAX_PARTS) throw new Error(`object too large: over ${MAX_PARTS} parts`);
        const size = partSizeFor(this.#nextPart, this.#t.partSize, this.#t.partsPerTier ?? 1000);
        this.#current = await this.#takeBuffer(size);
        this.#checkOpen();
      }
      const copied = chunk.copy(this.#current, this.#filled, offset);
      offset += copied;
      this.#filled += copied;
      this.#size += copied;
    }
  }

  /** End of stream: send the tail if this is a multipart upload, then wait for every part. */
  async #flush(): Promise<void> {
    if (this.#uploadId && this.#filled > 0) this.#sendCurrentPart();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    this.#checkOpen();
  }

  #sendCurrentPart(): void {
    const buffer = this.#current!;
    const body = buffer.subarray(0, this.#filled);
    const partNumber = this.#nextPart++;
    this.#current = undefined;
    this.#filled = 0;
    const { client, bucket, key } = this.#t;
    this.#uploadId ??= client
      .send(
        new (s3Sdk().CreateMultipartUploadCommand)({ Bucket: bucket, Key: key, ContentType: CONTENT_TYPE }),
        {
          abortSignal: this.#cancel.signal,
        },
      )
      .then(async (out) => {
        const uploadId = out.UploadId;
        if (!uploadId) throw new Error('CreateMultipartUpload returned no UploadId');
        try {
          await this.#t.onUploadStarted?.(uploadId);
        } catch (err) {
          await client
            .send(new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: bucket, Key: key, UploadId: uploadId }))
            .catch(() => undefined);
          throw err;
        }
        return uploadId;
      });
    const sent = this.#uploadId
      .then((uploadId) => {
        this.#checkOpen();
        return client.send(
          new (s3Sdk().UploadPartCommand)({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: partNumber,
            Body: body,
            ContentLength: body.length,
          }),
          { abortSignal: this.#cancel.signal },
        );
      })
      .then((out) => {
        if (!out.ETag) throw new Error(`UploadPart ${partNumber} returned no ETag`);
        // Complete wants the parts in order; numbers start at 1.
        this.#parts[partNumber - 1] = { PartNumber: partNumber, ETag: out.ETag };
      })
      .catch((err: unknown) => {
        this.#failure ??= err instanceof Error ? err : new Error(String(err));
        // Fail the producer now, not at its next write: it may be waiting for a free buffer.
        this.stream.destroy(this.#failure);
      })
      .finally(() => {
        this.#inFlight.delete(sent);
        this.#releaseBuffer(buffer);
      });
    this.#inFlight.add(sent);
  }

  async #takeBuffer(size: number): Promise<Buffer> {
    const budget = this.#t.concurrency * this.#t.partSize;
    for (;;) {
      const spare = this.#spare.pop();
      if (spare?.length === size) return spare;
      if (spare) this.#free(spare); // parts have grown: the old size is no use any more
      if (this.#buffers < 2 || this.#bufferedBytes + size <= budget) {
        this.#buffers++;
        this.#bufferedBytes += size;
        return Buffer.allocUnsafe(size);
      }
      await new Promise<void>((resolve) => (this.#slotFreed = resolve));
      this.#checkOpen();
    }
  }

  #releaseBuffer(buffer: Buffer): void {
    // Once the upload is over nothing reuses buffers: let them go to the garbage collector.
    if (!this.#failure && !this.#discarding) this.#spare.push(buffer);
    else this.#free(buffer);
    const wake = this.#slotFreed;
    this.#slotFreed = undefined;
    wake?.();
  }

  #free(buffer: Buffer): void {
    this.#buffers--;
    this.#bufferedBytes -= buffer.length;
  }

  #checkOpen(): void {
    if (this.#failure) throw this.#failure;
    if (this.#aborted || this.#discarding) throw new Error('upload was aborted');
  }

  #discard(): Promise<void> {
    this.#discarding ??= (async () => {
      this.#cancel.abort();
      this.#current = undefined;
      for (const spare of this.#spare.splice(0)) this.#free(spare);
      const wake = this.#slotFreed;
      this.#slotFreed = undefined;
      wake?.();
      const uploadId = await this.#uploadId?.catch(() => undefined);
      // Parts still arriving after the abort could be kept by the server: wait for them first.
      await Promise.allSettled([...this.#inFlight]);
      if (uploadId === undefined) return;
      const { client, bucket, key } = this.#t;
      try {
        await client.send(
          new (s3Sdk().AbortMultipartUploadCommand)({ Bucket: bucket, Key: key, UploadId: uploadId }),
        );
      } catch (err) {
        // Already aborted (or purged): nothing left to free.
        if (!isS3Status(err, 404)) throw err;
      }
    })();
    return this.#discarding;
  }
}
