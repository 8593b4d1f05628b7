/**
 * Inspection of a 10 GiB sparse qcow2 (issue 4: under 50 ms), both ways the service inspects:
 *
 * - stored file: `openFileReader` + `inspectReader` + close, random reads for the tables (what the
 *   conversion step runs on its work-dir copy);
 * - stream: the whole file through `createInspectionStream` from a 1 MiB `createReadStream`, as an
 *   upload or a stage feeds it (hashing and storing left out: they are the upload's, not the
 *   inspector's).
 *
 * Baselines in the same run: `qemu-img info -f qcow2 --output=json` of the same file (process start
 * included, as the service pays it), and for the stream the same reads without the inspector. Medians of N runs after a warm-up, wall and CPU time
 * (`process.cpuUsage`, this process only; the machine is shared, so CPU is the steadier figure).
 *
 *   npx tsx bench/inspect.ts [--runs 21] [--size-gib 10]
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createInspectionStream, inspectReader, openFileReader } from '../src/formats/index.ts';
import { quantile } from './harness.ts';
import { makeQcow2, run } from './images.ts';

const { values: argv } = parseArgs({
  options: { runs: { type: 'string', default: '21' }, 'size-gib': { type: 'string', default: '10' } },
});
const RUNS = Number(argv.runs);
const SIZE_GIB = Number(argv['size-gib']);
const LIMIT = 16n << 40n;
const TARGET_MS = 50;

async function storedFile(file: string): Promise<void> {
  const reader = await openFileReader(file);
  try {
    const r = await inspectReader(reader, { maxVirtualSize: LIMIT, declaredFormat: 'qcow2' });
    if (!r.ok || r.virtualSize !== BigInt(SIZE_GIB) << 30n)
      throw new Error('stored-file inspection: wrong verdict');
  } finally {
    await reader.close();
  }
}

async function streamed(file: string): Promise<void> {
  const inspection = createInspectionStream({ maxVirtualSize: LIMIT, declaredFormat: 'qcow2' });
  const sink = new Writable({ write: (_c, _e, done) => done() });
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), inspection, sink);
  const r = inspection.result();
  if (!r.ok || r.virtualSize !== BigInt(SIZE_GIB) << 30n) throw new Error('stream inspection: wrong verdict');
}

/** The stream's own baseline: the same reads into the same sink, no inspector. */
async function plainRead(file: string): Promise<void> {
  const sink = new Writable({ write: (_c, _e, done) => done() });
  await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), sink);
}

async function qemuInfo(file: string): Promise<void> {
  await run('qemu-img', ['info', '-f', 'qcow2', '--output=json', file]);
}

async function measure(fn: () => Promise<void>): Promise<{ wall: number[]; cpu: number[] }> {
  await fn(); // warm-up: module load, JIT, page cache
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall, cpu };
}
const med = (xs: number[]): number => quantile(xs, 0.5);

async function main(): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-bench-inspect-'));
  try {
    console.log(
      `${os.cpus().length} CPUs, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    const files: Array<[string, string]> = [];
    // Nearly empty: data at both ends only.
    const ends = path.join(dir, 'ends.qcow2');
    await makeQcow2(ends, SIZE_GIB, ['write -P 0x5a 0 1M', `write -P 0xa5 ${SIZE_GIB * 1024 - 1}M 1M`]);
    files.push(['data at both ends', ends]);
    // 64 KiB every 16 MiB: live entries in every L2 table.
    const spread = path.join(dir, 'spread.qcow2');
    const writes: string[] = [];
    for (let mib = 0; mib < SIZE_GIB * 1024; mib += 16) writes.push(`write -P 0x11 ${mib}M 64K`);
    await makeQcow2(spread, SIZE_GIB, writes);
    files.push(['64 KiB every 16 MiB', spread]);

    const rows: string[] = [];
    for (const [label, file] of files) {
      const size = (await fs.stat(file)).size;
      const base = await measure(() => qemuInfo(file));
      const read = await measure(() => plainRead(file));
      for (const [how, fn] of [
        ['stored file', storedFile],
        ['stream', streamed],
      ] as const) {
        const m = await measure(() => fn(file));
        const w = med(m.wall);
        rows.push(
          `${label.padEnd(20)} ${(size / 1024 / 1024).toFixed(1).padStart(6)} MiB  ${how.padEnd(11)} ` +
            `${w.toFixed(2).padStart(7)} ms  cpu ${med(m.cpu).toFixed(2).padStart(7)} ms  ` +
            `qemu-img info ${med(base.wall).toFixed(2).padStart(6)} ms  ratio ${(w / med(base.wall)).toFixed(2)}×  ` +
            (how === 'stream' ? `plain read ${med(read.wall).toFixed(2)} ms  ` : '') +
            `${w < TARGET_MS ? 'PASS' : 'MISS'} (< ${TARGET_MS} ms)`,
        );
      }
    }
    console.log(`\n${SIZE_GIB} GiB virtual qcow2, medians of ${RUNS} runs (wall; cpu of this process)`);
    for (const r of rows) console.log(r);
    console.log(
      `load at the end ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
