/**
 * The qemu-img adapter against Debian's qemu-img (images made with `qemu-img create` in a temp dir),
 * plus fake qemu-img binaries (small shell scripts) for the paths real qemu-img cannot be made to
 * take on demand: a hang, a thread-creation failure, a CPU loop.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConversionGate,
  ProgressParser,
  QemuImgError,
  convertLimits,
  crossCheckInfo,
  parseInfo,
  qemuCheck,
  qemuConvert,
  qemuInfo,
  type ConvertRequest,
  type JsonObject,
  type QemuImageInfo,
  type QemuImgErrorKind,
} from '../../src/adapters/qemu-img.ts';
import { parseJsonLossless } from '../../src/adapters/qemu-img-json.ts';
import { inspectReader, openFileReader, type InspectionResult } from '../../src/formats/index.ts';

const MiB = 1024 * 1024;
const LIMIT = 1n << 40n;
let dir = '';
/** A directory beside the work dir: paths there are outside it. */
let outside = '';
let counter = 0;
const fresh = (ext: string) => path.join(dir, `t${++counter}.${ext}`);

beforeAll(async () => {
  outside = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-qemu-img-test-'));
  dir = path.join(outside, 'work');
  await fs.mkdir(dir);
});
afterAll(async () => {
  if (outside) await fs.rm(outside, { recursive: true, force: true });
});

function qemuImgCreate(driver: string, file: string, size: string, options?: string): void {
  execFileSync('qemu-img', ['create', '-q', '-f', driver, ...(options ? ['-o', options] : []), file, size]);
}

