/**
 * The qemu-img adapter: `info`, `check` and `convert` on files the service
 * chose, after the format inspector (src/formats) has accepted them. The rules
 * come from shared/reference/format-safety.md:
 *
 * - `-f` (and `-O`) always explicit, from an allow-list of drivers; never
 *   `--backing-chain`, never a write-capable command on user content (`check`
 *   never gets `-r`).
 * - Paths must be plain absolute paths inside the caller's work dir, with no
 *   character qemu-img could read as a protocol or `json:` spec
 *   (qemu-img-paths.ts); a target must not exist yet.
 * - Every run is under prlimit (address space, CPU time), with a wall-clock
 *   timeout that kills the process group, `MALLOC_ARENA_MAX=2`, and one retry
 *   when thread creation fails with EAGAIN under the address-space cap
 *   (qemu-img-run.ts).
 * - zvhd/zvhd2 are closed formats: any call naming them is refused
 *   (`unsupported`) without starting anything.
 *
 * What the adapter does not do: decide whether an image is acceptable. That is
 * the inspector's verdict plus `crossCheckInfo` (qemu-img-crosscheck.ts).
 */
import fs from 'node:fs/promises';
import type { OpaqueFormat } from '../formats/declared.ts';
import type { QemuDriver } from '../formats/index.ts';
import { ConversionGate } from './qemu-img-gate.ts';
import { JsonSyntaxError, parseJsonLossless, type JsonValue } from './qemu-img-json.ts';
import { UnsafePathError, checkSourcePath, checkTargetPath } from './qemu-img-paths.ts';
import { runQemuImg, type RunLimits, type RunResult } from './qemu-img-run.ts';

export { ConversionGate, defaultConversionConcurrency } from './qemu-img-gate.ts';
export { crossCheckInfo, type CrossCheckOptions } from './qemu-img-crosscheck.ts';
export type { JsonValue } from './qemu-img-json.ts';

const GiB = 1024n ** 3n;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * - `timeout`: the wall-clock limit passed; the process group was killed.
 * - `resource-limit`: CPU-time or address-space cap hit (also after the one EAGAIN retry), or
 *   output larger than allowed.
 * - `failed`: qemu-img ran and failed (or could not be started, or printed something unparseable).
 * - `aborted`: the caller's AbortSignal fired (before or during the run, or while queued).
 * - `unsupported`: zvhd/zvhd2, which no qemu-img can read or write.
 * - `invalid-argument`: refused before spawning: a path outside the work dir or with unsafe
 *   characters, an existing target, an unknown driver, a disallowed `-o` option.
 */
export type QemuImgErrorKind =
  'timeout' | 'resource-limit' | 'failed' | 'aborted' | 'unsupported' | 'invalid-argument';

export class QemuImgError extends Error {
  override readonly name = 'QemuImgError';
  readonly kind: QemuImgErrorKind;
  /** The end of qemu-img's stderr (at most 8 KiB); empty when nothing ran. */
  readonly stderrTail: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** qemu-img runs made (0 when refused before spawning, 2 after the EAGAIN retry). */
  readonly attempts: number;

