/**
 * Conversion benchmark (not part of CI): `npx tsx bench/convert.ts [--tune] [--runs N] [--size-gib N] [--data-gib N]`.
 *
 * Default mode. For a generated raw image (2 GiB virtual, 1 GiB of incompressible data in 64 MiB runs
 * spread over the disk) and a qcow2 made from it, times, for raw→qcow2, qcow2→raw, raw→vhdx and
 * qcow2→vpc:
 *   IMS:  qemuConvert (prlimit, process group, progress parsing, gate) + sha512 of the output in Node
 *   bare: `qemu-img convert` with the same -f/-O/-o/-W/-m/-t + `sha512sum` of the output
 * interleaved in the same process, best of N runs each (default 3), and prints IMS / bare
 * (target ≤ 1.10). qcow2→raw is also checked to reproduce the source bytes exactly.
 *
 * `--tune [--caches none,writeback,unsafe] [--cold]`. Times qemuConvert alone and followed by the sha512 of
 * its output, for raw→qcow2 and qcow2→raw, over -W off/on × -m 4/8/16 × -t <caches>: the numbers behind
 * DEFAULT_CONVERT_TUNING in src/adapters/qemu-img.ts.
 *
 * `--cold` reads the source with `-T none` (O_DIRECT), as when it is not in the page cache, without
 * dropping the page cache of the whole machine.
 *
 * The sources are in the page cache (the machine has far more RAM than the images), as they are
 * right after an upload. Needs about 8 GiB of temp disk; the temp dir is removed on every exit.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  DEFAULT_CONVERT_TUNING,
  qemuConvert,
  type ConvertTuning,
  type QemuTargetDriver,
} from '../src/adapters/qemu-img.ts';
import type { QemuDriver } from '../src/formats/index.ts';
import { makeSources, run } from './images.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const { values: argv } = parseArgs({
  options: {
    tune: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    'size-gib': { type: 'string', default: '2' },
    'data-gib': { type: 'string', default: '1' },
    caches: { type: 'string', default: 'none,writeback,unsafe' },
    cold: { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs);
const SIZE = Number(argv['size-gib']) * GiB;
const DATA = Number(argv['data-gib']) * GiB;

let workDir = '';
async function cleanup(): Promise<void> {
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  workDir = '';
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

/**
 * sha512 of a file as IMS would compute it: 1 MiB reads, the next one already in flight (libuv
 * thread pool) while this thread hashes the current one, so reading and hashing overlap.
 */