/** A shell script standing in for qemu-img. Its environment is the adapter's (PATH, LC_ALL, MALLOC_ARENA_MAX). */
async function fakeQemuImg(name: string, body: string): Promise<string> {
  const file = path.join(outside, `${name}.sh`);
  await fs.writeFile(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

async function expectQemuError(p: Promise<unknown>, kind: QemuImgErrorKind): Promise<QemuImgError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(QemuImgError);
  expect((err as QemuImgError).kind, (err as Error).message).toBe(kind);
  return err as QemuImgError;
}

async function inspect(file: string): Promise<InspectionResult> {
  const reader = await openFileReader(file);
  try {
    return await inspectReader(reader, { maxVirtualSize: LIMIT });
  } finally {
    await reader.close();
  }
}

/** 8 MiB raw with random data in the first sector, an unaligned odd-sector run and the last MiB. */
async function makeRaw(): Promise<{ file: string; bytes: Buffer }> {
  const bytes = Buffer.alloc(8 * MiB);
  for (const [offset, length] of [
    [0, 512],
    [MiB + 1536, 7 * 512],
    [3 * MiB + 65536, 65536],
    [7 * MiB, MiB],
  ] as const) {
    randomBytes(length).copy(bytes, offset);
  }
  const file = fresh('raw');
  await fs.writeFile(file, bytes);
  return { file, bytes };
}

describe('qemuInfo', () => {
  const cases = [
    { driver: 'qcow2', size: 16n * 1024n * 1024n },
    { driver: 'vmdk', size: 16n * 1024n * 1024n },
    // qemu sizes a VHD by CHS geometry, rounding 16 MiB up.
    { driver: 'vpc', size: null },
    { driver: 'vhdx', size: 16n * 1024n * 1024n },
    { driver: 'raw', size: 16n * 1024n * 1024n },
  ] as const;

  for (const c of cases) {
    it(`reads a ${c.driver} image made by qemu-img create, and agrees with the inspector`, async () => {
      const file = fresh(c.driver);
      qemuImgCreate(c.driver, file, '16M');
      const info = await qemuInfo(file, c.driver, { workDir: dir });
      expect(info.format).toBe(c.driver);
      expect(typeof info.virtualSize).toBe('bigint');
      if (c.size !== null) expect(info.virtualSize).toBe(c.size);
      else expect(info.virtualSize).toBeGreaterThanOrEqual(16n * 1024n * 1024n);
      expect(info.backingFilename).toBeNull();
      expect(info.encrypted).toBe(false);
      expect(info.filename).toBe(file);

      const inspection = await inspect(file);
      expect(inspection.qemuFormat).toBe(c.driver);
      expect(crossCheckInfo(info, inspection, { maxVirtualSize: LIMIT })).toEqual([]);
    });
  }

  it('exposes cluster size and format-specific data (qcow2, vmdk)', async () => {
    const q = fresh('qcow2');
    qemuImgCreate('qcow2', q, '16M', 'compat=1.1,cluster_size=131072');
    const qi = await qemuInfo(q, 'qcow2', { workDir: dir });
    expect(qi.clusterSize).toBe(131072);
    expect(qi.formatSpecific?.type).toBe('qcow2');
    expect(qi.formatSpecific?.data['compat']).toBe('1.1');
    expect(qi.formatSpecific?.data['corrupt']).toBe(false);

    const v = fresh('vmdk');
    qemuImgCreate('vmdk', v, '16M', 'subformat=streamOptimized');
    const vi = await qemuInfo(v, 'vmdk', { workDir: dir });
    expect(vi.formatSpecific?.data['create-type']).toBe('streamOptimized');
  });

  it('fails with kind failed and the stderr tail when the driver does not match the bytes', async () => {
    const { file } = await makeRaw();
    const err = await expectQemuError(qemuInfo(file, 'qcow2', { workDir: dir }), 'failed');
    expect(err.stderrTail).toMatch(/qcow2/);
    expect(err.attempts).toBe(1);
  });

  it('keeps integers above 2^53 exact', () => {
    const doc = parseJsonLossless(
      '{"virtual-size": 18446744073709551615, "format": "raw", "cluster-size": 65536, "x": [1.5, -2, null, "\\u0041"]}',
    ) as JsonObject;
    expect(doc['x']).toEqual([1.5, -2, null, 'A']);
    const info = parseInfo(doc);
    expect(info.virtualSize).toBe(2n ** 64n - 1n);
    expect(info.clusterSize).toBe(65536);
    expect(() => parseJsonLossless('{"a": 1} x')).toThrow();
    expect(() => parseJsonLossless('['.repeat(100) + ']'.repeat(100))).toThrow(/deep/);
  });
});

describe('crossCheckInfo', () => {
  it('refuses what qemu-img saw and the inspector did not', async () => {
    const file = fresh('qcow2');
    qemuImgCreate('qcow2', file, '16M');
    const info = await qemuInfo(file, 'qcow2', { workDir: dir });
    const inspection = await inspect(file);
    const tampered: QemuImageInfo = {
      ...info,
      virtualSize: info.virtualSize + 512n,
      backingFilename: '/etc/passwd',
      formatSpecific: { type: 'qcow2', data: { ...info.formatSpecific?.data, 'data-file': '/etc/shadow' } },
    };
    const reasons = crossCheckInfo(tampered, inspection, { maxVirtualSize: 1024n }).map((v) => v.reason);
    expect(reasons.sort()).toEqual(['backing-file', 'corrupt', 'data-file', 'too-large']);
  });

  it('refuses VMDK extents other than the image itself', async () => {
    const file = fresh('vmdk');
    qemuImgCreate('vmdk', file, '16M');
    const info = await qemuInfo(file, 'vmdk', { workDir: dir });
    const inspection = await inspect(file);
    const data = info.formatSpecific?.data ?? {};
    const extents = [{ filename: '/etc/passwd', format: 'FLAT' }];
    const tampered = { ...info, formatSpecific: { type: 'vmdk', data: { ...data, extents } } };
    expect(crossCheckInfo(tampered, inspection, { maxVirtualSize: LIMIT }).map((v) => v.reason)).toEqual([
      'external-extent',
    ]);
  });
});

describe('qemuCheck', () => {
  it('reports clean qcow2 and not-supported vpc', async () => {
    const q = fresh('qcow2');
    qemuImgCreate('qcow2', q, '16M');
    expect((await qemuCheck(q, 'qcow2', { workDir: dir })).status).toBe('clean');
    const v = fresh('vpc');
    qemuImgCreate('vpc', v, '16M');
    expect((await qemuCheck(v, 'vpc', { workDir: dir })).status).toBe('not-supported');
  });
});

describe('qemuConvert', () => {
  it('round-trips raw → qcow2 → raw byte for byte, with increasing progress ending at 100', async () => {
    const { file, bytes } = await makeRaw();
    const qcow2 = fresh('qcow2');
    const progress: number[] = [];
    await qemuConvert({
      workDir: dir,
      source: file,
      sourceDriver: 'raw',
      target: qcow2,
      targetDriver: 'qcow2',
      options: { compat: '1.1' },
      onProgress: (p) => void progress.push(p),
    });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(100);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1] ?? 0);

    const info = await qemuInfo(qcow2, 'qcow2', { workDir: dir });
    expect(info.format).toBe('qcow2');
    expect(info.formatSpecific?.data['compat']).toBe('1.1');

    const back = fresh('raw');
    // Without virtualSize the adapter asks qemuInfo for it (to size the limits).
    await qemuConvert({
      workDir: dir,
      source: qcow2,
      sourceDriver: 'qcow2',
      target: back,
      targetDriver: 'raw',
    });
    expect(Buffer.compare(readFileSync(back), bytes)).toBe(0);
  });

  it('copies no faster than its rate limit (-r), and gives a throttled run the time it needs', async () => {
    const bytes = randomBytes(8 * MiB);
    const file = fresh('raw');
    await fs.writeFile(file, bytes);
    const out = fresh('raw');
    const started = performance.now();
    // 8 MiB of data at 4 MiB/s: qemu-img lets the first 2 MiB chunk through at once, then waits.
    await qemuConvert({
      workDir: dir,
      source: file,
      sourceDriver: 'raw',
      target: out,
      targetDriver: 'raw',
      rateLimit: 4 * MiB,
    });
    expect(performance.now() - started).toBeGreaterThan(1_000);
    expect(Buffer.compare(readFileSync(out), bytes)).toBe(0);
    const GiB = 1024 * MiB;
    expect(convertLimits(8n * BigInt(GiB)).timeoutMs).toBe((120 + 8 * 60) * 1000);
    // Every byte of 8 GiB at 64 MiB/s: 128 s more.
    expect(convertLimits(8n * BigInt(GiB), 64 * MiB).timeoutMs).toBe((120 + 8 * 60 + 128) * 1000);
  });

  it('writes vpc and vmdk with subformat options', async () => {
    const { file } = await makeRaw();
    for (const [driver, options] of [
      ['vpc', { subformat: 'fixed', force_size: true }],
      ['vmdk', { subformat: 'streamOptimized' }],
    ] as const) {
      const target = fresh(driver);
      await qemuConvert({
        workDir: dir,
        source: file,
        sourceDriver: 'raw',
        target,
        targetDriver: driver,
        options,
        virtualSize: 8n * BigInt(MiB),
      });
      const inspection = await inspect(target);
      expect(inspection.ok, JSON.stringify(inspection.violations)).toBe(true);
      expect(inspection.qemuFormat).toBe(driver);
    }
  });

  it('fails with kind failed, removes the partial target, and keeps the stderr tail', async () => {
    const { file } = await makeRaw();
    const target = fresh('raw');
    const err = await expectQemuError(
      qemuConvert({
        workDir: dir,
        source: file,
        sourceDriver: 'vhdx',
        target,
        targetDriver: 'raw',
        virtualSize: 1n,
      }),
      'failed',
    );
    expect(err.stderrTail).toMatch(/vhdx|VHDX|Could not open/);
    expect(existsSync(target)).toBe(false);
  });
});

