import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DomainError } from '../../src/domain/errors.ts';
import type { Job } from '../../src/domain/job.ts';
import { JobError, LeaseLostError, WorkerStoppingError } from '../../src/services/jobs/errors.ts';
import { defineJobKind, type JobHandler, type JobKind } from '../../src/services/jobs/kind.ts';
import { JobRegistry } from '../../src/services/jobs/registry.ts';
import { Worker, type WorkerOptions } from '../../src/services/jobs/worker.ts';
import { TEST_DB } from '../helpers/server.ts';
import { aborted, deferred, ManualClock, openJobTestDb, type JobTestDb } from './helpers.ts';

const LEASE = 10_000;
let t: JobTestDb;
let n = 0;
const workers: Worker[] = [];

beforeAll(async () => {
  t = await openJobTestDb();
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
});
afterAll(() => t.close());

/** A worker with fast real-time timers, on its own kind so that tests do not see each other's jobs. */
function startWorker<P, R>(
  kind: JobKind<P, R>,
  handler: JobHandler<P, R>,
  clock: ManualClock,
  options: Partial<WorkerOptions> & { entities?: (r: R) => Record<string, unknown> } = {},
): Worker {
  const registry = new JobRegistry().register(
    kind,
    handler,
    options.entities ? { entities: options.entities } : {},
  );
  const worker = new Worker(
    { jobs: t.jobs, registry, clock },
    { leaseMs: LEASE, heartbeatMs: 10, pollMs: 5, maxIdleMs: 10, progressIntervalMs: 0, ...options },
  );
  worker.start();
  workers.push(worker);
  return worker;
}

function kindOf<P, R = void>(maxAttempts = 3): JobKind<P, R> {
  n += 1;
  return defineJobKind<P, R>(`test-kind-${n}`, { maxAttempts });
}

async function enqueue<P>(
  kind: JobKind<P, unknown>,
  payload: P,
  clock: ManualClock,
  entities = {},
): Promise<string> {
  n += 1;
  const id = `wjob-${n}`;
  await t.jobs.enqueue(
    { id, kind: kind.name, projectId: 'p-1', payload, maxAttempts: kind.maxAttempts, entities },
    clock.now(),
  );
  return id;
}

const find = async (id: string): Promise<Job> => (await t.jobs.find(id))!;
const until = (check: () => Promise<unknown> | unknown) => vi.waitFor(check, { timeout: 5_000, interval: 5 });

