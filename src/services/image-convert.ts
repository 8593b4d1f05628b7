/**
 * The image-conversion step of an import (IMS_CONVERT_TO): stored data in one
 * format becomes a new blob in another, by the reference's pipeline
 * (format-safety.md §2): inspect the local copy again (random access), run
 * `qemu-img info` and cross-check it, `qemu-img check` where the driver has
 * one, convert with explicit -f/-O under limits, and ingest the output, which
 * inspects it again as the target format and hashes it.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  crossCheckInfo,
  qemuCheck,
  qemuConvert,
  qemuInfo,
  qemuMapRaw,
  type QemuImgLogger,
  type QemuTargetDriver,
} from '../adapters/qemu-img.ts';
import { SparseFileWriter } from '../adapters/sparse-file-writer.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { DomainError } from '../domain/errors.ts';
import { inspectReader, isOpaqueFormat, openFileReader, type QemuDriver } from '../formats/index.ts';
import type { IngestedBlob, IngestPipeline } from './ingest.ts';

/** Glance disk_format → the qemu-img driver that writes it. */
const TARGET_DRIVER: Readonly<Record<string, QemuTargetDriver>> = {
  raw: 'raw',
  qcow2: 'qcow2',
  vmdk: 'vmdk',
  vhd: 'vpc',
  vhdx: 'vhdx',
  vdi: 'vdi',
  qed: 'qed',
};
const CHECKABLE: ReadonlySet<string> = new Set(['qcow2', 'qed', 'vdi', 'vhdx', 'vmdk']);

export interface ConvertStep {
  /** Where the data is now. */
  source: { store: string; key: string; diskFormat: string };
  targetFormat: string;
  /** Where the output goes (deterministic per job, so a re-run replaces it). */
  target: { store: string; blobId: string; key: string };
  /** A private directory for this job; emptied first and removed after. */
  workDir: string;
  maxVirtualSize: bigint;
  /** Bytes per second qemu-img may copy (IMS_CONVERT_RATE_LIMIT); null: no limit. */
  rateLimit?: number | null;
  signal?: AbortSignal;
  onProgress?: (percent: number) => void | Promise<void>;
  log?: QemuImgLogger;
}

const refuse = (msg: string) => new DomainError('UploadFailed', msg);

/** Whether an import of this format is converted to `target`: never ISO (as Glance), never the same format. */
export function needsConversion(diskFormat: string, target: string | null): boolean {
  return target !== null && diskFormat !== target && diskFormat !== 'iso';
}

/** What a conversion to a local file needs: a ConvertStep without the target blob. */
export type ConvertToFileStep = Omit<ConvertStep, 'target'>;

/** How qemu-img runs for a step: in its work directory, stopped by its signal. */
const runOptions = (step: ConvertToFileStep) => ({
  workDir: step.workDir,
  ...(step.signal ? { signal: step.signal } : {}),
  ...(step.log ? { log: step.log } : {}),
});

/** Converts stored data and ingests the output as a new blob of the target store. */
export async function convertStoredImage(
  step: ConvertStep,
  stores: StoreRegistry,
  ingest: IngestPipeline,
): Promise<IngestedBlob> {
  // The output is new data: inspected again, as the target format, while it is hashed. A file store
  // on the same file system adopts the output file itself instead of a copy.
  return withConvertedFile(step, stores, async (output) =>
    ingest.ingestFile({
      file: output,
      // A raw output keeps the source's holes: they are hashed as the zeros they are, not read.
      extents:
        step.targetFormat === 'raw'
          ? await qemuMapRaw(output, (await stat(output)).size, runOptions(step))
          : null,
      declaredFormat: step.targetFormat,
      store: step.target.store,
      blobId: step.target.blobId,
      key: step.target.key,
      ...(step.signal ? { signal: step.signal } : {}),
    }),
  );
}

/**
 * Puts the stored data at `input` in the private work directory, where qemu-img reads it. A file
 * store links the stored object there (no bytes move); any other store, or a file store on another
 * file system, is copied, sparsely, since images are mostly holes.
 *
 * The link is as safe as a copy under the reference's rules (format-safety.md §2.1): qemu-img only
 * ever sees `input`, a name the service chose in a 0700 directory that holds nothing else, so a
 * relative name inside the image still resolves to nothing of another image; the bytes are the
 * same committed, immutable object either way; and every qemu-img call on `input` opens it
 * read-only (`info`, `check` without `-r`, the source of `convert`; the strace test checks the open
 * flags), so the stored object cannot change through the second name.
 */
async function placeSource(
  stores: StoreRegistry,
  source: ConvertStep['source'],
  input: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const store = stores.get(source.store);
  if (store.linkLocal && (await store.linkLocal(source.key, input))) return;
  await pipeline(await store.read(source.key), new SparseFileWriter(input), ...(signal ? [{ signal }] : []));
}

/**
 * Converts stored data to a file in the step's work directory and hands its
 * path to `use` (an import ingests it, an export uploads it); the directory is
 * removed afterwards, whatever happened.
 */
export async function withConvertedFile<T>(
  step: ConvertToFileStep,
  stores: StoreRegistry,
  use: (output: string) => Promise<T>,
): Promise<T> {
  const { source, targetFormat, workDir } = step;
  // zvhd/zvhd2 are closed formats qemu-img cannot read or write.
  for (const f of [source.diskFormat, targetFormat]) {
    if (isOpaqueFormat(f)) throw refuse(`Conversion of ${f}: format not supported by this deployment`);
  }
  const targetDriver = TARGET_DRIVER[targetFormat];
  if (!targetDriver) throw refuse(`Conversion to ${targetFormat}: format not supported by this deployment`);

  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  try {
    const input = path.join(workDir, 'source');
    const output = path.join(workDir, 'target');
    await placeSource(stores, source, input, step.signal);

    const reader = await openFileReader(input);
    let verdict;
    try {
      verdict = await inspectReader(reader, {
        maxVirtualSize: step.maxVirtualSize,
        declaredFormat: source.diskFormat,
      });
    } finally {
      await reader.close();
    }
    if (!verdict.ok || verdict.qemuFormat === null) {
      const why = verdict.violations.map((v) => `${v.reason}: ${v.detail}`).join('; ');
      throw refuse(`Image data refused before conversion: ${why || 'no qemu driver'}`);
    }
    const driver: QemuDriver = verdict.qemuFormat;
    const run = runOptions(step);
    const info = await qemuInfo(input, driver, run);
    const disagreements = crossCheckInfo(info, verdict, { maxVirtualSize: step.maxVirtualSize });
    if (disagreements.length) {
      throw refuse(`Image data refused: ${disagreements.map((v) => `${v.reason}: ${v.detail}`).join('; ')}`);
    }
    if (CHECKABLE.has(driver)) {
      const check = await qemuCheck(input, driver, run);
      if (check.status === 'corrupt' || check.status === 'check-failed') {
        throw refuse(`Image data refused: qemu-img check reports the image ${check.status}`);
      }
    }
    await qemuConvert({
      ...run,
      source: input,
      sourceDriver: driver,
      target: output,
      targetDriver,
      virtualSize: info.virtualSize,
      ...(step.rateLimit ? { rateLimit: step.rateLimit } : {}),
      ...(step.onProgress ? { onProgress: step.onProgress } : {}),
    });
    return await use(output);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