describe('refusals before spawning', () => {
  let marker = '';
  let spy = '';
  beforeAll(async () => {
    marker = path.join(outside, 'spawned');
    spy = await fakeQemuImg('spy', `touch ${marker}\nexit 0`);
  });

  const base = (): Omit<ConvertRequest, 'source' | 'target'> => ({
    workDir: dir,
    sourceDriver: 'raw',
    targetDriver: 'qcow2',
    virtualSize: 8n * BigInt(MiB),
    qemuImg: spy,
    gate: null,
  });

  it('refuses unsafe target and source paths, existing targets and disallowed options', async () => {
    const { file } = await makeRaw();
    await fs.symlink('/etc/passwd', path.join(dir, 'link.raw'));
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.symlink(outside, path.join(dir, 'sub', 'escape'));
    const refused: Array<Partial<ConvertRequest>> = [
      { target: path.join(outside, 'out.qcow2') },
      { target: `${dir}/a:b.qcow2` },
      { target: `${dir}/json:{"driver":"nbd"}` },
      { target: 'relative.qcow2' },
      { target: `${dir}/../out.qcow2` },
      { target: `${dir}/./x.qcow2` },
      { target: `${dir}/a b.qcow2` },
      { target: `${dir}/sub/escape/x.qcow2` },
      { target: file },
      { source: path.join(dir, 'link.raw') },
      { source: `nbd:${dir}/x` },
      { source: path.join(dir, 'missing.raw') },
      { options: { backing_file: '/etc/passwd' } },
      { options: { data_file: 'x' } },
      { options: { compat: '1.1,data_file=x' } },
      { targetDriver: 'vmdk', options: { subformat: 'monolithicFlat' } },
      { sourceDriver: 'vvfat' as 'raw' },
      { sourceDriver: 'json' as 'raw' },
      { targetDriver: 'qcow' as 'qcow2' },
      { rateLimit: 0 },
      { rateLimit: 1.5 },
    ];
    for (const r of refused) {
      const req = { ...base(), source: file, target: fresh('qcow2'), ...r } as ConvertRequest;
      await expectQemuError(qemuConvert(req), 'invalid-argument');
    }
    await expectQemuError(qemuInfo(`${dir}/x:y`, 'raw', { workDir: dir, qemuImg: spy }), 'invalid-argument');
    await expectQemuError(
      qemuInfo(path.join(dir, 'link.raw'), 'raw', { workDir: dir, qemuImg: spy }),
      'invalid-argument',
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses zvhd and zvhd2 as not supported by this deployment', async () => {
    const { file } = await makeRaw();
    const e1 = await expectQemuError(qemuInfo(file, 'zvhd', { workDir: dir, qemuImg: spy }), 'unsupported');
    expect(e1.message).toMatch(/format not supported by this deployment/);
    await expectQemuError(
      qemuConvert({ ...base(), source: file, target: fresh('x'), targetDriver: 'zvhd2' }),
      'unsupported',
    );
    await expectQemuError(
      qemuConvert({ ...base(), source: file, target: fresh('x'), sourceDriver: 'zvhd' }),
      'unsupported',
    );
    await expectQemuError(qemuCheck(file, 'zvhd2', { workDir: dir, qemuImg: spy }), 'unsupported');
    expect(existsSync(marker)).toBe(false);
  });

  it('does not start when the signal is already aborted', async () => {
    const { file } = await makeRaw();
    const ac = new AbortController();
    ac.abort();
    await expectQemuError(
      qemuConvert({ ...base(), source: file, target: fresh('q'), signal: ac.signal }),
      'aborted',
    );
    expect(existsSync(marker)).toBe(false);
  });
});

/** State of a process: null when gone (or a zombie, which holds nothing but its pid). */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

describe('limits, timeout, abort and retry', () => {
  it('kills the whole process group on timeout and removes the partial target', async () => {
    const { file } = await makeRaw();
    const pidFile = path.join(outside, 'timeout-child.pid');
    const target = fresh('qcow2');
    // Writes part of the target, then a grandchild that would outlive a plain kill of the child.
    const slow = await fakeQemuImg(
      'slow',
      `for last; do :; done\necho partial > "$last"\n/bin/sleep 60 &\necho $! > ${pidFile}\nwait`,
    );
    const started = Date.now();
    const err = await expectQemuError(
      qemuConvert({
        workDir: dir,
        source: file,
        sourceDriver: 'raw',
        target,
        targetDriver: 'qcow2',
        virtualSize: 8n * BigInt(MiB),
        qemuImg: slow,
        limits: { timeoutMs: 500 },
        gate: null,
      }),
      'timeout',
    );
    expect(err.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await vi.waitFor(() => expect(processAlive(pid)).toBe(false), { timeout: 2000 });
    expect(existsSync(target)).toBe(false);
  });

  it('aborts a running conversion through its AbortSignal', async () => {
    const { file } = await makeRaw();
    const slow = await fakeQemuImg('slow-abort', 'echo "    (10.00/100%)"\n/bin/sleep 60');
    const ac = new AbortController();
    const progress: number[] = [];
    const p = qemuConvert({
      workDir: dir,
      source: file,
      sourceDriver: 'raw',
      target: fresh('qcow2'),
      targetDriver: 'qcow2',
      virtualSize: 8n * BigInt(MiB),
      qemuImg: slow,
      gate: null,
      signal: ac.signal,
      onProgress: (v) => {
        progress.push(v);
        ac.abort();
      },
    });
    await expectQemuError(p, 'aborted');
    expect(progress).toEqual([10]);
  });

  it('retries once when qemu-img cannot create a thread (EAGAIN), then succeeds', async () => {
    const { file, bytes } = await makeRaw();
    const once = path.join(outside, 'eagain-once');
    const flaky = await fakeQemuImg(
      'flaky',
      `if [ ! -e ${once} ]; then\n  touch ${once}\n  echo "qemu: qemu_thread_create: Resource temporarily unavailable" >&2\n  kill -ABRT $$\nfi\nexec qemu-img "$@"`,
    );
    const warn = vi.fn();
    const target = fresh('qcow2');
    await qemuConvert({
      workDir: dir,
      source: file,
      sourceDriver: 'raw',
      target,
      targetDriver: 'qcow2',
      virtualSize: 8n * BigInt(MiB),
      qemuImg: flaky,
      log: { warn },
      gate: null,
    });
    expect(warn).toHaveBeenCalledTimes(1);
    const back = fresh('raw');
    await qemuConvert({
      workDir: dir,
      source: target,
      sourceDriver: 'qcow2',
      target: back,
      targetDriver: 'raw',
    });
    expect(Buffer.compare(readFileSync(back), bytes)).toBe(0);
  });

  it('gives up after one retry with kind resource-limit', async () => {
    const { file } = await makeRaw();
    const broken = await fakeQemuImg(
      'eagain-always',
      'echo "qemu: qemu_thread_create: Resource temporarily unavailable" >&2\nkill -ABRT $$',
    );
    const err = await expectQemuError(
      qemuInfo(file, 'raw', { workDir: dir, qemuImg: broken }),
      'resource-limit',
    );
    expect(err.attempts).toBe(2);
    expect(err.stderrTail).toMatch(/qemu_thread_create/);
  });

  it('stops a CPU loop at the CPU-time cap (kind resource-limit)', async () => {
    const { file } = await makeRaw();
    const spin = await fakeQemuImg('spin', 'while :; do :; done');
    const err = await expectQemuError(
      qemuInfo(file, 'raw', { workDir: dir, qemuImg: spin, limits: { cpuSeconds: 1 } }),
      'resource-limit',
    );
    expect(err.signal).toMatch(/SIGXCPU|SIGKILL/);
  });

  it('fails (kind failed) rather than run uncapped when prlimit is missing', async () => {
    const { file } = await makeRaw();
    const err = await expectQemuError(
      qemuInfo(file, 'raw', { workDir: dir, prlimit: path.join(outside, 'no-prlimit') }),
      'failed',
    );
    expect(err.message).toMatch(/could not start prlimit/);
  });

  it('runs qemu-img under the address-space cap with MALLOC_ARENA_MAX=2', async () => {
    const { file } = await makeRaw();
    const env = await fakeQemuImg(
      'env',
      `printf '{"format":"raw","virtual-size":1,"as":"%s","arena":"%s"}' "$(ulimit -v)" "$MALLOC_ARENA_MAX"`,
    );
    const info = await qemuInfo(file, 'raw', { workDir: dir, qemuImg: env });
    expect(info.raw['as']).toBe(String(1024 * 1024)); // 1 GiB in KiB
    expect(info.raw['arena']).toBe('2');
  });
});

describe('ConversionGate', () => {
  it('runs at most N at a time, in order, and lets a queued caller give up', async () => {
    const gate = new ConversionGate(1);
    const first = await gate.acquire();
    const order: string[] = [];
    const second = gate.run(async () => void order.push('second'));
    const ac = new AbortController();
    const third = gate.acquire(ac.signal);
    expect(gate.active).toBe(1);
    expect(gate.waiting).toBe(2);
    ac.abort();
    await expect(third).rejects.toBeDefined();
    expect(gate.waiting).toBe(1);
    first();
    first(); // idempotent
    await second;
    expect(order).toEqual(['second']);
    expect(gate.active).toBe(0);

    const a = await gate.acquire();
    const b = gate.acquire();
    gate.limit = 2;
    (await b)();
    a();
    expect(() => new ConversionGate(0)).toThrow(RangeError);
  });

  it('turns an abort while queued into kind aborted', async () => {
    const gate = new ConversionGate(1);
    const hold = await gate.acquire();
    const { file } = await makeRaw();
    const ac = new AbortController();
    const p = qemuConvert({
      workDir: dir,
      source: file,
      sourceDriver: 'raw',
      target: fresh('qcow2'),
      targetDriver: 'qcow2',
      virtualSize: 1n,
      gate,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(), 50);
    await expectQemuError(p, 'aborted');
    hold();
  });
});

describe('ProgressParser', () => {
  it('parses -p output split across chunks, only ever increasing, capped at 100', () => {
    const seen: number[] = [];
    const parser = new ProgressParser((p) => seen.push(p));
    for (const chunk of [
      '    (0.00/1',
      '00%)\r    (12.5',
      '0/100%)\r    (12.50/100%)\r',
      '    (99.99/100%)\r    (5.00/100%)\r',
    ]) {
      parser.push(chunk);
    }
    parser.finish();
    expect(seen).toEqual([0, 12.5, 99.99, 100]);
  });
});
