/**
 * Conversion through the import path (issue 4): an image staged in IMS (`PUT /v2/images/{id}/stage`),
 * then `POST /v2/images/{id}/import` (glance-direct) on a server with IMS_CONVERT_TO set, timed
 * from the POST until the image is `active` (job pick-up, inspection, qemu-img info/check, the
 * conversion, hashing, inspection and storing of the output, the final transaction). Baseline in
 * the same run on the same source file: bare `qemu-img convert` with the options IMS uses, then
 * `sha512sum` of its output (the two steps no service can avoid). Target ≤ 1.10×.
 *
 *   npx tsx bench/convert-import.ts [--runs 5] [--size-gib 2] [--data-gib 1]
 *     [--cases raw:qcow2,qcow2:raw,raw:vhdx,qcow2:vhd] [--db sqlite|postgres]
 *
 * Each run does the baseline and IMS one after the other, the order alternating, and reports
 * medians of wall time and of CPU time (the bare commands' from /proc/self/stat of this process,
 * whose only reaped children they are; the server's, qemu-img included, from its /proc/PID/stat).
 * `--cold` (root only) syncs and drops the page cache right before each timed part, bare and IMS
 * alike: both then read their source from disk and write into memory the kernel has just freed.
 * On a VM that hands freed memory back to its host, writing a GiB into memory not used recently
 * costs seconds of system time (a first `qemu-img convert` of a freshly written file: 4.1 s, the
 * same again: 0.6 s), and without `--cold` that cost falls on whichever side needs more memory
 * than the other just freed: IMS, which keeps the staged and the converted image where the bare
 * side deletes its output after each sample.
 *
 * The machine is shared by other work: compare the ratios, within one run. Build first
 * (`npm run build`) so that the server runs `dist/`.
 */
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { adminToken, benchServer, call, json, must, putFile, quantile, type BenchServer } from './harness.ts';
import { makeSources, run } from './images.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const { values: argv } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'size-gib': { type: 'string', default: '2' },
    'data-gib': { type: 'string', default: '1' },
    cases: { type: 'string', default: 'raw:qcow2,qcow2:raw,raw:vhdx,qcow2:vhd' },
    db: { type: 'string', default: 'sqlite' },
    cold: { type: 'boolean', default: false },
  },
});
const RUNS = Number(argv.runs);
const SIZE = Number(argv['size-gib']) * GiB;
const DATA = Number(argv['data-gib']) * GiB;
/** Glance disk_format → qemu-img driver. */
const DRIVER: Record<string, string> = { raw: 'raw', qcow2: 'qcow2', vhdx: 'vhdx', vhd: 'vpc' };
/** What IMS's qemuConvert adds to `-f`/`-O` (DEFAULT_CONVERT_TUNING in src/adapters/qemu-img.ts). */
const TUNING = ['-m', '8', '-t', 'unsafe', '-T', 'writeback'];
/** How often the image is polled for `active`: at most this much too long per sample (≤ 2% here). */
const POLL_MS = 200;

let workDir = '';
let server: BenchServer | null = null;
async function cleanup(): Promise<void> {
  await server?.cleanup();
  server = null;
  if (workDir) await fs.rm(workDir, { recursive: true, force: true });
  workDir = '';
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    void cleanup().finally(() => process.exit(130));
  });
}

const TICK_MS = 10; // USER_HZ = 100 on Linux
/** CPU ms of a process: own (utime+stime) and its reaped children's (cutime+cstime). */
function cpuMs(pid: number | 'self'): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // Fields 14-17 of proc(5), counted from the state field (3) here.
  return { own: (f[11]! + f[12]!) * TICK_MS, children: (f[13]! + f[14]!) * TICK_MS };
}

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** With --cold: the page cache written back and dropped, so that the timed part starts from disk. */
async function startCold(): Promise<void> {
  if (!argv.cold) return;
  await run('sync', []);
  await fs.writeFile('/proc/sys/vm/drop_caches', '3');
}

async function bare(from: string, to: string, source: string): Promise<Sample & { digest: string }> {
  const out = path.join(workDir, 'bare.out');
  await startCold();
  const cpu0 = cpuMs('self').children;
  const t0 = performance.now();
  await run('qemu-img', ['convert', '-f', DRIVER[from]!, '-O', DRIVER[to]!, ...TUNING, source, out]);
  const digest = (await run('sha512sum', [out])).split(' ')[0]!;
  const wallMs = performance.now() - t0;
  const sample = { wallMs, cpuMs: cpuMs('self').children - cpu0, digest };
  await fs.rm(out, { force: true });
  return sample;
}