  constructor(
    kind: QemuImgErrorKind,
    message: string,
    details: {
      stderrTail?: string;
      exitCode?: number | null;
      signal?: string | null;
      attempts?: number;
    } = {},
  ) {
    super(message);
    this.kind = kind;
    this.stderrTail = details.stderrTail ?? '';
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.attempts = details.attempts ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Drivers, limits, options shared by every call
// ---------------------------------------------------------------------------------------------

/** Drivers qemu-img may open with `-f`: exactly what the inspector can vouch for. */
const READ_DRIVERS: ReadonlySet<string> = new Set<QemuDriver>([
  'raw',
  'qcow2',
  'qcow',
  'vmdk',
  'vpc',
  'vhdx',
  'vdi',
  'qed',
]);
/** Drivers qemu-img may write with `-O`: not legacy qcow v1, which IMS only ever reads. */
export type QemuTargetDriver = Exclude<QemuDriver, 'qcow'>;
const WRITE_DRIVERS: ReadonlySet<string> = new Set<QemuTargetDriver>([
  'raw',
  'qcow2',
  'vmdk',
  'vpc',
  'vhdx',
  'vdi',
  'qed',
]);
const OPAQUE: ReadonlySet<string> = new Set<OpaqueFormat>(['zvhd', 'zvhd2']);

/** Resource caps for one call; each defaults as documented on the call. */
export interface QemuLimits {
  readonly addressSpaceBytes?: bigint;
  readonly cpuSeconds?: number;
  readonly timeoutMs?: number;
}

/** Structurally compatible with the job worker's logger. */
export interface QemuImgLogger {
  warn(fields: object, msg: string): void;
}

export interface QemuRunOptions {
  /** The private directory every path must lie in; also qemu-img's cwd. Absolute. */
  readonly workDir: string;
  readonly limits?: QemuLimits;
  readonly signal?: AbortSignal;
  readonly log?: QemuImgLogger;
  /** The qemu-img executable (tests inject a fake); default `qemu-img` from PATH. */
  readonly qemuImg?: string;
  /** The prlimit executable (util-linux); default `prlimit` from PATH. There is no uncapped fallback. */
  readonly prlimit?: string;
}

/** `info`/`check`: 1 GiB and 10 s of CPU (reference §4); the wall clock is for I/O stalls. */
export const INFO_LIMITS: Required<QemuLimits> = {
  addressSpaceBytes: 1n * GiB,
  cpuSeconds: 10,
  timeoutMs: 30_000,
};

/**
 * `convert`: 2 GiB of address space (with MALLOC_ARENA_MAX=2 this never hit the EAGAIN failure in
 * our runs); CPU and wall clock proportional to the virtual size. Bare qemu-img needs about 1 s of
 * CPU and wall per GiB of *data* on this machine (and less for holes), zlib compression ~20 s/GiB, so
 * these leave a wide margin while still ending a run that loops.
 */
export function convertLimits(virtualSize: bigint, rateLimit?: number): Required<QemuLimits> {
  const gib = Number((virtualSize + GiB - 1n) / GiB);
  // Under `-r`, copying every byte of the disk takes virtualSize / rateLimit seconds more at most.
  const throttled = rateLimit ? Math.ceil(Number(virtualSize) / rateLimit) : 0;
  return {
    addressSpaceBytes: 2n * GiB,
    cpuSeconds: 60 + 30 * gib,
    timeoutMs: (120 + 60 * gib + throttled) * 1000,
  };
}

/** The message qemu prints when a thread cannot be created (reference §4): worth one retry. */
const THREAD_EAGAIN = 'qemu_thread_create: Resource temporarily unavailable';
const RESOURCE_MESSAGES = [
  THREAD_EAGAIN,
  'Cannot allocate memory',
  'Failed to allocate',
  'failed to allocate',
  'Out of memory',
  'out of memory',
];

const MAX_JSON_OUTPUT = 4 * 1024 * 1024;

function checkDriver(driver: string, allowed: ReadonlySet<string>, flag: string): void {
  if (OPAQUE.has(driver)) {
    throw new QemuImgError('unsupported', `${driver}: format not supported by this deployment`);
  }
  if (typeof driver !== 'string' || !allowed.has(driver)) {
    throw new QemuImgError('invalid-argument', `${flag} ${String(driver)}: not an allowed qemu-img driver`);
  }
}

async function refuseUnsafe(check: Promise<void>): Promise<void> {
  try {
    await check;
  } catch (err) {
    if (err instanceof UnsafePathError) throw new QemuImgError('invalid-argument', err.message);
    throw err;
  }
}

function abortedError(attempts = 0): QemuImgError {
  return new QemuImgError('aborted', 'qemu-img: aborted', { attempts });
}

/** The error a finished run stands for, or null when it succeeded. */
function classify(r: RunResult, what: string, attempts: number, limits: RunLimits): QemuImgError | null {
  const details = { stderrTail: r.stderrTail, exitCode: r.code, signal: r.signal, attempts };
  switch (r.ended) {
    case 'aborted':
      return new QemuImgError('aborted', `${what}: aborted`, details);
    case 'timeout':
      return new QemuImgError(
        'timeout',
        `${what}: killed after ${limits.timeoutMs} ms (wall clock)`,
        details,
      );
    case 'stdout-overflow':
      return new QemuImgError('resource-limit', `${what}: output larger than allowed`, details);
    case 'spawn-error':
      return new QemuImgError(
        'failed',
        `${what}: could not start prlimit: ${r.spawnError?.message}`,
        details,
      );
    case 'exit':
      break;
  }
  if (r.code === 0) return null;
  // RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL at the hard one (prlimit sets both to the
  // same value); the kernel's OOM killer also sends SIGKILL. Our own kills are `timeout`/`aborted`.
  if (r.signal === 'SIGXCPU' || r.signal === 'SIGKILL') {
    return new QemuImgError(
      'resource-limit',
      `${what}: killed by ${r.signal} (CPU time limit of ${limits.cpuSeconds} s, or out of memory)`,
      details,
    );
  }
  if (RESOURCE_MESSAGES.some((m) => r.stderrTail.includes(m))) {
    return new QemuImgError(
      'resource-limit',
      `${what}: out of memory or threads under the ${limits.addressSpaceBytes}-byte cap`,
      details,
    );
  }
  const last = r.stderrTail.trim().split('\n').pop() ?? '';
  const how = r.signal ? `signal ${r.signal}` : `exit code ${r.code}`;
  return new QemuImgError('failed', `${what}: ${how}${last ? `: ${last}` : ''}`, details);
}

interface Attempted {
  readonly result: RunResult;
  readonly attempts: number;
}

/**
 * Runs qemu-img, retrying once when it dies of the EAGAIN thread-creation failure; `beforeRetry`
 * clears what the failed run left (a partial target). Both runs share one wall-clock budget.
 * Resolves only with a finished run that may still have failed: `exit` with any code.
 */
async function runWithRetry(
  what: string,
  args: readonly string[],
  o: QemuRunOptions,
  limits: RunLimits,
  extra: { maxStdoutBytes: number; onStdout?: (text: string) => void; beforeRetry?: () => Promise<void> },
): Promise<Attempted> {
  const deadline = Date.now() + limits.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const result = await runQemuImg({
      qemuImg: o.qemuImg ?? 'qemu-img',
      prlimit: o.prlimit ?? 'prlimit',
      args,
      cwd: o.workDir,
      limits: { ...limits, timeoutMs: Math.max(1, deadline - Date.now()) },
      signal: o.signal,
      maxStdoutBytes: extra.maxStdoutBytes,
      onStdout: extra.onStdout,
    });
    const retry =
      attempt === 1 &&
      result.ended === 'exit' &&
      result.code !== 0 &&
      result.stderrTail.includes(THREAD_EAGAIN);
    if (!retry) return { result, attempts: attempt };
    o.log?.warn(
      { what, stderr: result.stderrTail.slice(-500) },
      'qemu-img could not create a thread; retrying once',
    );
    await extra.beforeRetry?.();
  }
}

function resolveLimits(defaults: Required<QemuLimits>, given: QemuLimits | undefined): RunLimits {
  // An explicit `undefined` means "the default", not "no limit".
  const l = { ...defaults };
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) Object.assign(l, { [k]: v });
  if (typeof l.addressSpaceBytes !== 'bigint' || l.addressSpaceBytes <= 0n) {
    throw new QemuImgError('invalid-argument', 'addressSpaceBytes must be a positive bigint');
  }
  for (const [k, v] of [
    ['cpuSeconds', l.cpuSeconds],
    ['timeoutMs', l.timeoutMs],
  ] as const) {
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new QemuImgError('invalid-argument', `${k} must be a positive integer`);
  }
  return l;
}

