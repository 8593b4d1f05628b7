import type { Readable } from 'node:stream';
import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { ImageData } from '../adapters/db/image-repository.ts';
import { countBytesRead, type ByteRange } from '../adapters/storage/blob-store.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { expectedFromProperties, type ExpectedHash } from '../domain/expected-hash.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import type { Image } from '../domain/image.ts';
import { hasReadableData } from '../domain/image-status.ts';
import { resolveRange, type RangeRequest } from '../domain/byte-range.ts';
import { assertCanModify } from '../domain/visibility.ts';
import type { ImageService } from './images.ts';
import type { IngestedBlob, IngestPipeline } from './ingest.ts';
import type { QuotaService } from './quotas.ts';
import type { Policy } from './policy.ts';
import type { DataLeases } from './data-leases.ts';

export type Download =
  | { kind: 'empty'; image: Image }
  | { kind: 'redirect'; image: Image; url: string }
  | { kind: 'data'; image: Image; stream: Readable; range: ByteRange | null; total: number };

/** Observes bytes moving through the data path (metrics). */
export interface DataPathObserver {
  bytesIn(n: number): void;
  bytesOut(n: number): void;
}

/**
 * Image bytes in and out. An upload streams through the ingest pipeline
 * (hashes, inspection, expected hashes) into an uncommitted blob; only a clean
 * end makes the image `active`, in one conditional update.
 */
export class ImageDataService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly quotas: QuotaService,
    private readonly stores: StoreRegistry,
    private readonly ingest: IngestPipeline,
    private readonly clock: Clock,
    private readonly options: {
      /** Set: whole-image downloads redirect to a URL of the store valid this long (S3). */
      presignedDownloadTtlSeconds?: number | null;
    },
    private readonly policy: Policy,
    private readonly observer: DataPathObserver = { bytesIn: () => {}, bytesOut: () => {} },
    private readonly leases: DataLeases,
  ) {}

  /**
   * PUT /v2/images/{id}/file. `expected` are the hashes the request's headers
   * declare; those of the image's properties are checked too.
   */
  async upload(
    ctx: RequestContext,
    id: string,
    body: Readable,
    declaredLength: number | null,
    expected: readonly ExpectedHash[] = [],
  ): Promise<Image> {
    const image = await this.images.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: image.owner });
    assertCanModify(ctx, image);
    assertUploadable(image);
    const allExpected = [...expectedFromProperties(image.properties), ...expected];
    const lease = await this.leases.begin(id, ['queued'], 'saving');
    if (!lease) return fail('ImageAlreadyHasData', `Image ${id} is already receiving data`);
    let blob: IngestedBlob | null = null;
    try {
      blob = await this.ingest.ingest({
        source: body,
        declaredFormat: image.diskFormat!,
        declaredLength,
        expected: allExpected,
        onBytes: (n) => this.observer.bytesIn(n),
      });
      const ingested = blob;
      const now = this.clock.now().toISOString();
      await this.db.transaction(async (tx) => {
        await this.quotas.admitBytes(tx, image.owner, ingested.size);
        await tx.blobs.insert(this.ingest.blobRow(ingested, now));
        const ok = await tx.images.transition(id, ['saving'], 'active', now, dataOf(ingested));
        // Throwing rolls the blob row back; the catch below removes the bytes.
        if (!ok) throw new DomainError('Conflict', `Image ${id} was deleted or changed during the upload`);
      });
      return this.images.get(ctx, id);
    } catch (err) {
      if (blob) await this.ingest.discard(blob).catch(() => {});
      await this.db.images.transition(id, ['saving'], 'queued', this.clock.now().toISOString());
      throw err;
    } finally {
      await lease.end();
    }
  }

  async download(ctx: RequestContext, id: string, rangeRequest: RangeRequest | null): Promise<Download> {
    const image = await this.images.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:download');
    if (image.status === 'deactivated' && !isAdmin(ctx)) {
      fail('ImageDeactivated', 'The requested image has been deactivated. Image data download is forbidden.');
    }
    if (!hasReadableData(image.status) || !image.blobId || image.size === null)
      return { kind: 'empty', image };
    const blob = await this.db.blobs.find(image.blobId);
    if (!blob) return fail('Internal', `The data of image ${id} is missing`);
    const ttl = this.options.presignedDownloadTtlSeconds;
    const store = this.stores.get(blob.store);
    // Ranges stay with us: the 206/416 answers and their headers are then Glance's, not the store's.
    if (ttl && store.presignedUrl && !rangeRequest) {
      return { kind: 'redirect', image, url: await store.presignedUrl(blob.store_key, ttl) };
    }
    const total = blob.size;
    const range = rangeRequest ? resolveRange(rangeRequest, total) : null;
    if (rangeRequest && !range) {
      throw new DomainError('RangeNotSatisfiable', 'Requested range not satisfiable', {
        headers: { 'content-range': `bytes */${total}` },
      });
    }
    const stream = await store.read(blob.store_key, range ?? undefined);
    countBytesRead(stream, (n) => this.observer.bytesOut(n));
    return { kind: 'data', image, stream, range, total };
  }

  /**
   * Returns images left in `saving` by a process that died mid-upload to
   * `queued`. Only safe where no other process can be receiving them.
   */
  async recoverInterruptedUploads(): Promise<number> {
    let n = 0;
    for (const id of await this.db.images.idsInStatus('saving')) {
      if (await this.db.images.transition(id, ['saving'], 'queued', this.clock.now().toISOString())) n++;
    }
    return n;
  }
}

/** Data goes only to a queued image whose formats are known (the inspector checks against disk_format). */
export function assertUploadable(image: Image): void {
  if (image.status !== 'queued') {
    fail(
      'ImageAlreadyHasData',
      `Image ${image.id} is in status ${image.status}; data can be uploaded only to a queued image`,
    );
  }
  if (!image.diskFormat || !image.containerFormat) {
    fail('ValidationFailed', 'Properties disk_format, container_format must be set prior to saving data.');
  }
}

/** What a committed blob sets on its image row. */
export function dataOf(blob: IngestedBlob): ImageData {
  return {
    blobId: blob.blobId,
    size: blob.size,
    virtualSize: blob.virtualSize,
    checksum: blob.checksum,
    osHashAlgo: blob.osHashAlgo,
    osHashValue: blob.osHashValue,
  };
}