describe(`worker (${TEST_DB})`, () => {
  it('runs a job: typed payload, progress, result and entities kept', async () => {
    const clock = new ManualClock();
    const kind = kindOf<{ n: number }, { doubled: number }>();
    const midway = deferred();
    const finish = deferred();
    startWorker(
      kind,
      async (job, report) => {
        await report(40);
        midway.resolve();
        await finish.promise;
        return { doubled: job.payload.n * 2 };
      },
      clock,
      { entities: (r) => ({ results: [{ status: 'success', doubled: r.doubled }] }) },
    );
    const id = await enqueue(kind, { n: 21 }, clock, { image_id: 'img-1' });
    await midway.promise;
    expect(await find(id)).toMatchObject({ status: 'RUNNING', progress: 40, attempts: 1 });
    finish.resolve();
    await until(async () => expect((await find(id)).status).toBe('SUCCESS'));
    expect(await find(id)).toMatchObject({
      result: { doubled: 42 },
      progress: 100,
      entities: { image_id: 'img-1', results: [{ status: 'success', doubled: 42 }] },
    });
  });

  it('writes progress at most once per interval, and the last value reported soon after', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>();
    const reported = deferred();
    const finish = deferred();
    startWorker(
      kind,
      async (_job, report) => {
        // The clock stands still: only the first is due, the rest come within the interval.
        for (const p of [10, 20, 30, 70]) await report(p);
        reported.resolve();
        await finish.promise;
      },
      clock,
      { progressIntervalMs: 300 },
    );
    const id = await enqueue(kind, null, clock);
    await reported.promise;
    expect((await find(id)).progress).toBe(10);
    // 70 is not lost while the handler works on without reporting (70 was its conversion's end).
    await until(async () => expect(await find(id)).toMatchObject({ status: 'RUNNING', progress: 70 }));
    finish.resolve();
    await until(async () => expect(await find(id)).toMatchObject({ status: 'SUCCESS', progress: 100 }));
  });

  it('writes no late progress over a job that has ended', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>();
    startWorker(
      kind,
      async (_job, report) => {
        await report(10);
        await report(50); // deferred, then dropped: the run ends first
      },
      clock,
      { progressIntervalMs: 200 },
    );
    const id = await enqueue(kind, null, clock);
    await until(async () => expect((await find(id)).status).toBe('SUCCESS'));
    await new Promise((r) => setTimeout(r, 400));
    expect(await find(id)).toMatchObject({ status: 'SUCCESS', progress: 100 });
  });

  it('runs up to `concurrency` jobs at a time', async () => {
    const clock = new ManualClock();
    const kind = kindOf<number>();
    const gate = deferred();
    let running = 0;
    let peak = 0;
    startWorker(
      kind,
      async () => {
        running += 1;
        peak = Math.max(peak, running);
        await gate.promise;
        running -= 1;
      },
      clock,
      { concurrency: 3 },
    );
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await enqueue(kind, i, clock));
    await until(() => expect(running).toBe(3));
    await new Promise((r) => setTimeout(r, 50));
    expect(peak).toBe(3);
    gate.resolve();
    await until(async () => {
      for (const id of ids) expect((await find(id)).status).toBe('SUCCESS');
    });
    expect(peak).toBe(3);
  });

  it('heartbeats keep a long job past its first lease', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>();
    const started = deferred();
    const finish = deferred();
    startWorker(
      kind,
      async () => {
        started.resolve();
        await finish.promise;
      },
      clock,
    );
    const id = await enqueue(kind, null, clock);
    await started.promise;
    // Three lease lengths of clock time, in steps the heartbeat follows.
    for (let i = 0; i < 6; i++) {
      clock.advance(LEASE / 2);
      const expected = new Date(clock.now().getTime() + LEASE).toISOString();
      await until(async () => expect((await find(id)).leaseExpiresAt).toBe(expected));
      expect(await t.jobs.claim('thief', [kind.name], LEASE, clock.now())).toBeNull();
    }
    finish.resolve();
    await until(async () => expect(await find(id)).toMatchObject({ status: 'SUCCESS', attempts: 1 }));
  });

  it("aborts the handler's signal when the lease is lost; the next worker finishes with attempts = 2", async () => {
    const clock = new ManualClock();
    const kind = kindOf<null, string>();
    const started = deferred();
    const reasons: unknown[] = [];
    const stuck = startWorker(
      kind,
      async (_job, _report, signal) => {
        started.resolve();
        try {
          return await aborted(signal);
        } catch (err) {
          reasons.push(err);
          throw err;
        }
      },
      clock,
    );
    const id = await enqueue(kind, null, clock);
    await started.promise;
    // Stop claiming (or this worker would take the job again itself), then
    // let the run stall past its lease, simulated by the clock jumping.
    const stopped = stuck.stop();
    clock.advance(LEASE + 1);
    await stopped;
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toBeInstanceOf(LeaseLostError);
    // The lost run wrote nothing: the job is still RUNNING under the dead lease.
    expect(await find(id)).toMatchObject({ status: 'RUNNING', attempts: 1, errorCode: null });

    startWorker(kind, async (job) => `done on attempt ${job.attempt}`, clock);
    await until(async () =>
      expect(await find(id)).toMatchObject({ status: 'SUCCESS', attempts: 2, result: 'done on attempt 2' }),
    );
  });

  it('retries a transient failure with exponential back-off, then succeeds', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null, string>(5);
    const attempts: number[] = [];
    startWorker(
      kind,
      async (job) => {
        attempts.push(job.attempt);
        if (job.attempt < 3) throw JobError.transient('IMG.0061', `peer busy (${job.attempt})`);
        return 'ok';
      },
      clock,
      { backoff: { baseMs: 1_000, maxMs: 60_000 }, random: () => 0.5 },
    );
    const start = clock.now().getTime();
    const id = await enqueue(kind, null, clock);
    const waiting = async (runAfterMs: number, attempt: number) =>
      until(async () =>
        expect(await find(id)).toMatchObject({
          status: 'INIT',
          attempts: attempt,
          runAfter: new Date(runAfterMs).toISOString(),
          errorCode: 'IMG.0061',
          failReason: `peer busy (${attempt})`,
        }),
      );
    // Equal jitter with random() = 0.5: 3/4 of 1 s, then of 2 s.
    await waiting(start + 750, 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(attempts).toEqual([1]); // not before its time
    clock.advance(750);
    await waiting(start + 750 + 1_500, 2);
    clock.advance(1_500);
    await until(async () =>
      expect(await find(id)).toMatchObject({ status: 'SUCCESS', attempts: 3, result: 'ok', errorCode: null }),
    );
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('fails at once on a permanent failure, keeping error_code and fail_reason', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>(5);
    startWorker(
      kind,
      async () => {
        throw JobError.permanent('IMG.0057', 'The file is not a qcow2 image');
      },
      clock,
    );
    const id = await enqueue(kind, null, clock);
    await until(async () =>
      expect(await find(id)).toMatchObject({
        status: 'FAIL',
        attempts: 1,
        errorCode: 'IMG.0057',
        failReason: 'The file is not a qcow2 image',
        endTime: clock.now().toISOString(),
      }),
    );
  });

  it('treats a 4xx DomainError as permanent', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>(5);
    startWorker(
      kind,
      async () => {
        throw new DomainError('ImageNotFound', 'No image found with ID x');
      },
      clock,
    );
    const id = await enqueue(kind, null, clock);
    await until(async () =>
      expect(await find(id)).toMatchObject({ status: 'FAIL', attempts: 1, errorCode: 'IMG.0027' }),
    );
  });

  it('fails once max attempts are used up; unexpected errors show a generic reason', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>(2);
    let runs = 0;
    startWorker(
      kind,
      async () => {
        runs += 1;
        throw new Error('ENOENT: /var/lib/ims/secret/path');
      },
      clock,
      { backoff: { baseMs: 1_000, maxMs: 1_000 } },
    );
    const id = await enqueue(kind, null, clock);
    await until(async () => expect(await find(id)).toMatchObject({ status: 'INIT', attempts: 1 }));
    clock.advance(1_000);
    await until(async () => expect((await find(id)).status).toBe('FAIL'));
    const job = await find(id);
    expect(job).toMatchObject({ attempts: 2, errorCode: 'IMG.0061' });
    expect(job.failReason).not.toContain('secret');
    clock.advance(60_000);
    await new Promise((r) => setTimeout(r, 30));
    expect(runs).toBe(2);
  });

  it('records the end of a job abandoned on its last attempt, and lets its kind undo it', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>(1);
    const id = await enqueue(kind, null, clock);
    // A worker that died: it claimed the job and never beat again.
    expect(await t.jobs.claim('dead-worker', [kind.name], LEASE, clock.now())).toMatchObject({ id });
    clock.advance(LEASE + 1);
    const ended: Array<[string, unknown]> = [];
    const undone: string[] = [];
    const registry = new JobRegistry().register(kind, async () => {}, {
      onAbandoned: async (job) => {
        undone.push(job.id);
      },
    });
    const worker = new Worker(
      {
        jobs: t.jobs,
        registry,
        clock,
        onJobEnd: async (job, outcome) => {
          ended.push([job.id, outcome]);
        },
      },
      { leaseMs: LEASE, heartbeatMs: 10, pollMs: 5, maxIdleMs: 10, progressIntervalMs: 0 },
    );
    worker.start();
    workers.push(worker);
    await until(() => expect(ended).toEqual([[id, { ok: false, errorCode: 'IMG.0061' }]]));
    expect(undone).toEqual([id]);
    expect(await find(id)).toMatchObject({ status: 'FAIL', errorCode: 'IMG.0061' });
  });

  it('stop() lets running jobs finish and claims nothing new', async () => {
    const clock = new ManualClock();
    const kind = kindOf<number>();
    const started = deferred();
    const finish = deferred();
    const worker = startWorker(
      kind,
      async () => {
        started.resolve();
        await finish.promise;
      },
      clock,
    );
    const first = await enqueue(kind, 1, clock);
    await started.promise;
    let stopped = false;
    const stopping = worker.stop().then(() => (stopped = true));
    const second = await enqueue(kind, 2, clock);
    await new Promise((r) => setTimeout(r, 30));
    expect(stopped).toBe(false);
    finish.resolve();
    await stopping;
    expect((await find(first)).status).toBe('SUCCESS');
    expect(await find(second)).toMatchObject({ status: 'INIT', attempts: 0 });
  });

  it('stop() after the grace period aborts running jobs and hands them back', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null>();
    const started = deferred();
    const reasons: unknown[] = [];
    const worker = startWorker(
      kind,
      async (_job, _report, signal) => {
        started.resolve();
        await aborted(signal).catch((err: unknown) => {
          reasons.push(err);
          throw err;
        });
      },
      clock,
    );
    const id = await enqueue(kind, null, clock);
    await started.promise;
    await worker.stop({ graceMs: 20 });
    expect(reasons[0]).toBeInstanceOf(WorkerStoppingError);
    expect(await find(id)).toMatchObject({ status: 'INIT', attempts: 0, leaseOwner: null, errorCode: null });
  });

  it('stop() hands back the job of a handler that ignores its signal; its late result is refused', async () => {
    const clock = new ManualClock();
    const kind = kindOf<null, string>();
    const started = deferred();
    const finish = deferred();
    const worker = startWorker(
      kind,
      async () => {
        started.resolve();
        await finish.promise;
        return 'late';
      },
      clock,
      { abortWaitMs: 20 },
    );
    const id = await enqueue(kind, null, clock);
    await started.promise;
    await worker.stop({ graceMs: 0 });
    expect(await find(id)).toMatchObject({ status: 'INIT', attempts: 0 });
    finish.resolve();
    await new Promise((r) => setTimeout(r, 30));
    expect(await find(id)).toMatchObject({ status: 'INIT', result: null });
  });

  it('refuses to start without a handler for a kind it should claim', () => {
    const worker = new Worker(
      { jobs: t.jobs, registry: new JobRegistry(), clock: new ManualClock() },
      { kinds: ['nobody-handles-this'] },
    );
    expect(() => worker.start()).toThrow('nobody-handles-this');
  });
});
