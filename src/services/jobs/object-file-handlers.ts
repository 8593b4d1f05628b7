/**
 * The jobs that move bytes between the tenants' object store and the image
 * store: an import streams the user's file through the IngestPipeline (size
 * limit, hashes, format inspector against the declared format) into the
 * image store; an export streams the stored bytes, converted by qemu-img
 * when another format is asked, into a multipart upload of the user's bucket.
 *
 * Idempotent: the import's object key derives from the job id, so a re-run
 * writes over what an earlier run left, and the image becomes active only in
 * the final transaction; a run that finds the image active returns. An export
 * writes the same key again and its upload is visible only when committed.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import { QemuImgError } from '../../adapters/qemu-img.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import { UserObjectError, type UserObjectStore } from '../../adapters/storage/user-object-store.ts';
import type { Config } from '../../config/config.ts';
import { DomainError, ERROR_CATALOGUE } from '../../domain/errors.ts';
import { withConvertedFile } from '../image-convert.ts';
import type { IngestedBlob, IngestPipeline } from '../ingest.ts';
import type {
  ObjectExportPayload,
  ObjectExportResult,
  ObjectImportPayload,
  ObjectImportResult,
} from '../object-file-kinds.ts';
import type { QuotaService } from '../quotas.ts';
import { JobError } from './errors.ts';
import type { DataLeases } from '../data-leases.ts';
import { derivedBlobId } from './import-handler.ts';
import type { JobHandler, JobKind } from './kind.ts';

export interface ObjectFileDeps {
  repos: Repositories;
  clock: Clock;
  config: Pick<Config, 'dataDir' | 'maxVirtualSize'>;
  stores: StoreRegistry;
  ingest: IngestPipeline;
  quotas: QuotaService;
  userStore: UserObjectStore | null;
  /** The image's data lease while the job fills it (null in tests that run no reaper). */
  leases: DataLeases | null;
}

const FILE_REFUSED = ERROR_CATALOGUE.UploadFailed.ims;
const GiB = 1024 ** 3;

/** A failure of the user's store: a missing object or a refusal is final, an outage is worth a retry. */
function fromUserStore(err: UserObjectError): JobError {
  if (err.reason === 'not-found') return JobError.permanent(FILE_REFUSED, `The file ${err.message}`, err);
  if (err.reason === 'no-access')
    return JobError.permanent(ERROR_CATALOGUE.BucketNotGranted.ims, `The file ${err.message}`, err);
  return JobError.transient(ERROR_CATALOGUE.ServiceUnavailable.ims, err.message, err);
}

/** What the job shows for an error, and whether it is final. */
function judged(err: unknown): JobError {
  if (err instanceof JobError) return err;
  if (err instanceof UserObjectError) return fromUserStore(err);
  if (err instanceof DomainError)
    return new JobError(err.imsCode, err.message, { permanent: err.status < 500, cause: err });
  if (err instanceof QemuImgError)
    return new JobError(ERROR_CATALOGUE.Internal.ims, `conversion failed: ${err.message}`, {
      permanent: err.kind !== 'timeout' && err.kind !== 'aborted',
      cause: err,
    });
  return JobError.transient(ERROR_CATALOGUE.Internal.ims, 'Internal error while moving the file', err);
}

const needStore = (store: UserObjectStore | null): UserObjectStore => {
  if (!store)
    throw JobError.permanent(
      ERROR_CATALOGUE.SourceNotAvailable.ims,
      "No tenants' object store is configured in this deployment",
    );
  return store;
};

