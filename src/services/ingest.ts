/**
 * The one way image bytes enter a store. Every path uses it: the Glance upload
 * (PUT /file), stage, each import method, conversions, copies between stores and,
 * later, the Huawei IMS import actions.
 *
 *   source → size limit + md5/sha512 (+ the expected hash's algorithm) → format
 *   inspector → uncommitted blob in the named store → verdict, expected hash and
 *   length checked → commit
 *
 * `ingest()` resolves with a committed object that no row references yet: the
 * caller records it with `blobRow()` in the transaction that makes an image use
 * it, and calls `discard()` if that transaction fails. Refused data is never
 * committed. Keys are the caller's to choose (`key`), so that a job re-run after
 * a crash writes over what the first run left instead of leaving an orphan.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Insertable } from 'kysely';
import type { Database } from '../adapters/db/schema.ts';
import { ExtentReadStream } from '../adapters/extent-read-stream.ts';
import { HashingMeter } from '../adapters/hashing.ts';
import type { FileExtent } from '../adapters/qemu-img.ts';
import type { BlobCommit } from '../adapters/storage/blob-store.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { DomainError, fail } from '../domain/errors.ts';
import { createInspectionStream, type InspectionResult } from '../formats/index.ts';
import { checkExpected, type ExpectedHash } from '../domain/expected-hash.ts';

export type { ExpectedHash } from '../domain/expected-hash.ts';

export interface IngestLimits {
  /** Largest byte count accepted (IMS_MAX_IMAGE_SIZE). */
  maxImageSize: number;
  /** Largest virtual size accepted from the headers (IMS_MAX_VIRTUAL_SIZE). */
  maxVirtualSize: bigint;
}

export interface IngestRequest {
  /** The bytes. Consumed (and destroyed on failure). */
  source: Readable;
  /** The image's disk_format: the inspector refuses data that is anything else. */
  declaredFormat: string;
  /** Store name; default: the registry's default store. */
  store?: string;
  /** Blob id; default: a random UUID. */
  blobId?: string;
  /** Object key; default `images/<blobId>`. A re-run with the same key replaces the object. */
  key?: string;
  /** Content-Length as announced: refused early if above the limit, and must match what arrives. */
  declaredLength?: number | null;
  /** Hashes the client declared; any mismatch refuses the data. */
  expected?: readonly ExpectedHash[];
  /** Observes the bytes as they arrive (metrics, job progress). */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/** A committed object that no row references yet. */
export interface IngestedBlob {
  blobId: string;
  store: string;
  key: string;
  size: number;
  /** md5, hex: Glance's `checksum`. */
  checksum: string;
  osHashAlgo: 'sha512';
  osHashValue: string;
  /** The disk_format the data was accepted as. */
  diskFormat: string;
  /** From the inspection; null for opaque formats (zvhd, zvhd2). */
  virtualSize: number | null;
  inspection: InspectionResult;
}

/** What a blob row records of an ingested object. */
export type StoredBlob = Omit<IngestedBlob, 'inspection' | 'osHashAlgo'> & { osHashAlgo: string };

export const tooLarge = (limit: number): DomainError =>
  new DomainError('PayloadTooLarge', `Image data exceeds the maximum image size of ${limit} bytes`);

/** Hashes with one more algorithm, for an expected hash that is neither md5 nor sha512. */
class ExtraHash extends Transform {
  readonly hash: Hash;
  digest: string | null = null;
  constructor(readonly algo: string) {
    super();
    this.hash = createHash(algo);
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    done();
  }
}

/** One more hash per expected algorithm that the meter does not compute already. */
const extraHashes = (expected: readonly ExpectedHash[]): ExtraHash[] =>
  [...new Set(expected.map((e) => e.algo))]
    .filter((a) => a !== 'md5' && a !== 'sha512')
    .map((a) => new ExtraHash(a));

export class IngestPipeline {
  constructor(
    private readonly stores: StoreRegistry,
    private readonly limits: IngestLimits,
  ) {}

  /**
   * Streams `source` into a new object of the store and commits it only when every check
   * passed. Throws a DomainError (UploadFailed 400, PayloadTooLarge 413) for refused data;
   * nothing is kept then.
   */
  async ingest(req: IngestRequest): Promise<IngestedBlob> {
    const limit = this.limits.maxImageSize;
    const storeName = req.store ?? this.stores.defaultName;
    const store = this.stores.get(storeName);
    // Refused before a byte is read; the caller owns the source (an HTTP request answers 413 and closes).
    if (req.declaredLength != null && req.declaredLength > limit) throw tooLarge(limit);
    const blobId = req.blobId ?? randomUUID();
    const key = req.key ?? `images/${blobId}`;
    const extras = extraHashes(req.expected ?? []);

    const writer = await store.openWriter(key);
    return this.#run(req, { storeName, blobId, key, extras }, writer, writer.stream, req.source);
  }