function parseJsonOutput(what: string, r: RunResult, attempts: number): { [key: string]: JsonValue } {
  try {
    const doc = parseJsonLossless(r.stdout);
    if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) return doc;
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
  }
  throw new QemuImgError('failed', `${what}: unparseable JSON output`, {
    stderrTail: r.stderrTail,
    attempts,
  });
}

// ---------------------------------------------------------------------------------------------
// info
// ---------------------------------------------------------------------------------------------

export type JsonObject = { [key: string]: JsonValue };

/** `qemu-img info --output=json`, typed. Integers are exact (see qemu-img-json.ts). */
export interface QemuImageInfo {
  /** The driver qemu used: always the `-f` given. */
  readonly format: string;
  readonly virtualSize: bigint;
  /** Bytes allocated on the host file system (null when qemu cannot tell). */
  readonly actualSize: bigint | null;
  readonly clusterSize: number | null;
  /**
   * `backing-filename` (or `full-backing-filename`) when qemu saw one, else null. A non-null value
   * here after the inspector passed the file is a refusal (crossCheckInfo).
   */
  readonly backingFilename: string | null;
  readonly backingFormat: string | null;
  readonly encrypted: boolean;
  readonly dirty: boolean;
  /** `format-specific`: e.g. qcow2 `compat`, `corrupt`, `data-file`; vmdk `create-type`, `extents`. */
  readonly formatSpecific: { readonly type: string; readonly data: JsonObject } | null;
  /** The path qemu reported (the one given). */
  readonly filename: string;
  /** The whole document. */
  readonly raw: JsonObject;
}