/** The handler of the import kinds (file image, data image, register): they differ only in the request. */
export function objectImportHandler(
  deps: ObjectFileDeps,
  kind: JobKind<ObjectImportPayload, ObjectImportResult>,
): JobHandler<ObjectImportPayload, ObjectImportResult> {
  return async (job, report, signal) => {
    const p = job.payload;
    const image = await deps.repos.images.find(p.imageId);
    if (!image) throw JobError.permanent(FILE_REFUSED, `Image ${p.imageId} was deleted`);
    if (image.status === 'active') return { imageId: p.imageId };
    if (image.status !== 'queued' && image.status !== 'saving')
      throw JobError.permanent(FILE_REFUSED, `Image ${p.imageId} is ${image.status}`);
    const store = deps.stores.defaultName;
    const blobId = derivedBlobId(job.id, 'object-file');
    const key = `images/${blobId}`;
    // `saving` under a data lease: a reaper anywhere sees a live fill, not an upload whose process died.
    const lease = deps.leases
      ? await deps.leases.begin(p.imageId, ['queued', 'saving'], 'saving')
      : await deps.repos.images
          .transition(p.imageId, ['queued'], 'saving', deps.clock.now().toISOString())
          .then(() => null);
    try {
      const source = await needStore(deps.userStore).read(p.bucket, p.key, signal);
      await report(10);
      let seen = 0;
      let shown = 10;
      const blob = await deps.ingest.ingest({
        source: source.stream,
        declaredFormat: p.diskFormat,
        store,
        blobId,
        key,
        declaredLength: source.size,
        signal,
        onBytes: (n) => {
          seen += n;
          const pct = 10 + Math.floor((80 * seen) / Math.max(source.size, 1));
          // A lost lease also aborts `signal`, which stops the stream: the report's own refusal adds nothing.
          if (pct > shown) report((shown = pct)).catch(() => {});
        },
      });
      await report(90);
      checkFits(blob, p);
      await commit(deps, p, blob);
      return { imageId: p.imageId };
    } catch (err) {
      const failure = judged(err);
      if (signal.aborted) throw err;
      if (!failure.permanent && job.attempt < kind.maxAttempts) throw failure;
      // The final failure: no bytes stay, and the image is killed, as IMS ends a failed import.
      await deps.stores
        .get(store)
        .delete(key)
        .catch(() => {});
      await deps.repos.images
        .transition(p.imageId, ['queued', 'saving'], 'killed', deps.clock.now().toISOString())
        .catch(() => false);
      throw JobError.permanent(failure.code, failure.message, err);
    } finally {
      await lease?.end();
    }
  };
}

/** The file's virtual disk must fit the image's min_disk (GB), as IMS requires; 0 (a Glance image's default) sets no bound. */
function checkFits(blob: IngestedBlob, p: ObjectImportPayload): void {
  if (p.minDisk > 0 && blob.virtualSize !== null && blob.virtualSize > p.minDisk * GiB)
    throw JobError.permanent(
      'IMG.0055',
      `The file's virtual disk (${Math.ceil(blob.virtualSize / GiB)} GB) is larger than min_disk ${p.minDisk} GB`,
    );
}

/** One transaction records the blob, admits its bytes and makes the image active. */
async function commit(deps: ObjectFileDeps, p: ObjectImportPayload, blob: IngestedBlob): Promise<void> {
  await deps.repos.transaction(async (tx) => {
    const now = deps.clock.now().toISOString();
    await tx.blobs.insert(deps.ingest.blobRow(blob, now));
    await deps.quotas.admitBytes(tx, p.owner, blob.size);
    const ok = await tx.images.transition(p.imageId, ['saving'], 'active', now, {
      blobId: blob.blobId,
      size: blob.size,
      virtualSize: blob.virtualSize,
      checksum: blob.checksum,
      osHashAlgo: blob.osHashAlgo,
      osHashValue: blob.osHashValue,
    });
    if (!ok) throw JobError.permanent(FILE_REFUSED, `Image ${p.imageId} was deleted during the import`);
  });
}

/** The export kind's handler. */
export function objectExportHandler(
  deps: ObjectFileDeps,
  kind: JobKind<ObjectExportPayload, ObjectExportResult>,
): JobHandler<ObjectExportPayload, ObjectExportResult> {
  return async (job, report, signal) => {
    const p = job.payload;
    try {
      const target = needStore(deps.userStore);
      const image = await deps.repos.images.find(p.imageId);
      const row = image?.blobId ? await deps.repos.blobs.find(image.blobId) : undefined;
      if (!image || !row || image.status !== 'active')
        throw JobError.permanent(
          ERROR_CATALOGUE.ImageNotActive.ims,
          `Image ${p.imageId} was deleted or is no longer active`,
        );
      const stored = image.diskFormat ?? '';
      const upload = async (source: NodeJS.ReadableStream): Promise<number> => {
        const writer = target.openWriter(p.bucket, p.key);
        try {
          await pipeline(source, writer.stream, { signal });
          const { size } = await writer.commit();
          return size;
        } catch (err) {
          await writer.abort().catch(() => {});
          throw err;
        }
      };
      let size: number;
      if (p.fileFormat === null || p.fileFormat === stored) {
        size = await upload(await deps.stores.get(row.store).read(row.store_key));
      } else {
        size = await withConvertedFile(
          {
            source: { store: row.store, key: row.store_key, diskFormat: stored },
            targetFormat: p.fileFormat,
            workDir: path.join(deps.config.dataDir, 'work', job.id),
            maxVirtualSize: deps.config.maxVirtualSize,
            signal,
            onProgress: (pct) => report(Math.floor(pct * 0.6)),
          },
          deps.stores,
          (output) => upload(createReadStream(output, { highWaterMark: 1024 * 1024 })),
        );
      }
      return { imageId: p.imageId, size };
    } catch (err) {
      const failure = judged(err);
      if (signal.aborted) throw err;
      if (!failure.permanent && job.attempt < kind.maxAttempts) throw failure;
      throw JobError.permanent(failure.code, failure.message, err);
    }
  };
}
