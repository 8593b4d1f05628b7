/**
 * The IMAGE_IMPORT job: brings an image's data in (staged, downloaded, or its
 * own for copy-image), converts it when IMS_CONVERT_TO says so, places it in
 * every target store and makes the image active — all in one final
 * transaction, so a reader sees the import either not done or done.
 *
 * Idempotent: every object this job writes has a key derived from the job id
 * and its purpose, so a re-run after a crash writes over what the first run
 * left instead of adding to it; rows are written only by the final transaction;
 * a run that finds that transaction done returns its result. When the job
 * finally fails, the revert deletes those keys, drops the staged data and
 * returns the image to `queued` (copy-image: it stays active), naming the
 * failed stores in `os_glance_failed_import`, as Glance does.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import type { Clock } from '../../adapters/clock.ts';
import type { BlobRow } from '../../adapters/db/blob-repository.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import { QemuImgError } from '../../adapters/qemu-img.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import { safeFetch, WebDownloadError } from '../../adapters/web/safe-fetch.ts';
import type { Config } from '../../config/config.ts';
import { DomainError, ERROR_CATALOGUE } from '../../domain/errors.ts';
import { checkExpected, expectedFromProperties, type ExpectedHash } from '../../domain/expected-hash.ts';
import type { Image } from '../../domain/image.ts';
import type { Job } from '../../domain/job.ts';
import { convertStoredImage, needsConversion } from '../image-convert.ts';
import { IMAGE_IMPORT, type ImportPayload, type ImportResult } from '../import-kinds.ts';
import type { IngestPipeline } from '../ingest.ts';
import type { QuotaService } from '../quotas.ts';
import { JobError } from './errors.ts';
import type { JobHandler, JobRun, ReportProgress } from './kind.ts';

export interface ImportDeps {
  repos: Repositories;
  clock: Clock;
  config: Pick<
    Config,
    'dataDir' | 'convertTo' | 'convertRateLimit' | 'webDownloadAllow' | 'maxImageSize' | 'maxVirtualSize'
  >;
  stores: StoreRegistry;
  ingest: IngestPipeline;
  quotas: QuotaService;
}

/** Data the import has in hand: a stored blob, recorded already (`recorded`) or new. */
interface Held {
  blobId: string;
  store: string;
  key: string;
  size: number;
  checksum: string;
  osHashAlgo: string;
  osHashValue: string;
  diskFormat: string;
  virtualSize: number | null;
  recorded: boolean;
}

const UPLOAD_FAILED = ERROR_CATALOGUE.UploadFailed.ims;