const asInt = (v: JsonValue | undefined): bigint | null =>
  typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : null;
const asString = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
const asObject = (v: JsonValue | undefined): JsonObject | null =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v : null;

/** Parses `qemu-img info --output=json` (exported for tests and for callers holding stored output). */
export function parseInfo(doc: JsonObject): QemuImageInfo {
  const virtualSize = asInt(doc['virtual-size']);
  const format = asString(doc['format']);
  if (virtualSize === null || virtualSize < 0n || format === null) {
    throw new QemuImgError('failed', 'qemu-img info: output lacks format or virtual-size');
  }
  const clusterSize = asInt(doc['cluster-size']);
  const fs0 = asObject(doc['format-specific']);
  const fsType = asString(fs0?.['type']);
  const fsData = asObject(fs0?.['data']);
  return {
    format,
    virtualSize,
    actualSize: asInt(doc['actual-size']),
    clusterSize: clusterSize === null ? null : Number(clusterSize),
    backingFilename: asString(doc['backing-filename']) ?? asString(doc['full-backing-filename']),
    backingFormat: asString(doc['backing-filename-format']),
    encrypted: doc['encrypted'] === true,
    dirty: doc['dirty-flag'] === true,
    formatSpecific: fsType !== null ? { type: fsType, data: fsData ?? {} } : null,
    filename: asString(doc['filename']) ?? '',
    raw: doc,
  };
}

/**
 * `qemu-img info --output=json -f <driver> <path>` (never `--backing-chain`), under 1 GiB address
 * space, 10 s CPU and a 30 s wall clock unless `limits` says otherwise. `path` must be a regular
 * file inside `workDir`. Only call it on a file the inspector accepted: even `info` opens VMDK
 * extent files named in a descriptor.
 */
export async function qemuInfo(
  path: string,
  driver: QemuDriver | OpaqueFormat,
  options: QemuRunOptions,
): Promise<QemuImageInfo> {
  checkDriver(driver, READ_DRIVERS, '-f');
  const limits = resolveLimits(INFO_LIMITS, options.limits);
  await refuseUnsafe(checkSourcePath(options.workDir, path));
  if (options.signal?.aborted) throw abortedError();
  const what = `qemu-img info (${driver})`;
  const { result, attempts } = await runWithRetry(
    what,
    ['info', '--output=json', '-f', driver, path],
    options,
    limits,
    { maxStdoutBytes: MAX_JSON_OUTPUT },
  );
  const err = classify(result, what, attempts, limits);
  if (err) throw err;
  return parseInfo(parseJsonOutput(what, result, attempts));
}

// ---------------------------------------------------------------------------------------------
// map
// ---------------------------------------------------------------------------------------------

/** A stretch of a raw file: data to read, or a hole (reads as zeros and need not be read). */
export interface FileExtent {
  readonly start: number;
  readonly length: number;
  readonly hole: boolean;
}

/**
 * Where a raw file of ours has data and where it has holes: `qemu-img map --output=json -f raw`,
 * under the `info` limits. Null when the answer does not cover [0, size) exactly in order, or is
 * too long to keep: the caller then reads the whole file, as it would without a map. Only
 * stretches qemu-img reports as zero and not data count as holes.
 */