  /**
   * Ingests a complete local file (a conversion's output) with the same checks as `ingest`. A store
   * that keeps objects as local files on the same file system adopts the file itself (a hard link),
   * so the bytes are read once, to hash and inspect them, and never copied; any other store gets
   * them streamed as `ingest` does. The file must not change once this is called.
   */
  async ingestFile(
    req: Omit<IngestRequest, 'source' | 'declaredLength'> & {
      file: string;
      /** Where the file has data and holes (`qemuMapRaw`): holes are then not read. */
      extents?: readonly FileExtent[] | null;
    },
  ): Promise<IngestedBlob> {
    const storeName = req.store ?? this.stores.defaultName;
    const store = this.stores.get(storeName);
    const blobId = req.blobId ?? randomUUID();
    const key = req.key ?? `images/${blobId}`;
    const read = () =>
      req.extents
        ? new ExtentReadStream(req.file, req.extents)
        : createReadStream(req.file, { highWaterMark: 1024 * 1024 });
    const adopted = store.adoptLocal ? await store.adoptLocal(key, req.file) : null;
    if (!adopted) return this.ingest({ ...req, source: read(), store: storeName, blobId, key });
    // The store holds the bytes already: this pass only hashes and inspects them.
    const nowhere = new Writable({ write: (_chunk, _e, done) => done() });
    const extras = extraHashes(req.expected ?? []);
    return this.#run(req, { storeName, blobId, key, extras }, adopted, nowhere, read());
  }

  /** Source → meter (size, md5, sha512) → extra hashes → inspector → sink; commits only what passed. */
  async #run(
    req: Omit<IngestRequest, 'source'>,
    target: { storeName: string; blobId: string; key: string; extras: ExtraHash[] },
    session: BlobCommit,
    sink: Writable,
    source: Readable,
  ): Promise<IngestedBlob> {
    const limit = this.limits.maxImageSize;
    const { storeName, blobId, key, extras } = target;
    const meter = new HashingMeter(limit, () => tooLarge(limit));
    if (req.onBytes) {
      const onBytes = req.onBytes;
      meter.on('data', (chunk: Buffer) => onBytes(chunk.length));
    }
    const inspection = createInspectionStream({
      maxVirtualSize: this.limits.maxVirtualSize,
      declaredFormat: req.declaredFormat,
    });
    let committed = false;
    try {
      const stages = [source, meter, ...extras, inspection, sink] as const;
      await (req.signal
        ? pipeline(stages as unknown as [Readable, Transform], { signal: req.signal })
        : pipeline(stages as unknown as [Readable, Transform]));
      const verdict = inspection.result();
      if (!verdict.ok) {
        const reasons = verdict.violations.map((v) => `${v.reason}: ${v.detail}`).join('; ');
        fail('UploadFailed', `Image data refused as disk_format ${req.declaredFormat}: ${reasons}`);
      }
      const digests = meter.digests();
      if (req.declaredLength != null && digests.size !== req.declaredLength) {
        fail('UploadFailed', `Received ${digests.size} bytes but the request declared ${req.declaredLength}`);
      }
      const actual: Record<string, string> = { md5: digests.md5, sha512: digests.sha512 };
      for (const x of extras) actual[x.algo] = x.digest!;
      checkExpected(req.expected ?? [], actual);
      const { size } = await session.commit();
      committed = true;
      return {
        blobId,
        store: storeName,
        key,
        size,
        checksum: digests.md5,
        osHashAlgo: 'sha512',
        osHashValue: digests.sha512,
        diskFormat: req.declaredFormat,
        // Opaque formats (zvhd, zvhd2) have no virtual size we can know.
        virtualSize: verdict.variant === 'opaque' ? null : Number(verdict.virtualSize),
        inspection: verdict,
      };
    } finally {
      if (!committed) await session.abort().catch(() => {});
    }
  }

  /** The row that records an ingested object; insert it in the transaction that makes an image use it. */
  blobRow(blob: StoredBlob, now: string, refcount = 1): Insertable<Database['blobs']> {
    return {
      id: blob.blobId,
      store: blob.store,
      store_key: blob.key,
      size: blob.size,
      checksum: blob.checksum,
      os_hash_algo: blob.osHashAlgo,
      os_hash_value: blob.osHashValue,
      disk_format: blob.diskFormat,
      virtual_size: blob.virtualSize,
      refcount,
      created_at: now,
    };
  }

  /** Removes an ingested object that no row will reference (its transaction failed). Idempotent. */
  async discard(blob: Pick<IngestedBlob, 'store' | 'key'>): Promise<void> {
    await this.stores.get(blob.store).delete(blob.key);
  }
}