async function sha512Node(file: string): Promise<string> {
  const size = MiB;
  const hash = createHash('sha512');
  const fh = await fs.open(file);
  try {
    let current = Buffer.allocUnsafe(size);
    let next = Buffer.allocUnsafe(size);
    let pos = 0;
    let pending = fh.read(current, 0, size, pos);
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) break;
      pos += bytesRead;
      pending = fh.read(next, 0, size, pos);
      hash.update(current.subarray(0, bytesRead));
      [current, next] = [next, current];
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

interface Case {
  name: string;
  src: 'raw' | 'qcow2';
  srcDriver: QemuDriver;
  dst: QemuTargetDriver;
  options: Record<string, string>;
}
const CASES: Case[] = [
  { name: 'raw→qcow2', src: 'raw', srcDriver: 'raw', dst: 'qcow2', options: { compat: '1.1' } },
  { name: 'qcow2→raw', src: 'qcow2', srcDriver: 'qcow2', dst: 'raw', options: {} },
  { name: 'raw→vhdx', src: 'raw', srcDriver: 'raw', dst: 'vhdx', options: { subformat: 'dynamic' } },
  { name: 'qcow2→vpc', src: 'qcow2', srcDriver: 'qcow2', dst: 'vpc', options: { subformat: 'dynamic' } },
];

function tuningArgs(t: ConvertTuning): string[] {
  return [
    ...(t.outOfOrder ? ['-W'] : []),
    '-m',
    String(t.coroutines),
    '-t',
    t.targetCache,
    '-T',
    t.sourceCache,
  ];
}

async function imsConvert(c: Case, source: string, target: string, tuning: ConvertTuning, hash: boolean) {
  const t0 = performance.now();
  await qemuConvert({
    workDir,
    source,
    sourceDriver: c.srcDriver,
    target,
    targetDriver: c.dst,
    options: c.options,
    virtualSize: BigInt(SIZE),
    tuning,
    gate: null,
  });
  const convertMs = performance.now() - t0;
  const digest = hash ? await sha512Node(target) : '';
  return { convertMs, totalMs: performance.now() - t0, digest };
}

async function bareConvert(c: Case, source: string, target: string, tuning: ConvertTuning) {
  const t0 = performance.now();
  const o = Object.entries(c.options).map(([k, v]) => `${k}=${v}`);
  await run('qemu-img', [
    'convert',
    '-f',
    c.srcDriver,
    '-O',
    c.dst,
    ...(o.length ? ['-o', o.join(',')] : []),
    ...tuningArgs(tuning),
    source,
    target,
  ]);
  const convertMs = performance.now() - t0;
  const digest = (await run('sha512sum', [target])).split(' ')[0] ?? '';
  return { convertMs, totalMs: performance.now() - t0, digest };
}

const fmt = (ms: number) => (ms / 1000).toFixed(2).padStart(6);

async function main(): Promise<void> {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-bench-convert-'));
  const target = path.join(workDir, 'out.img');
  console.log(`qemu-img: ${(await run('qemu-img', ['--version'])).split('\n')[0]}`);
  console.log(`${os.cpus().length} CPUs, ${(os.totalmem() / GiB).toFixed(0)} GiB RAM; work dir ${workDir}`);
  console.log(`source: ${SIZE / GiB} GiB virtual, ${DATA / GiB} GiB of random data`);
  const sources = await makeSources(workDir, SIZE, DATA);
  const rawDigest = (await run('sha512sum', [sources.raw])).split(' ')[0];
  // Warm the page cache for both sources, as right after an upload.
  await sha512Node(sources.qcow2);

  if (argv.tune) {
    console.log(`\n-W / -m / -t matrix (qemuConvert, best of ${RUNS}; seconds)`);
    console.log('case        -W  -m  -t          convert  convert+sha512');
    for (const c of CASES.slice(0, 2)) {
      for (const outOfOrder of [false, true]) {
        for (const coroutines of [4, 8, 16]) {
          for (const targetCache of argv.caches.split(',') as Array<ConvertTuning['targetCache']>) {
            const tuning = {
              outOfOrder,
              coroutines,
              targetCache,
              sourceCache: argv.cold ? 'none' : 'writeback',
            } as const;
            let best = { convertMs: Infinity, totalMs: Infinity };
            for (let i = 0; i < RUNS; i++) {
              await fs.rm(target, { force: true });
              const r = await imsConvert(c, sources[c.src], target, tuning, true);
              best = {
                convertMs: Math.min(best.convertMs, r.convertMs),
                totalMs: Math.min(best.totalMs, r.totalMs),
              };
            }
            console.log(
              `${c.name.padEnd(11)} ${outOfOrder ? 'on ' : 'off'} ${String(coroutines).padStart(2)}  ${targetCache.padEnd(10)} ${fmt(best.convertMs)}   ${fmt(best.totalMs)}`,
            );
          }
        }
      }
    }
    return;
  }

  const tuning = DEFAULT_CONVERT_TUNING;
  console.log(`\nIMS qemuConvert + sha512 (Node) vs bare qemu-img convert + sha512sum, best of ${RUNS}`);
  console.log(`tuning: ${tuningArgs(tuning).join(' ')}`);
  console.log('case         IMS convert  IMS total   bare convert  bare total   convert ratio  total ratio');
  const ratios: number[] = [];
  for (const c of CASES) {
    let ims = { convertMs: Infinity, totalMs: Infinity };
    let bare = { convertMs: Infinity, totalMs: Infinity };
    for (let i = 0; i < RUNS; i++) {
      // Alternate the order so neither side always runs on a cache the other just warmed.
      for (const side of i % 2 === 0 ? ['bare', 'ims'] : ['ims', 'bare']) {
        await fs.rm(target, { force: true });
        if (side === 'ims') {
          const r = await imsConvert(c, sources[c.src], target, tuning, true);
          if (c.dst === 'raw' && r.digest !== rawDigest)
            throw new Error(`${c.name}: output differs from source`);
          ims = {
            convertMs: Math.min(ims.convertMs, r.convertMs),
            totalMs: Math.min(ims.totalMs, r.totalMs),
          };
        } else {
          const r = await bareConvert(c, sources[c.src], target, tuning);
          bare = {
            convertMs: Math.min(bare.convertMs, r.convertMs),
            totalMs: Math.min(bare.totalMs, r.totalMs),
          };
        }
      }
    }
    const ratio = ims.totalMs / bare.totalMs;
    ratios.push(ratio);
    const convertRatio = ims.convertMs / bare.convertMs;
    console.log(
      `${c.name.padEnd(11)}  ${fmt(ims.convertMs)}      ${fmt(ims.totalMs)}     ${fmt(bare.convertMs)}       ${fmt(bare.totalMs)}     ${convertRatio.toFixed(2).padStart(5)}×       ${ratio.toFixed(2)}× ${ratio <= 1.1 ? 'PASS' : 'MISS'}`,
    );
  }
  console.log(`worst total ratio ${Math.max(...ratios).toFixed(2)}× (target ≤ 1.10×)`);
  console.log(
    '(convert ratio: qemuConvert alone vs bare qemu-img alone; total: each followed by its sha512)',
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