export async function qemuMapRaw(
  path: string,
  size: number,
  options: QemuRunOptions,
): Promise<FileExtent[] | null> {
  const limits = resolveLimits(INFO_LIMITS, options.limits);
  await refuseUnsafe(checkSourcePath(options.workDir, path));
  if (options.signal?.aborted) throw abortedError();
  const what = 'qemu-img map (raw)';
  const { result, attempts } = await runWithRetry(
    what,
    ['map', '--output=json', '-f', 'raw', path],
    options,
    limits,
    { maxStdoutBytes: MAX_JSON_OUTPUT },
  );
  if (classify(result, what, attempts, limits)) return null;
  let doc: JsonValue;
  try {
    doc = parseJsonLossless(result.stdout);
  } catch {
    return null;
  }
  if (!Array.isArray(doc)) return null;
  const extents: FileExtent[] = [];
  let at = 0;
  for (const entry of doc) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return null;
    const { start, length, data, zero } = entry;
    if (typeof start !== 'number' || typeof length !== 'number' || start !== at || length <= 0) return null;
    const hole = zero === true && data === false;
    const last = extents[extents.length - 1];
    if (last && last.hole === hole) extents[extents.length - 1] = { ...last, length: last.length + length };
    else extents.push({ start, length, hole });
    at += length;
  }
  return at === size ? extents : null;
}

// ---------------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------------

/**
 * - `clean` (rc 0) and `leaks` (rc 3: leaked clusters waste space but lose no data) are acceptable;
 * - `corrupt` (rc 2) and `check-failed` (rc 1: the check could not complete) are refusals;
 * - `not-supported` (rc 63): the driver has no check (raw, vpc, qcow).
 */
export type QemuCheckStatus = 'clean' | 'leaks' | 'corrupt' | 'check-failed' | 'not-supported';

export interface QemuCheckResult {
  readonly status: QemuCheckStatus;
  readonly exitCode: number;
  /** The JSON report (`corruptions`, `leaks`, `check-errors`, ...) when qemu printed one. */
  readonly report: JsonObject | null;
  readonly stderrTail: string;
}

const CHECK_STATUS: Readonly<Record<number, QemuCheckStatus>> = {
  0: 'clean',
  1: 'check-failed',
  2: 'corrupt',
  3: 'leaks',
  63: 'not-supported',
};

/**
 * `qemu-img check --output=json -f <driver> <path>`, read-only (never `-r`), under the `info` limits
 * with a 60 s wall clock. `check` opens backing files: call it only after the inspector has refused
 * every image that names one. Throws only for refusals, limits, timeouts and aborts; a corrupt image
 * is a result, not an error.
 */
export async function qemuCheck(
  path: string,
  driver: QemuDriver | OpaqueFormat,
  options: QemuRunOptions,
): Promise<QemuCheckResult> {
  checkDriver(driver, READ_DRIVERS, '-f');
  const limits = resolveLimits({ ...INFO_LIMITS, timeoutMs: 60_000 }, options.limits);
  await refuseUnsafe(checkSourcePath(options.workDir, path));
  if (options.signal?.aborted) throw abortedError();
  const what = `qemu-img check (${driver})`;
  const { result, attempts } = await runWithRetry(
    what,
    ['check', '--output=json', '-f', driver, path],
    options,
    limits,
    { maxStdoutBytes: MAX_JSON_OUTPUT },
  );
  const status = result.ended === 'exit' && result.code !== null ? CHECK_STATUS[result.code] : undefined;
  const err = classify(result, what, attempts, limits);
  // A resource failure during a check exits 1 too: that is a limit, not a verdict on the image.
  if (status === undefined || (err && err.kind !== 'failed')) {
    throw (
      err ??
      new QemuImgError('failed', `${what}: unexpected exit`, { stderrTail: result.stderrTail, attempts })
    );
  }
  let report: JsonObject | null = null;
  if (result.stdout.trim() !== '') {
    try {
      report = asObject(parseJsonLossless(result.stdout));
    } catch {
      report = null;
    }
  }
  return { status, exitCode: result.code ?? -1, report, stderrTail: result.stderrTail };
}

// ---------------------------------------------------------------------------------------------
// convert
// ---------------------------------------------------------------------------------------------

/**
 * How qemu-img convert schedules its I/O. The defaults were measured with `bench/convert.ts --tune`
 * on this machine (2 vCPU, virtio disk, 23 GiB RAM, so the 2 GiB images stay in the page cache):
 * see DEFAULT_CONVERT_TUNING.
 */
