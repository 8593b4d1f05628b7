import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import { HashingMeter } from '../adapters/hashing.ts';
import { createInspectionStream } from '../formats/index.ts';
import type { BlobStore, ByteRange } from '../adapters/storage/blob-store.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import type { Image } from '../domain/image.ts';
import { hasReadableData } from '../domain/image-status.ts';
import { resolveRange, type RangeRequest } from '../domain/byte-range.ts';
import { assertCanModify } from '../domain/visibility.ts';
import type { ImageService } from './images.ts';
import type { Policy } from './policy.ts';

export type Download =
  | { kind: 'empty'; image: Image }
  | { kind: 'data'; image: Image; stream: Readable; range: ByteRange | null; total: number };

/** Observes bytes moving through the data path (metrics). */
export interface DataPathObserver {
  bytesIn(n: number): void;
  bytesOut(n: number): void;
}

const tooLarge = (limit: number) =>
  new DomainError('PayloadTooLarge', `Image data exceeds the maximum image size of ${limit} bytes`);

/**
 * Image bytes in and out. An upload streams through hashing into an uncommitted
 * blob; only a clean end makes the image `active`, in one conditional update.
 */
export class ImageDataService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly store: BlobStore,
    private readonly clock: Clock,
    private readonly limits: { maxImageSize: number; maxVirtualSize: bigint },
    private readonly policy: Policy,
    private readonly observer: DataPathObserver = { bytesIn: () => {}, bytesOut: () => {} },
  ) {}

  async upload(
    ctx: RequestContext,
    id: string,
    body: Readable,
    declaredLength: number | null,
  ): Promise<Image> {
    const image = await this.images.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: image.owner });
    assertCanModify(ctx, image);
    if (image.status !== 'queued') {
      fail(
        'ImageAlreadyHasData',
        `Image ${id} is in status ${image.status}; data can be uploaded only to a queued image`,
      );
    }
    if (!image.diskFormat || !image.containerFormat) {
      fail('ValidationFailed', 'Properties disk_format, container_format must be set prior to saving data.');
    }
    const limit = this.limits.maxImageSize;
    if (declaredLength !== null && declaredLength > limit) throw tooLarge(limit);
    if (!(await this.db.images.transition(id, ['queued'], 'saving', this.clock.now().toISOString()))) {
      fail('ImageAlreadyHasData', `Image ${id} is already receiving data`);
    }

    const blobId = randomUUID();
    const key = `images/${blobId}`;
    const writer = await this.store.openWriter(key);
    const meter = new HashingMeter(limit, () => tooLarge(limit));
    meter.on('data', (chunk: Buffer) => this.observer.bytesIn(chunk.length));
    const inspection = createInspectionStream({
      maxVirtualSize: this.limits.maxVirtualSize,
      declaredFormat: image.diskFormat!,
    });
    try {
      await pipeline(body, meter, inspection, writer.stream);
      const verdict = inspection.result();
      if (!verdict.ok) {
        const reasons = verdict.violations.map((v) => `${v.reason}: ${v.detail}`).join('; ');
        fail('UploadFailed', `Image data refused as disk_format ${image.diskFormat}: ${reasons}`);
      }
      // Opaque formats (zvhd, zvhd2) have no virtual size we can know.
      const virtualSize = verdict.variant === 'opaque' ? null : Number(verdict.virtualSize);
      const digests = meter.digests();
      if (declaredLength !== null && digests.size !== declaredLength) {
        fail('UploadFailed', `Received ${digests.size} bytes but the request declared ${declaredLength}`);
      }
      const { size } = await writer.commit();
      const now = this.clock.now().toISOString();
      await this.db.transaction(async (tx) => {
        await tx.blobs.insert({
          id: blobId,
          store_key: key,
          size,
          checksum: digests.md5,
          os_hash_algo: 'sha512',
          os_hash_value: digests.sha512,
          refcount: 1,
          created_at: now,
        });
        const ok = await tx.images.transition(id, ['saving'], 'active', now, {
          blobId,
          size,
          virtualSize,
          checksum: digests.md5,
          osHashAlgo: 'sha512',
          osHashValue: digests.sha512,
        });
        // Throwing rolls the blob row back; the catch below removes the bytes.
        if (!ok) throw new DomainError('Conflict', `Image ${id} was deleted or changed during the upload`);
      });
      return this.images.get(ctx, id);
    } catch (err) {
      await writer.abort().catch(() => {});
      await this.store.delete(key).catch(() => {});
      await this.db.images.transition(id, ['saving'], 'queued', this.clock.now().toISOString());
      throw err;
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
    const total = blob.size;
    const range = rangeRequest ? resolveRange(rangeRequest, total) : null;
    if (rangeRequest && !range) {
      throw new DomainError('RangeNotSatisfiable', 'Requested range not satisfiable', {
        headers: { 'content-range': `bytes */${total}` },
      });
    }
    const stream = await this.store.read(blob.store_key, range ?? undefined);
    stream.on('data', (chunk: Buffer) => this.observer.bytesOut(chunk.length));
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
