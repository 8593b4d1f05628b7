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
import {
  IMPORT_DATA_IMAGE,
  type ImageImportResult,
  type ObjectExportPayload,
  type ObjectExportResult,
  type ObjectImportPayload,
  type ObjectImportResult,
} from '../object-file-kinds.ts';
import type { QuotaService } from '../quotas.ts';
import { UserUploads } from '../user-uploads.ts';
import { JobError } from './errors.ts';
import type { DataLeases } from '../data-leases.ts';
import { derivedBlobId } from './import-handler.ts';
import type { JobHandler, JobKind, JobRun, ReportProgress } from './kind.ts';
import type { Job } from '../../domain/job.ts';

export interface ObjectFileDeps {
  repos: Repositories;
  clock: Clock;
  config: Pick<Config, 'dataDir' | 'maxVirtualSize' | 'convertRateLimit'>;
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

/** One image an import job fills: the system (or only) image, or one of its data images. */
interface ImportTarget {
  imageId: string;
  imageName: string;
  owner: string;
  bucket: string;
  key: string;
  diskFormat: string;
  minDisk: number;
  /** Names the image's object key within the job: each image of a job has its own. */
  slot: string;
  kind: string;
}

/** The images of a job, the request's first; the first keeps the slot of jobs made before data images. */
function targetsOf(
  kind: JobKind<ObjectImportPayload, ObjectImportResult>,
  p: ObjectImportPayload,
): ImportTarget[] {
  return [
    { ...p, imageName: p.imageName ?? '', slot: 'object-file', kind: kind.name },
    ...(p.dataImages ?? []).map((d, i) => ({
      ...d,
      owner: p.owner,
      slot: `object-file-data-${i}`,
      kind: IMPORT_DATA_IMAGE.name,
    })),
  ];
}

const keyOf = (jobId: string, slot: string): string => `images/${derivedBlobId(jobId, slot)}`;

/**
 * The handler of the import kinds (file image, data image, register): they
 * differ only in the request. A request with `data_images` fills its images
 * one after the other in the same job. An image refused for good is killed and
 * its bytes deleted while the others go on; the images that succeeded are kept
 * (each is complete and usable, as IMS keeps the entities of a batch that
 * succeeded), and the job FAILs with one result per image. A transient failure
 * retries the whole job: the images already active are skipped.
 */
export function objectImportHandler(
  deps: ObjectFileDeps,
  kind: JobKind<ObjectImportPayload, ObjectImportResult>,
): JobHandler<ObjectImportPayload, ObjectImportResult> {
  return async (job, report, signal) => {
    const targets = targetsOf(kind, job.payload);
    if (targets.length === 1) {
      await importOne(deps, job, kind, targets[0]!, report, signal);
      return { imageId: job.payload.imageId };
    }
    const images: ImageImportResult[] = [];
    for (const [i, target] of targets.entries()) {
      const begin = deps.clock.now().toISOString();
      const share = (pct: number) => report(Math.floor((i * 100 + pct) / targets.length));
      let failure: JobError | null = null;
      try {
        await importOne(deps, job, kind, target, share, signal);
      } catch (err) {
        // Stopped, or worth another run of the whole job: the images done so far are kept as they are.
        if (signal.aborted || !(err instanceof JobError) || !err.permanent) throw err;
        failure = err;
      }
      images.push({
        status: failure ? 'FAIL' : 'SUCCESS',
        job_type: target.kind,
        begin_time: begin,
        end_time: deps.clock.now().toISOString(),
        error_code: failure?.code ?? null,
        fail_reason: failure?.message ?? null,
        entities: { image_id: target.imageId, image_name: target.imageName },
      });
    }
    const failed = images.filter((r) => r.status === 'FAIL');
    const first = failed[0];
    if (first)
      throw new JobError(
        first.error_code!,
        `${failed.length} of ${images.length} images failed; the first, ${first.entities.image_id}: ${first.fail_reason}`,
        { permanent: true, entities: { sub_jobs_result: images } },
      );
    return { imageId: job.payload.imageId, images };
  };
}

/** Fills one image; on its final failure the image is killed and its bytes deleted. */
async function importOne(
  deps: ObjectFileDeps,
  job: JobRun<ObjectImportPayload>,
  kind: JobKind<ObjectImportPayload, ObjectImportResult>,
  p: ImportTarget,
  report: ReportProgress,
  signal: AbortSignal,
): Promise<void> {
  const image = await deps.repos.images.find(p.imageId);
  if (!image) throw JobError.permanent(FILE_REFUSED, `Image ${p.imageId} was deleted`);
  if (image.status === 'active') return;
  if (image.status !== 'queued' && image.status !== 'saving')
    throw JobError.permanent(FILE_REFUSED, `Image ${p.imageId} is ${image.status}`);
  const store = deps.stores.defaultName;
  const blobId = derivedBlobId(job.id, p.slot);
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
  } catch (err) {
    const failure = judged(err);
    if (signal.aborted) throw err;
    if (!failure.permanent && job.attempt < kind.maxAttempts) throw failure;
    // The final failure: no bytes stay, and the image is killed, as IMS ends a failed import.
    await killImport(deps, p.imageId, key);
    throw JobError.permanent(failure.code, failure.message, err);
  } finally {
    await lease?.end();
  }
}