export interface ConvertTuning {
  /** `-W`: let writes complete out of order. */
  readonly outOfOrder: boolean;
  /** `-m N`: parallel coroutines (qemu default 8, max 16). */
  readonly coroutines: number;
  /** `-t`: target cache mode (qemu-img convert's own default is `unsafe`). */
  readonly targetCache: 'none' | 'writeback' | 'unsafe' | 'writethrough' | 'directsync';
  /** `-T`: source cache mode (qemu's default `writeback`; `none` reads with O_DIRECT, past the page cache). */
  readonly sourceCache: 'none' | 'writeback';
}

/**
 * `-m 8 -t unsafe -T writeback`, no `-W`: measured with `bench/convert.ts --tune` (2026-11-28, 2 vCPU
 * AMD EPYC VM, ext4 on virtio, qemu-img 7.2.22, other test suites running at the same time, so ±15%
 * is noise). 2 GiB virtual raw with 1 GiB of random data, and the qcow2 made from it; seconds, best
 * of N, "+sha" = conversion then sha512 of the output in Node:
 *
 *   warm source (page cache), -t unsafe, best of 5   -W off: -m 4   -m 8   -m 16 | -W on: -m 4   -m 8   -m 16
 *     raw→qcow2                                              0.32   0.37   0.45  |        0.31   0.34   0.38
 *     qcow2→raw                                              0.28   0.32   0.43  |        0.29   0.29   0.35
 *   cold source (-T none), best of 3, -t unsafe / -t writeback
 *     raw→qcow2                                        0.68/1.35 0.75/1.42 0.76/1.91 | 0.73/1.80 0.76/1.60 0.83/1.61
 *     qcow2→raw                                        0.85/1.47 0.66/1.42 0.79/1.59 | 0.69/1.39 0.81/1.23 1.05/1.52
 *   target cache, warm, -W off -m 4, best of 2:     -t none 2.32 (+sha 6.85), writeback 1.46 (3.07),
 *     raw→qcow2                                       unsafe 0.39 (1.86)
 *     qcow2→raw                                       none 1.24 (4.28), writeback 0.93 (3.43), unsafe 0.32 (3.26)
 *
 * - `-t unsafe` (qemu-img convert's own default; no flushes) is 3–6× faster than `writeback` (one
 *   fsync of the whole output) and `none` (O_DIRECT: every write goes to the disk, and the hash
 *   that follows must read it back from there; tmpfs does not support it at all). The target is a
 *   scratch file that is hashed at once and then either adopted by a file store, which fsyncs it
 *   only then, or copied into the blob store; after a crash the job runs again on a fresh path, so
 *   durability during the conversion buys nothing.
 * - `-W` and `-m`: no difference beyond the noise, except that `-m 16` is consistently a little
 *   slower on 2 CPUs. `-W` also lets a qcow2 target's clusters land in completion order (a
 *   fragmented, non-reproducible layout) for no measured gain, so it stays off; `-m 8` is qemu's
 *   default, within the noise of `-m 4` here, and keeps more requests in flight for slower (network) disks.
 */
export const DEFAULT_CONVERT_TUNING: ConvertTuning = {
  outOfOrder: false,
  coroutines: 8,
  targetCache: 'unsafe',
  sourceCache: 'writeback',
};

/** `-o` options a conversion may set, per target driver, with the values allowed (null = any safe token). */
const CREATE_OPTIONS: Readonly<Record<QemuTargetDriver, Readonly<Record<string, readonly string[] | null>>>> =
  {
    raw: { preallocation: ['off', 'falloc', 'full'] },
    qcow2: {
      compat: ['0.10', '1.1', 'v2', 'v3'],
      cluster_size: null,
      compression_type: ['zlib', 'zstd'],
      lazy_refcounts: ['on', 'off'],
      refcount_bits: null,
      extended_l2: ['on', 'off'],
      preallocation: ['off', 'metadata', 'falloc', 'full'],
    },
    // Other VMDK subformats write extent files beside the target (and we would refuse them anyway).
    vmdk: {
      subformat: ['monolithicSparse', 'streamOptimized'],
      adapter_type: ['ide', 'buslogic', 'lsilogic', 'legacyESX', 'pvscsi'],
      hwversion: null,
      toolsversion: null,
      compat6: ['on', 'off'],
      zeroed_grain: ['on', 'off'],
    },
    vpc: { subformat: ['dynamic', 'fixed'], force_size: ['on', 'off'] },
    vhdx: {
      subformat: ['dynamic', 'fixed'],
      block_size: null,
      log_size: null,
      block_state_zero: ['on', 'off'],
    },
    vdi: { preallocation: ['off', 'metadata'] },
    qed: { cluster_size: null, table_size: null },
  };
