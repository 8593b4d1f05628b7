import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { JobRepository, leaseOf } from '../../src/adapters/db/job-repository.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';
import { JobRegistry } from '../../src/services/jobs/registry.ts';
import { Worker } from '../../src/services/jobs/worker.ts';
import { TEST_DB } from '../helpers/server.ts';
import { openJobTestDb, type JobTestDb } from './helpers.ts';

// Four connections (four pools on PostgreSQL) stand for four worker processes.
const CLAIMERS = 4;
const JOBS = 200;
let t: JobTestDb;
let repos: JobRepository[];

beforeAll(async () => {
  t = await openJobTestDb();
  repos = Array.from({ length: CLAIMERS }, () => new JobRepository(t.connect().kysely));
});
afterAll(() => t.close());

async function enqueueMany(kind: string): Promise<string[]> {
  const ids = Array.from({ length: JOBS }, (_, i) => `${kind}-${String(i).padStart(4, '0')}`);
  const now = new Date();
  await t.db.kysely.transaction().execute(async (trx) => {
    const jobs = new JobRepository(trx);
    for (const id of ids)
      await jobs.enqueue({ id, kind, projectId: 'p-1', payload: null, maxAttempts: 3 }, now);
  });
  return ids;
}

describe(`concurrent claimers (${TEST_DB})`, () => {
  it(`${CLAIMERS} claimers racing over ${JOBS} jobs never take the same one`, async () => {
    const kind = 'race';
    const ids = await enqueueMany(kind);
    const taken = await Promise.all(
      repos.map(async (jobs, i) => {
        const mine: string[] = [];
        for (;;) {
          const job = await jobs.claim(`claimer-${i}`, [kind], 60_000, new Date());
          if (!job) return mine;
          mine.push(job.id);
          expect(await jobs.complete(leaseOf(job), null, null, new Date())).toBe(true);
        }
      }),
    );
    const all = taken.flat();
    expect(all).toHaveLength(JOBS);
    expect(new Set(all).size).toBe(JOBS);
    expect(all.sort()).toEqual(ids);
    if (TEST_DB === 'postgres') {
      // With SKIP LOCKED the claimers really do share the work.
      for (const mine of taken) expect(mine.length).toBeGreaterThan(0);
    }
  });

  it(`${CLAIMERS} workers run each of ${JOBS} jobs exactly once`, async () => {
    const kind = defineJobKind<null>('exactly-once');
    const runs = new Map<string, number>();
    const registry = new JobRegistry().register(kind, async (job) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      await new Promise((r) => setImmediate(r)); // let the other runs interleave
    });
    const ids = await enqueueMany(kind.name);
    const started = performance.now();
    const workers = repos.map(
      (jobs, i) =>
        new Worker(
          { jobs, registry, clock: systemClock },
          { id: `worker-${i}`, concurrency: 4, pollMs: 5, maxIdleMs: 20 },
        ),
    );
    for (const w of workers) w.start();
    try {
      await vi.waitFor(
        async () => {
          const done = await t.db.kysely
            .selectFrom('jobs')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('kind', '=', kind.name)
            .where('status', '=', 'SUCCESS')
            .executeTakeFirstOrThrow();
          expect(Number(done.n)).toBe(JOBS);
        },
        { timeout: 20_000, interval: 10 },
      );
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `[${TEST_DB}] ${CLAIMERS} workers x concurrency 4: ${JOBS} jobs in ${seconds.toFixed(2)} s = ${Math.round(JOBS / seconds)} jobs/s`,
    );
    expect([...runs.keys()].sort()).toEqual(ids);
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
    const attempts = await t.db.kysely
      .selectFrom('jobs')
      .select('attempts')
      .distinct()
      .where('kind', '=', kind.name)
      .execute();
    expect(attempts).toEqual([{ attempts: 1 }]);
  });
});
