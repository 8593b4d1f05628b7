/**
 * Job queue throughput: `npx tsx bench/job-claim.ts [--db postgres|sqlite] [--jobs 2000]
 * [--workers 4] [--concurrency 4]`. Not part of CI; prints jobs/s, asserts nothing.
 *
 * Each worker gets its own connection pool, as separate `ims worker` processes would. Two numbers:
 *   - claim + complete: each worker a tight loop of claim() and complete() (the queue's own cost);
 *   - Worker class: the real poll loop with no-op handlers (what a deployment gets per job).
 * On PostgreSQL a fresh database is created on IMS_BENCH_PG_URL's server
 * (default postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { systemClock } from '../src/adapters/clock.ts';
import { migrate, openDatabase, type Db } from '../src/adapters/db/database.ts';
import { JobRepository, leaseOf } from '../src/adapters/db/job-repository.ts';
import { defineJobKind } from '../src/services/jobs/kind.ts';
import { JobRegistry } from '../src/services/jobs/registry.ts';
import { Worker } from '../src/services/jobs/worker.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'postgres' },
    jobs: { type: 'string', default: '2000' },
    workers: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '4' },
  },
});
const JOBS = Number(values.jobs);
const WORKERS = Number(values.workers);
const CONCURRENCY = Number(values.concurrency);
const ADMIN_URL = process.env.IMS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function enqueue(db: Db, kind: string): Promise<void> {
  const now = new Date();
  await db.kysely.transaction().execute(async (trx) => {
    const jobs = new JobRepository(trx);
    for (let i = 0; i < JOBS; i++)
      await jobs.enqueue(
        { id: `${kind}-${i}`, kind, projectId: 'bench', payload: { i }, maxAttempts: 3 },
        now,
      );
  });
}

async function succeeded(db: Db, kind: string): Promise<number> {
  const row = await db.kysely
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('kind', '=', kind)
    .where('status', '=', 'SUCCESS')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Tight claim/complete loops, one per pool. */
async function rawLoops(db: Db, pools: Db[]): Promise<number> {
  const kind = 'bench-raw';
  await enqueue(db, kind);
  const started = performance.now();
  await Promise.all(
    pools.map(async (p, i) => {
      const jobs = new JobRepository(p.kysely);
      for (;;) {
        const job = await jobs.claim(`raw-${i}`, [kind], 60_000, new Date());
        if (!job) return;
        await jobs.complete(leaseOf(job), null, null, new Date());
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if ((await succeeded(db, kind)) !== JOBS) throw new Error('not every job succeeded');
  return JOBS / seconds;
}

/** The Worker class with no-op handlers, `CONCURRENCY` runs per worker. */
async function workerLoops(db: Db, pools: Db[]): Promise<number> {
  const kind = defineJobKind<{ i: number }>('bench-worker');
  const registry = new JobRegistry().register(kind, async () => {});
  await enqueue(db, kind.name);
  const started = performance.now();
  const workers = pools.map(
    (p, i) =>
      new Worker(
        { jobs: new JobRepository(p.kysely), registry, clock: systemClock },
        { id: `bench-${i}`, concurrency: CONCURRENCY, pollMs: 5, maxIdleMs: 20 },
      ),
  );
  for (const w of workers) w.start();
  while ((await succeeded(db, kind.name)) < JOBS) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(workers.map((w) => w.stop()));
  return JOBS / seconds;
}

async function main(): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-bench-jobs-'));
  const name = `ims_bench_jobs_${randomBytes(4).toString('hex')}`;
  let url = '';
  if (values.db === 'postgres') {
    await adminQuery(`CREATE DATABASE "${name}"`);
    const u = new URL(ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.toString();
  }
  const opened: Db[] = [];
  const open = () => {
    const db = openDatabase(url, dataDir);
    opened.push(db);
    return db;
  };
  try {
    const db = open();
    await migrate(db);
    const pools = Array.from({ length: WORKERS }, open);
    const raw = await rawLoops(db, pools);
    const real = await workerLoops(db, pools);
    console.log(`job queue on ${values.db}, ${JOBS} jobs, ${WORKERS} workers (one pool each):`);
    console.log(`  claim + complete loops:            ${Math.round(raw)} jobs/s`);
    console.log(`  Worker class, concurrency ${CONCURRENCY} each:  ${Math.round(real)} jobs/s`);
  } finally {
    for (const db of opened) await db.close();
    if (url) await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