// Never allowed whatever the driver: backing_file, backing_fmt, data_file, data_file_raw, encrypt.*
// (they make qemu-img open or create other files, or need secrets); they are simply not listed above.

/** A value qemu's option parser takes literally: no ',' (its escape), '=' or anything path-like. */
const SAFE_VALUE = /^[A-Za-z0-9._-]{1,64}$/;

function buildCreateOptions(driver: QemuTargetDriver, options: ConvertRequest['options']): string | null {
  if (!options) return null;
  const allowed = CREATE_OPTIONS[driver];
  const parts: string[] = [];
  for (const [key, raw] of Object.entries(options)) {
    const values = Object.hasOwn(allowed, key) ? allowed[key] : undefined;
    if (values === undefined)
      throw new QemuImgError('invalid-argument', `-o ${key}: not allowed for ${driver}`);
    const value = typeof raw === 'boolean' ? (raw ? 'on' : 'off') : String(raw);
    if (!SAFE_VALUE.test(value) || (values !== null && !values.includes(value))) {
      throw new QemuImgError(
        'invalid-argument',
        `-o ${key}=${JSON.stringify(value)}: not allowed for ${driver}`,
      );
    }
    parts.push(`${key}=${value}`);
  }
  return parts.length > 0 ? parts.join(',') : null;
}

export interface ConvertRequest extends QemuRunOptions {
  /** Inspected, accepted source; a regular file in `workDir`. */
  readonly source: string;
  /** The inspector's `qemuFormat`. */
  readonly sourceDriver: QemuDriver | OpaqueFormat;
  /** A fresh path in `workDir`; removed again if the conversion fails. */
  readonly target: string;
  readonly targetDriver: QemuTargetDriver | OpaqueFormat;
  /** `-o`, e.g. `{ compat: '1.1' }` (qcow2), `{ subformat: 'streamOptimized' }` (vmdk). Allow-listed. */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
  /** `-c`: compress (qcow2, vmdk streamOptimized). */
  readonly compress?: boolean;
  /**
   * `-r`: bytes per second the conversion may copy (holes are not counted); the wall-clock limit
   * grows to match. Unset: as fast as the disks go.
   */
  readonly rateLimit?: number;
  /**
   * The source's virtual size (the inspector's `virtualSize`), which sizes the CPU and wall-clock
   * limits. When absent, `qemuInfo` is asked first.
   */
  readonly virtualSize?: bigint;
  /** Percent done, 0–100, strictly increasing, 100 last on success. Errors it throws are logged. */
  readonly onProgress?: (percent: number) => void | Promise<void>;
  /**
   * Wait for a slot here before starting (default: the shared `conversionGate`). Pass null when the
   * caller already holds a slot of the same gate, or the wait would never end.
   */
  readonly gate?: ConversionGate | null;
  readonly tuning?: Partial<ConvertTuning>;
}

/** The shared gate: at most N conversions at a time in this process (N = half the CPUs by default). */
export const conversionGate = new ConversionGate();

/** Turns `-p` output ("    (12.34/100%)\r") into increasing percentages. */
export class ProgressParser {
  private pending = '';
  private last = -1;

  constructor(private readonly emit: (percent: number) => void) {}

  push(text: string): void {
    const segments = (this.pending + text).split(/[\r\n]/);
    this.pending = segments.pop() ?? '';
    // Bound what a line without terminator can accumulate.
    if (this.pending.length > 256) this.pending = this.pending.slice(-256);
    for (const s of segments) {
      const m = /\((\d{1,3}(?:\.\d+)?)\/100%\)/.exec(s);
      if (m?.[1] !== undefined) this.report(Number(m[1]));
    }
  }

  /** Success: make sure 100 was the last value. */
  finish(): void {
    this.push('\n');
    this.report(100);
  }

