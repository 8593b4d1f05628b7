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
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { adminToken, benchServer, call, json, must, putFile } from './harness.ts';

const { values } = parseArgs({
  options: { db: { type: 'string', default: 'sqlite' }, runs: { type: 'string', default: '7' } },
});
const RUNS = Number(values.runs);
const POSTGRES = values.db === 'postgres';
const MiB = 1024 * 1024;

/** The admin's token and project: the copies are the admin project's. */
async function token(port: number): Promise<{ token: string; projectId: string }> {
  const tok = await adminToken(port);
  const me = json(
    must(await call(port, 'GET', '/v3/auth/tokens', tok, undefined, { 'x-subject-token': tok }), 200, 'me'),
  );
  return { token: tok, projectId: me.token.project.id as string };
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
  must(await putFile(port, `/v2/images/${id}/file`, tok, file, size), 204, 'upload');
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
  const server = await benchServer({
    label: 'copy',
    postgres: POSTGRES,
    worker: true,
    env: { IMS_DEFAULT_IMAGE_QUOTA: 'unlimited' },
  });
  const { port, dataDir } = server;
  try {
    await server.start();
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
    await server.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
