/**
 * `npx tsx bench/compare-get.ts --baseline DIR`: the server CPU time per `GET /v2/images/{id}` of
 * this checkout beside another built checkout (DIR, e.g. `git archive main | tar -x -C DIR`, its
 * node_modules linked, `npm run build` there), measured in one run: both servers are up at once
 * with the same images, and load rounds alternate between them (A B B A ...), so that the
 * machine's changing load weighs on both alike. CPU time (utime + stime from /proc, threads
 * included) rather than req/s: it is what a request costs the server, and it moves much less
 * than wall clock when other processes share the cores.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as here from './harness.ts';

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    images: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
  },
});
if (!values.baseline)
  throw new Error('usage: compare-get.ts --baseline DIR [--images N] [--rounds N] [--seconds S]');
const images = Number(values.images);
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);

type Harness = typeof here;
const baselineHarness = (await import(
  path.join(path.resolve(values.baseline), 'bench/harness.ts')
)) as Harness;

/** utime + stime of a process in ms (Linux /proc, 100 ticks a second). */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface Side {
  label: string;
  server: here.BenchServer;
  token: string;
  ids: string[];
  cpuUs: number[];
  rps: number[];
}

/** The same images as bench/run.ts stores: a quarter tagged, a third with properties. */
async function seed(h: Harness, port: number, token: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < images; i++) {
    const body: Record<string, unknown> = {
      name: `bench-image-${i}`,
      disk_format: 'raw',
      container_format: 'bare',
      min_disk: i % 20,
    };
    if (i % 4 === 0) body.tags = ['bench', `group-${i % 10}`, i % 8 === 0 ? 'linux' : 'windows'];
    if (i % 3 === 0)
      Object.assign(body, {
        os_distro: 'ubuntu',
        os_version: '22.04',
        hw_disk_bus: 'virtio',
        bench_index: `${i}`,
      });
    ids.push(
      h.json(h.must(await h.call(port, 'POST', '/v2/images', token, body), 201, 'create')).id as string,
    );
  }
  return ids;
}

async function start(label: string, h: Harness): Promise<Side> {
  const server = await h.benchServer({
    label: `cmp-${label}`,
    postgres: false,
    worker: false,
    env: { IMS_DEFAULT_IMAGE_QUOTA: 'unlimited' },
  });
  await server.start();
  const token = await h.adminToken(server.port);
  return { label, server, token, ids: await seed(h, server.port, token), cpuUs: [], rps: [] };
}

/** One load round with bench/run.ts's load generator (a separate process). */
async function load(side: Side, tmp: string): Promise<void> {
  const cfgFile = path.join(tmp, `loadgen-${side.label}.json`);
  fs.writeFileSync(
    cfgFile,
    JSON.stringify({
      host: '127.0.0.1',
      port: side.server.port,
      token: side.token,
      ids: side.ids,
      connections,
      warmupMs: 500,
      durationMs: seconds * 1000,
    }),
  );
  const pid = side.server.child().pid!;
  const before = cpuMs(pid);
  const child = spawn(
    process.execPath,
    [...process.execArgv, path.join(here.REPO, 'bench/run.ts'), '--loadgen', cfgFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const used = cpuMs(pid) - before;
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    requests: number;
    seconds: number;
    non2xx: number;
    errors: number;
  };
  if (code !== 0 || !result.requests || result.non2xx || result.errors)
    throw new Error(`load round on ${side.label} failed: ${out.slice(0, 300)}`);
  // The warm-up's requests are not counted: this errs high, alike for both sides.
  side.cpuUs.push((used * 1000) / result.requests);
  side.rps.push(result.requests / result.seconds);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ims-compare-get-'));
const sides: Side[] = [];
try {
  sides.push(await start('baseline', baselineHarness), await start('this', here));
  console.log(
    `load average at start ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [sides[0]!, sides[1]!] : [sides[1]!, sides[0]!];
    for (const side of order) await load(side, tmp);
    console.log(
      `round ${r + 1}: ` +
        sides
          .map(
            (s) =>
              `${s.label} ${s.cpuUs.at(-1)!.toFixed(0)} µs CPU/request, ${s.rps.at(-1)!.toFixed(0)} req/s`,
          )
          .join('; '),
    );
  }
  const [base, mine] = sides as [Side, Side];
  console.log(
    `median server CPU per request: baseline ${median(base.cpuUs).toFixed(0)} µs, this ${median(mine.cpuUs).toFixed(0)} µs ` +
      `(ratio ${(median(mine.cpuUs) / median(base.cpuUs)).toFixed(2)}); median req/s ${median(base.rps).toFixed(0)} vs ` +
      `${median(mine.rps).toFixed(0)}; load average now ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
} finally {
  for (const s of sides) await s.server.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
}