async function ims(
  port: number,
  token: string,
  from: string,
  to: string,
  source: string,
): Promise<Sample & { digest: string; diskFormat: string }> {
  const size = (await fs.stat(source)).size;
  const id = json(
    must(
      await call(port, 'POST', '/v2/images', token, {
        name: 'bench-convert',
        disk_format: from,
        container_format: 'bare',
      }),
      201,
      'create',
    ),
  ).id as string;
  must(await putFile(port, `/v2/images/${id}/stage`, token, source, size), 204, 'stage');
  await startCold();
  const pid = server!.child().pid!;
  const before = cpuMs(pid);
  const t0 = performance.now();
  must(
    await call(port, 'POST', `/v2/images/${id}/import`, token, { method: { name: 'glance-direct' } }),
    202,
    'import',
  );
  let image: Record<string, unknown>;
  for (;;) {
    image = json(must(await call(port, 'GET', `/v2/images/${id}`, token), 200, 'show'));
    if (image.status === 'active') break;
    if (image.status !== 'importing' && image.status !== 'uploading')
      throw new Error(`import ended ${String(image.status)}: ${String(image.os_glance_failed_import)}`);
    // Not faster: every GET costs the server a few ms of CPU, which would count as the import's.
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const wallMs = performance.now() - t0;
  const after = cpuMs(pid);
  if (image.disk_format !== to) throw new Error(`imported as ${String(image.disk_format)}, not ${to}`);
  must(await call(port, 'DELETE', `/v2/images/${id}`, token), 204, 'delete');
  return {
    wallMs,
    cpuMs: after.own + after.children - before.own - before.children,
    digest: String(image.os_hash_value),
    diskFormat: String(image.disk_format),
  };
}

const median = (xs: number[]) => quantile(xs, 0.5);
const s = (ms: number) => (ms / 1000).toFixed(2).padStart(6);

async function main(): Promise<void> {
  workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-bench-convert-import-'));
  console.log(`qemu-img: ${(await run('qemu-img', ['--version'])).split('\n')[0]}`);
  console.log(
    `${os.cpus().length} CPUs, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; ${argv.db}`,
  );
  console.log(
    `source: ${SIZE / GiB} GiB virtual, ${DATA / GiB} GiB of random data; ${RUNS} runs, medians` +
      (argv.cold ? '; page cache dropped before each timed part' : ''),
  );
  const sources: Record<string, string> = await makeSources(workDir, SIZE, DATA);

  const cases = argv.cases.split(',').map((c) => c.split(':') as [string, string]);
  const rows: string[] = [];
  for (const target of [...new Set(cases.map(([, to]) => to))]) {
    server = await benchServer({
      label: `convert-${target}`,
      postgres: argv.db === 'postgres',
      worker: true,
      env: { IMS_CONVERT_TO: target, IMS_DEFAULT_IMAGE_QUOTA: 'unlimited' },
    });
    await server.start();
    const token = await adminToken(server.port);
    for (const [from, to] of cases.filter(([, t]) => t === target)) {
      const b: Sample[] = [];
      const m: Sample[] = [];
      for (let i = 0; i < RUNS; i++) {
        // Alternate the order so neither side always runs on a cache the other just warmed.
        for (const side of i % 2 === 0 ? ['bare', 'ims'] : ['ims', 'bare']) {
          if (side === 'bare') {
            const r = await bare(from, to, sources[from]!);
            b.push(r);
          } else {
            const r = await ims(server.port, token, from, to, sources[from]!);
            m.push(r);
          }
        }
      }
      const wall = median(m.map((x) => x.wallMs)) / median(b.map((x) => x.wallMs));
      const cpu = median(m.map((x) => x.cpuMs)) / median(b.map((x) => x.cpuMs));
      const row =
        `${`${from}→${to}`.padEnd(11)} ${s(median(b.map((x) => x.wallMs)))} ${s(median(b.map((x) => x.cpuMs)))}` +
        `   ${s(median(m.map((x) => x.wallMs)))} ${s(median(m.map((x) => x.cpuMs)))}` +
        `   ${wall.toFixed(2).padStart(5)}× ${cpu.toFixed(2).padStart(5)}×  ${wall <= 1.1 ? 'PASS' : 'MISS'}`;
      rows.push(row);
      console.log(`${row}   (IMS wall: ${m.map((x) => s(x.wallMs).trim()).join(' ')})`);
    }
    await server.cleanup();
    server = null;
  }
  console.log(
    '\ncase          bare: wall    cpu    IMS: wall    cpu   wall ratio  cpu ratio (target wall ≤ 1.10×)',
  );
  for (const r of rows) console.log(r);
  console.log(
    `load at the end ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