/** Kills an image a job could not fill and deletes what its runs wrote; an image that became active is left alone. */
async function killImport(deps: ObjectFileDeps, imageId: string, key: string): Promise<void> {
  const killed = await deps.repos.images
    .transition(imageId, ['queued', 'saving'], 'killed', deps.clock.now().toISOString())
    .catch(() => false);
  const image = killed ? null : await deps.repos.images.find(imageId).catch(() => undefined);
  if (image?.status === 'active') return;
  await deps.stores
    .get(deps.stores.defaultName)
    .delete(key)
    .catch(() => {});
}

/**
 * An import whose worker died on every attempt: each image it had not filled is
 * killed and the bytes its runs wrote are deleted, as after a final failure.
 */
export function abandonObjectImport(
  deps: ObjectFileDeps,
  kind: JobKind<ObjectImportPayload, ObjectImportResult>,
): (job: Job) => Promise<void> {
  return async (job) => {
    for (const target of targetsOf(kind, job.payload as ObjectImportPayload))
      await killImport(deps, target.imageId, keyOf(job.id, target.slot));
  };
}

/** The file's virtual disk must fit the image's min_disk (GB), as IMS requires; 0 (a Glance image's default) sets no bound. */
function checkFits(blob: IngestedBlob, p: Pick<ObjectImportPayload, 'minDisk'>): void {
  if (p.minDisk > 0 && blob.virtualSize !== null && blob.virtualSize > p.minDisk * GiB)
    throw JobError.permanent(
      'IMG.0055',
      `The file's virtual disk (${Math.ceil(blob.virtualSize / GiB)} GB) is larger than min_disk ${p.minDisk} GB`,
    );
}

/** One transaction records the blob, admits its bytes and makes the image active. */
async function commit(
  deps: ObjectFileDeps,
  p: Pick<ObjectImportPayload, 'imageId' | 'owner'>,
  blob: IngestedBlob,
): Promise<void> {
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

/** The export kind's handler. Its multipart upload is recorded, so that a crashed run's is aborted later. */
export function objectExportHandler(
  deps: ObjectFileDeps,
  kind: JobKind<ObjectExportPayload, ObjectExportResult>,
): JobHandler<ObjectExportPayload, ObjectExportResult> {
  return async (job, report, signal) => {
    const p = job.payload;
    try {
      const target = needStore(deps.userStore);
      const uploads = new UserUploads(deps.repos, target, deps.clock);
      // A job has one run at a time: an upload an earlier run recorded is one its dead process left.
      await uploads.abortOfJob(job.id);
      const image = await deps.repos.images.find(p.imageId);
      const row = image?.blobId ? await deps.repos.blobs.find(image.blobId) : undefined;
      if (!image || !row || image.status !== 'active')
        throw JobError.permanent(
          ERROR_CATALOGUE.ImageNotActive.ims,
          `Image ${p.imageId} was deleted or is no longer active`,
        );
      const stored = image.diskFormat ?? '';
      const upload = async (source: NodeJS.ReadableStream): Promise<number> => {
        const out = uploads.open(job.id, p.bucket, p.key);
        try {
          await pipeline(source, out.writer.stream, { signal });
          const { size } = await out.writer.commit();
          await out.completed();
          return size;
        } catch (err) {
          await out.abort();
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
            rateLimit: deps.config.convertRateLimit,
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

/** An export whose worker died on every attempt: the multipart uploads its runs started are aborted. */
export function abandonObjectExport(deps: ObjectFileDeps): (job: Job) => Promise<void> {
  return async (job) => {
    if (deps.userStore) await new UserUploads(deps.repos, deps.userStore, deps.clock).abortOfJob(job.id);
  };
}