  private report(percent: number): void {
    const p = Math.min(100, percent);
    if (!(p > this.last)) return;
    this.last = p;
    this.emit(p);
  }
}

/**
 * `qemu-img convert -p -f <src> -O <dst> [-o ...] [-c] [-r bps] [-W] -m N -t <cache> SOURCE TARGET` under a
 * 2 GiB address-space cap and CPU/wall-clock limits proportional to the virtual size
 * (`convertLimits`), behind the conversion gate. Resolves when TARGET is complete; otherwise rejects
 * with a QemuImgError and removes whatever was written to TARGET.
 */
export async function qemuConvert(req: ConvertRequest): Promise<void> {
  checkDriver(req.sourceDriver, READ_DRIVERS, '-f');
  checkDriver(req.targetDriver, WRITE_DRIVERS, '-O');
  const targetDriver = req.targetDriver as QemuTargetDriver;
  const createOptions = buildCreateOptions(targetDriver, req.options);
  const tuning = { ...DEFAULT_CONVERT_TUNING, ...req.tuning };
  if (!Number.isSafeInteger(tuning.coroutines) || tuning.coroutines < 1 || tuning.coroutines > 16) {
    throw new QemuImgError('invalid-argument', '-m must be 1..16');
  }
  if (req.rateLimit !== undefined && !(Number.isSafeInteger(req.rateLimit) && req.rateLimit > 0)) {
    throw new QemuImgError('invalid-argument', 'rateLimit must be a positive integer');
  }
  if (req.virtualSize !== undefined && (typeof req.virtualSize !== 'bigint' || req.virtualSize < 0n)) {
    throw new QemuImgError('invalid-argument', 'virtualSize must be a non-negative bigint');
  }
  await refuseUnsafe(checkSourcePath(req.workDir, req.source));
  await refuseUnsafe(checkTargetPath(req.workDir, req.target));
  if (req.source === req.target) throw new QemuImgError('invalid-argument', 'source and target are the same');
  if (req.signal?.aborted) throw abortedError();

  const gate = req.gate === undefined ? conversionGate : req.gate;
  let release: (() => void) | null = null;
  if (gate) {
    try {
      release = await gate.acquire(req.signal);
    } catch {
      throw abortedError();
    }
  }
  try {
    const virtualSize =
      req.virtualSize ??
      (
        await qemuInfo(req.source, req.sourceDriver as QemuDriver, {
          workDir: req.workDir,
          ...(req.signal && { signal: req.signal }),
          ...(req.log && { log: req.log }),
          ...(req.qemuImg && { qemuImg: req.qemuImg }),
          ...(req.prlimit && { prlimit: req.prlimit }),
        })
      ).virtualSize;
    const limits = resolveLimits(convertLimits(virtualSize, req.rateLimit), req.limits);
    const args = ['convert', '-p', '-f', req.sourceDriver, '-O', targetDriver];
    if (createOptions) args.push('-o', createOptions);
    if (req.compress) args.push('-c');
    if (req.rateLimit) args.push('-r', String(req.rateLimit));
    if (tuning.outOfOrder) args.push('-W');
    args.push('-m', String(tuning.coroutines), '-t', tuning.targetCache, '-T', tuning.sourceCache);
    args.push(req.source, req.target);

    const progress = new ProgressParser((p) => {
      try {
        const r = req.onProgress?.(p);
        if (r instanceof Promise)
          r.catch((err: unknown) => req.log?.warn({ err }, 'conversion progress report failed'));
      } catch (err) {
        req.log?.warn({ err }, 'conversion progress report failed');
      }
    });
    const removeTarget = () => fs.rm(req.target, { force: true });
    const what = `qemu-img convert (${req.sourceDriver} → ${targetDriver})`;
    let outcome: Attempted;
    try {
      outcome = await runWithRetry(what, args, req, limits, {
        // Progress output is a few dozen bytes per percent; a megabyte means something is wrong.
        maxStdoutBytes: 1024 * 1024,
        onStdout: (text) => progress.push(text),
        beforeRetry: removeTarget,
      });
    } catch (err) {
      await removeTarget();
      throw err;
    }
    const err = classify(outcome.result, what, outcome.attempts, limits);
    if (err) {
      await removeTarget();
      throw err;
    }
    progress.finish();
  } finally {
    release?.();
  }
}