/** A UUID derived from the job and what the object is for: the same on every run of the job. */
export function derivedBlobId(jobId: string, purpose: string): string {
  const h = createHash('sha256').update(`${jobId}\0${purpose}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const slot = (jobId: string, purpose: string) => {
  const blobId = derivedBlobId(jobId, purpose);
  return { blobId, key: `images/${blobId}` };
};

/** [store, key] of every object a run of this import job may write: what its revert deletes and the garbage collector keeps while it runs. */
export function importObjectKeys(jobId: string, p: Pick<ImportPayload, 'stores'>): Array<[string, string]> {
  const first = p.stores[0];
  return [
    ...(first ? [[first, slot(jobId, 'download').key] as [string, string]] : []),
    ...p.stores.map((s): [string, string] => [s, slot(jobId, `store:${s}`).key]),
  ];
}

function heldFromRow(row: BlobRow): Held {
  return {
    blobId: row.id,
    store: row.store,
    key: row.store_key,
    size: row.size,
    checksum: row.checksum,
    osHashAlgo: row.os_hash_algo,
    osHashValue: row.os_hash_value,
    diskFormat: row.disk_format ?? '',
    virtualSize: row.virtual_size,
    recorded: true,
  };
}

/** Whether retrying could help: refusals of the data and bad input cannot. */
function isPermanent(err: unknown): boolean {
  if (err instanceof JobError) return err.permanent;
  if (err instanceof DomainError) return err.status < 500;
  if (err instanceof WebDownloadError) return !['network', 'timeout', 'dns'].includes(err.reason);
  if (err instanceof QemuImgError) return err.kind !== 'timeout' && err.kind !== 'aborted';
  return false;
}

function explain(err: unknown): string {
  if (err instanceof WebDownloadError) return `web-download failed: ${err.message}`;
  if (err instanceof QemuImgError) return `conversion failed: ${err.message}`;
  if (err instanceof DomainError || err instanceof JobError) return err.message;
  return 'Internal error while importing';
}

export function importImageHandler(deps: ImportDeps): JobHandler<ImportPayload, ImportResult> {
  return async (job, report, signal) => {
    const image = await deps.repos.images.find(job.payload.imageId);
    if (!image) throw JobError.permanent(UPLOAD_FAILED, `Image ${job.payload.imageId} was deleted`);
    const done = finishedResult(image, job);
    if (done) return done;
    try {
      return await runImport(deps, job, image, report, signal);
    } catch (err) {
      if (signal.aborted) throw err; // another worker owns the job now, or it goes back to the queue
      if (!isPermanent(err) && job.attempt < IMAGE_IMPORT.maxAttempts) throw err;
      await revert(deps, job).catch(() => {});
      if (err instanceof JobError) throw JobError.permanent(err.code, err.message, err);
      const code = err instanceof DomainError ? err.imsCode : UPLOAD_FAILED;
      throw JobError.permanent(code, explain(err), err);
    }
  };
}

/** The result when an earlier run of this job already committed (the final transaction is the only writer). */
function finishedResult(image: Image, job: JobRun<ImportPayload>): ImportResult | null {
  const p = job.payload;
  if (image.properties['os_glance_import_task'] !== job.id) return null;
  if (image.properties['os_glance_importing_to_stores']) return null;
  if (image.status !== 'active') return null;
  const failed = (image.properties['os_glance_failed_import'] ?? '').split(',').filter(Boolean);
  return {
    stores: p.stores.filter((s) => image.stores.includes(s)),
    failedStores: failed,
    diskFormat: image.diskFormat,
  };
}

async function runImport(
  deps: ImportDeps,
  job: JobRun<ImportPayload>,
  image: Image,
  report: ReportProgress,
  signal: AbortSignal,
): Promise<ImportResult> {
  const { repos, stores, ingest, config } = deps;
  const p = job.payload;
  const diskFormat = image.diskFormat ?? '';
  const first = p.stores[0]!;
  const expected = [...expectedFromProperties(image.properties), ...p.expected];
  const converting = p.method !== 'copy-image' && needsConversion(diskFormat, config.convertTo);
  const fresh: Held[] = [];
  let stagedId: string | null = null;

  // 1. The data.
  let current: Held;
  switch (p.method) {
    case 'glance-direct': {
      stagedId = await repos.imports.staged(p.imageId);
      const row = stagedId ? await repos.blobs.find(stagedId) : undefined;
      if (!row) throw JobError.permanent(UPLOAD_FAILED, `Image ${p.imageId} has no staged data`);
      current = heldFromRow(row);
      await checkStoredHashes(stores, current, expected);
      break;
    }
    case 'web-download': {
      const body = await safeFetch(p.uri!, {
        allow: config.webDownloadAllow,
        maxBytes: config.maxImageSize,
        signal,
      });
      const blob = await ingest.ingest({
        source: body.stream,
        declaredFormat: diskFormat,
        store: first,
        ...slot(job.id, converting ? 'download' : `store:${first}`),
        declaredLength: body.contentLength,
        expected,
        signal,
      });
      current = { ...blob, recorded: false };
      fresh.push(current);
      break;
    }
    case 'copy-image': {
      const row = image.blobId ? await repos.blobs.find(image.blobId) : undefined;
      if (!row) throw JobError.permanent(UPLOAD_FAILED, `Image ${p.imageId} has no data to copy`);
      // The stored inspection stands: a copy of the same bytes is checked against their hash, not re-judged.
      current = heldFromRow(row);
      break;
    }
  }
  await report(30);

  // 2. Conversion (IMS_CONVERT_TO).
  const dropAfter: Held[] = [];
  if (converting) {
    const converted = await convertStoredImage(
      {
        source: { store: current.store, key: current.key, diskFormat },
        targetFormat: config.convertTo!,
        target: { store: first, ...slot(job.id, `store:${first}`) },
        workDir: path.join(config.dataDir, 'work', job.id),
        maxVirtualSize: config.maxVirtualSize,
        rateLimit: config.convertRateLimit,
        signal,
        onProgress: (pct) => report(30 + Math.floor(pct * 0.4)),
      },
      stores,
      ingest,
    );
    if (!current.recorded) dropAfter.push(current);
    current = { ...converted, recorded: false };
    fresh.push(current);
  }
  await report(70);

  // 3. One copy per target store.
  const placed = new Map<string, Held>();
  const failed: string[] = [];
  for (const store of p.stores) {
    if (p.method !== 'copy-image' && store === current.store) {
      placed.set(store, current);
      continue;
    }
    try {
      const copy = await ingest.ingest({
        source: await stores.get(current.store).read(current.key),
        declaredFormat: current.diskFormat,
        store,
        ...slot(job.id, `store:${store}`),
        expected: [{ algo: 'sha512', value: current.osHashValue, source: `the copy in ${current.store}` }],
        signal,
      });
      const held = { ...copy, recorded: false };
      fresh.push(held);
      placed.set(store, held);
    } catch (err) {
      if (p.allStoresMustSucceed || signal.aborted) throw err;
      failed.push(store);
    }
  }
  if (placed.size === 0) throw JobError.permanent(UPLOAD_FAILED, `Import to ${p.stores.join(', ')} failed`);
  await report(90);

  // 4. One transaction makes it visible.
  const released: BlobRow[] = [];
  await repos.transaction(async (tx) => {
    const now = deps.clock.now().toISOString();
    for (const held of placed.values()) {
      if (!held.recorded) await tx.blobs.insert(ingest.blobRow(held, now));
    }
    if (p.method === 'copy-image') {
      for (const [store, held] of placed) await tx.imports.addReplica(p.imageId, store, held.blobId, now);
    } else {
      const primary = placed.get(first) ?? placed.values().next().value!;
      // The owner's byte quota holds the import in the transaction that makes it count.
      await deps.quotas.admitBytes(tx, image.owner, primary.size);
      const ok = await tx.images.transition(p.imageId, ['importing'], 'active', now, {
        blobId: primary.blobId,
        size: primary.size,
        virtualSize: primary.virtualSize,
        checksum: primary.checksum,
        osHashAlgo: primary.osHashAlgo,
        osHashValue: primary.osHashValue,
      });
      if (!ok)
        throw JobError.permanent(
          UPLOAD_FAILED,
          `Image ${p.imageId} was deleted or changed during the import`,
        );
      if (primary.diskFormat !== diskFormat) await tx.images.setDiskFormat(p.imageId, primary.diskFormat);
      for (const [store, held] of placed) {
        if (held !== primary) await tx.imports.addReplica(p.imageId, store, held.blobId, now);
      }
      const staged = await tx.imports.unstage(p.imageId);
      const adopted = [...placed.values()].some((h) => h.blobId === staged);
      if (staged && !adopted) {
        const row = await tx.blobs.release(staged);
        if (row) released.push(row);
      }
    }
    const ok = await tx.images.setServiceProperties(
      p.imageId,
      { os_glance_importing_to_stores: '', os_glance_failed_import: failed.join(',') },
      now,
    );
    if (!ok) throw JobError.permanent(UPLOAD_FAILED, `Image ${p.imageId} was deleted during the import`);
  });
  // Bytes nobody references any more: the staged data (copied or converted) and a download that was converted.
  for (const row of released)
    await stores
      .get(row.store)
      .delete(row.store_key)
      .catch(() => {});
  for (const held of dropAfter)
    await stores
      .get(held.store)
      .delete(held.key)
      .catch(() => {});
  return { stores: [...placed.keys()], failedStores: failed, diskFormat: current.diskFormat };
}

/** Expected hashes against stored data: md5 and sha512 are on record, any other is computed. */
async function checkStoredHashes(stores: StoreRegistry, held: Held, expected: readonly ExpectedHash[]) {
  if (expected.length === 0) return;
  const actual: Record<string, string> = { md5: held.checksum, sha512: held.osHashValue };
  const others = [...new Set(expected.map((e) => e.algo))].filter((a) => !(a in actual));
  if (others.length) {
    const hashes = others.map((a) => [a, createHash(a)] as const);
    await pipeline(
      await stores.get(held.store).read(held.key),
      new Writable({
        write(chunk: Buffer, _e, done) {
          for (const [, h] of hashes) h.update(chunk);
          done();
        },
      }),
    );
    for (const [a, h] of hashes) actual[a] = h.digest('hex');
  }
  checkExpected(expected, actual);
}

/** The final failure: nothing of this job stays, the image goes back as Glance sends it back. */
async function revert(deps: ImportDeps, job: JobRun<ImportPayload>): Promise<void> {
  const { repos, stores } = deps;
  const p = job.payload;
  for (const [store, key] of importObjectKeys(job.id, p)) {
    if (stores.has(store))
      await stores
        .get(store)
        .delete(key)
        .catch(() => {});
  }
  const released: BlobRow[] = [];
  await repos.transaction(async (tx) => {
    const now = deps.clock.now().toISOString();
    if (p.method !== 'copy-image') {
      await tx.images.transition(p.imageId, ['importing'], 'queued', now);
      const staged = await tx.imports.unstage(p.imageId);
      if (staged) {
        const row = await tx.blobs.release(staged);
        if (row) released.push(row);
      }
    }
    await tx.images.setServiceProperties(
      p.imageId,
      { os_glance_importing_to_stores: '', os_glance_failed_import: p.stores.join(',') },
      now,
    );
  });
  for (const row of released)
    await stores
      .get(row.store)
      .delete(row.store_key)
      .catch(() => {});
}

/**
 * For a job failed because its worker died on every attempt (the job service's
 * failAbandoned, or the reaper finding its image still importing): the same
 * revert as a final failure, when the image is still this job's import.
 */
export async function revertAbandonedImport(deps: ImportDeps, job: Job): Promise<boolean> {
  const p = job.payload as ImportPayload;
  const image = await deps.repos.images.find(p.imageId);
  if (!image || image.properties['os_glance_import_task'] !== job.id) return false;
  const unfinished = image.status === 'importing' || !!image.properties['os_glance_importing_to_stores'];
  if (!unfinished) return false;
  await revert(deps, { id: job.id, projectId: job.projectId, payload: p, attempt: job.attempts });
  return true;
}
