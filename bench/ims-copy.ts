/**
 * IMS in-region copy time: `npx tsx bench/ims-copy.ts [--db sqlite|postgres] [--runs 7]`.
 * Not part of CI; prints figures and the target line.
 *
 * Starts `node bin/ims.js serve` (API and worker; free loopback port, fresh IMS_DATA_DIR; on
 * PostgreSQL a fresh database on IMS_BENCH_PG_URL's server, dropped afterwards), uploads through
 * `PUT /v2/images/{id}/file` three raw images made from sparse files (1 MiB as the baseline, 1 GiB,
 * 4 GiB), then for each measures `POST /v1/cloudimages/{id}/copy` until `GET /v1/{project}/jobs/{job}`
 * says SUCCESS (polled every 2 ms on a keep-alive connection), RUNS times, and prints the median,
 * min and max, and the ratios 1 GiB / 1 MiB and 4 GiB / 1 GiB. Target: the 1 and 4 GiB copies equal
 * within noise, under 100 ms. About 5 GiB of temp disk at its peak.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const { values } = parseArgs({
  options: { db: { type: 'string', default: 'sqlite' }, runs: { type: 'string', default: '7' } },
});
const RUNS = Number(values.runs);
const POSTGRES = values.db === 'postgres';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_ADMIN = process.env.IMS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PASSWORD = 'bench-admin-password';
const MiB = 1024 * 1024;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function call(
  port: number,
  method: string,
  p: string,
  token?: string,
  json?: unknown,
  file?: { path: string; size: number },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: p,
        agent: file ? undefined : agent,
        headers: {
          accept: 'application/json',
          ...(token ? { 'x-auth-token': token } : {}),
          ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}),
          ...(file ? { 'content-type': 'application/octet-stream', 'content-length': file.size } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (file) fs.createReadStream(file.path).on('error', reject).pipe(req);
    else req.end(body);
  });
}

function must(a: Answer, status: number, what: string): Answer {
  if (a.status !== status) throw new Error(`${what}: ${a.status} ${a.body.toString().slice(0, 300)}`);
  return a;
}
const json = (a: Answer) => JSON.parse(a.body.toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });

async function token(port: number): Promise<{ token: string; projectId: string }> {
  const a = must(
    await call(port, 'POST', '/v3/auth/tokens', undefined, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: PASSWORD } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
    201,
    'token',
  );
  return { token: a.headers['x-subject-token'] as string, projectId: json(a).token.project.id as string };
}

async function uploaded(port: number, tok: string, file: string, size: number): Promise<string> {
  const fd = await fsp.open(file, 'w');
  await fd.truncate(size); // sparse: quick to make, still read and hashed in full by the upload
  await fd.write(Buffer.from('ims-copy-bench'), 0, 14, 0);
  await fd.close();
  const created = must(
    await call(port, 'POST', '/v2/images', tok, {
      name: 'bench',
      disk_format: 'raw',
      container_format: 'bare',
    }),
    201,
    'create',
  );
  const id = json(created).id as string;
  const t0 = performance.now();
  must(await call(port, 'PUT', `/v2/images/${id}/file`, tok, undefined, { path: file, size }), 204, 'upload');
  console.log(`uploaded ${size / MiB} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await fsp.rm(file);
  return id;
}

/** POST copy to job SUCCESS, in ms. */
async function copyOnce(
  port: number,
  tok: string,
  projectId: string,
  id: string,
  n: number,
): Promise<number> {
  const t0 = performance.now();
  const posted = must(
    await call(port, 'POST', `/v1/cloudimages/${id}/copy`, tok, { name: `copy-${n}` }),
    200,
    'copy',
  );
  const jobId = json(posted).job_id as string;
  for (;;) {
    const job = json(must(await call(port, 'GET', `/v1/${projectId}/jobs/${jobId}`, tok), 200, 'job'));
    if (job.status === 'SUCCESS') return performance.now() - t0;
    if (job.status === 'FAIL') throw new Error(`copy failed: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ims-bench-copy-'));
  const dbName = `ims_bench_copy_${process.pid}`;
  let databaseUrl = '';
  let child: ChildProcess | null = null;
  const pgAdmin = async (text: string) => {
    const c = new pg.Client({ connectionString: PG_ADMIN });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  try {
    if (POSTGRES) {
      await pgAdmin(`CREATE DATABASE "${dbName}"`);
      const u = new URL(PG_ADMIN);
      u.pathname = `/${dbName}`;
      databaseUrl = u.toString();
    }
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('IMS_')) delete env[k];
    Object.assign(env, {
      IMS_HOST: '127.0.0.1',
      IMS_PORT: String(port),
      IMS_DATA_DIR: dataDir,
      IMS_DATABASE_URL: databaseUrl,
      IMS_ADMIN_PASSWORD: PASSWORD,
      IMS_LOG_LEVEL: 'warn',
      IMS_DEFAULT_IMAGE_QUOTA: 'unlimited',
    });
    child = spawn(process.execPath, [path.join(REPO, 'bin/ims.js'), 'serve'], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    for (let i = 0; ; i++) {
      try {
        if ((await call(port, 'GET', '/healthz')).status === 200) break;
      } catch {
        // not listening yet
      }
      if (i > 600) throw new Error('the server did not start in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const { token: tok, projectId } = await token(port);
    const sizes: [string, number][] = [
      ['1 MiB (baseline)', MiB],
      ['1 GiB', 1024 * MiB],
      ['4 GiB', 4096 * MiB],
    ];
    const ids: string[] = [];
    for (const [, size] of sizes) ids.push(await uploaded(port, tok, path.join(dataDir, 'src.raw'), size));
    // Warm-up: the first request of each path pays for its code's compilation.
    await copyOnce(port, tok, projectId, ids[0]!, -1);
    const times: number[][] = sizes.map(() => []);
    let n = 0;
    for (let r = 0; r < RUNS; r++)
      for (let i = 0; i < sizes.length; i++)
        times[i]!.push(await copyOnce(port, tok, projectId, ids[i]!, n++));
    console.log(
      `\n${values.db}: ${RUNS} copies per size, interleaved; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`,
    );
    console.log('| image | median ms | min ms | max ms |');
    console.log('|---|---|---|---|');
    sizes.forEach(([label], i) => {
      const t = times[i]!;
      console.log(
        `| ${label} | ${median(t).toFixed(1)} | ${Math.min(...t).toFixed(1)} | ${Math.max(...t).toFixed(1)} |`,
      );
    });
    const [base, one, four] = times.map(median) as [number, number, number];
    console.log(
      `\nratio 1 GiB / 1 MiB: ${(one / base).toFixed(2)}; ratio 4 GiB / 1 GiB: ${(four / one).toFixed(2)}`,
    );
    console.log(
      `target: 1 and 4 GiB equal within noise, under 100 ms: ${Math.max(one, four) < 100 && four / one < 1.5 ? 'PASS' : 'MISS'}`,
    );
  } finally {
    agent.destroy();
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    if (POSTGRES) await pgAdmin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => undefined);
    await fsp.rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
