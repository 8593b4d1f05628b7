import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseOf, type JobRepository, type NewJob } from '../../src/adapters/db/job-repository.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { TEST_DB } from '../helpers/server.ts';
import { ManualClock, openJobTestDb, type JobTestDb } from './helpers.ts';

const LEASE = 10_000;
let t: JobTestDb;
let jobs: JobRepository;
let n = 0;

beforeAll(async () => {
  t = await openJobTestDb();
  jobs = t.jobs;
});
afterAll(() => t.close());

/** A job of a kind no other test uses, so that claims only see this test's jobs. */
function newJob(overrides: Partial<NewJob> = {}): NewJob {
  n += 1;
  return {
    id: `job-${n}`,
    kind: `kind-${n}`,
    projectId: 'p-1',
    payload: { n },
    maxAttempts: 3,
    ...overrides,
  };
}

describe(`job repository (${TEST_DB})`, () => {
  it('enqueues, claims with a lease, reports progress and completes', async () => {
    const clock = new ManualClock();
    const spec = newJob({ entities: { image_id: 'img-1' }, payload: { url: 'b:o', size: 2 ** 40 } });
    const queued = await jobs.enqueue(spec, clock.now());
    expect(queued).toMatchObject({ status: 'INIT', attempts: 0, progress: 0, beginTime: null });

    clock.advance(1_000);
    const job = await jobs.claim('w1', [spec.kind], LEASE, clock.now());
    expect(job).toMatchObject({
      id: spec.id,
      status: 'RUNNING',
      attempts: 1,
      leaseOwner: 'w1',
      payload: { url: 'b:o', size: 2 ** 40 },
      entities: { image_id: 'img-1' },
      beginTime: '2026-01-01T00:00:01.000Z',
      leaseExpiresAt: '2026-01-01T00:00:11.000Z',
    });
    expect(await jobs.claim('w2', [spec.kind], LEASE, clock.now())).toBeNull();

    const lease = leaseOf(job!);
    expect(await jobs.reportProgress(lease, 40, clock.now())).toBe(true);
    expect((await jobs.find(spec.id))!.progress).toBe(40);
    clock.advance(500);
    const extra = { image_id: 'img-1', results: [{ status: 'success' }] };
    expect(await jobs.complete(lease, { bytes: 5 }, extra, clock.now())).toBe(true);
    expect(await jobs.find(spec.id)).toMatchObject({
      status: 'SUCCESS',
      result: { bytes: 5 },
      entities: extra,
      progress: 100,
      endTime: '2026-01-01T00:00:01.500Z',
      leaseExpiresAt: null,
    });
    // A finished job cannot be written by its old lease any more.
    expect(await jobs.heartbeat(lease, LEASE, clock.now())).toBe(false);
    expect(
      await jobs.fail(lease, { code: 'IMG.0001', reason: 'x', permanent: true }, clock.now(), clock.now()),
    ).toBeNull();
  });

  it('enqueues inside a transaction: the job exists only if it commits', async () => {
    const clock = new ManualClock();
    const repos = new Repositories(t.db.kysely);
    const kept = newJob();
    const dropped = newJob();
    await repos.transaction((tx) => tx.jobs.enqueue(kept, clock.now()));
    await expect(
      repos.transaction(async (tx) => {
        await tx.jobs.enqueue(dropped, clock.now());
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await jobs.find(kept.id)).not.toBeNull();
    expect(await jobs.find(dropped.id)).toBeNull();
  });

  it('claims only the given kinds, only when due, oldest due first', async () => {
    const clock = new ManualClock();
    const kind = `kind-order-${n}`;
    const later = newJob({ kind, runAfter: new Date(clock.now().getTime() + 5_000) });
    const first = newJob({ kind });
    const other = newJob();
    for (const j of [later, first, other]) await jobs.enqueue(j, clock.now());

    expect(await jobs.claim('w1', [], LEASE, clock.now())).toBeNull();
    expect((await jobs.claim('w1', [kind], LEASE, clock.now()))!.id).toBe(first.id);
    expect(await jobs.claim('w1', [kind], LEASE, clock.now())).toBeNull(); // `later` is not due yet
    clock.advance(5_000);
    expect((await jobs.claim('w1', [kind, 'unknown'], LEASE, clock.now()))!.id).toBe(later.id);
    expect((await jobs.claim('w1', [other.kind], LEASE, clock.now()))!.id).toBe(other.id);
  });

  it("takes a dead worker's job again once its lease ends, and fences off the old lease", async () => {
    const clock = new ManualClock();
    const spec = newJob();
    await jobs.enqueue(spec, clock.now());
    const first = await jobs.claim('dead', [spec.kind], LEASE, clock.now());
    clock.advance(LEASE - 1);
    expect(await jobs.claim('w2', [spec.kind], LEASE, clock.now())).toBeNull();
    clock.advance(1);
    const second = await jobs.claim('w2', [spec.kind], LEASE, clock.now());
    expect(second).toMatchObject({ status: 'RUNNING', attempts: 2, leaseOwner: 'w2' });
    expect(second!.beginTime).toBe(first!.beginTime);

    const old = leaseOf(first!);
    expect(await jobs.heartbeat(old, LEASE, clock.now())).toBe(false);
    expect(await jobs.reportProgress(old, 90, clock.now())).toBe(false);
    expect(await jobs.complete(old, 'stale', null, clock.now())).toBe(false);
    expect(await jobs.release(old, clock.now())).toBe(false);
    // Even a worker that takes its own job again is fenced by the attempt number.
    expect(await jobs.complete({ ...old, owner: 'w2' }, 'stale', null, clock.now())).toBe(false);
    expect(await jobs.complete(leaseOf(second!), 'fresh', null, clock.now())).toBe(true);
    expect(await jobs.find(spec.id)).toMatchObject({ status: 'SUCCESS', attempts: 2, result: 'fresh' });
  });

  it('heartbeats extend an unexpired lease only', async () => {
    const clock = new ManualClock();
    const spec = newJob();
    await jobs.enqueue(spec, clock.now());
    const lease = leaseOf((await jobs.claim('w1', [spec.kind], LEASE, clock.now()))!);
    clock.advance(LEASE - 1);
    expect(await jobs.heartbeat(lease, LEASE, clock.now())).toBe(true);
    clock.advance(LEASE - 1);
    expect(await jobs.claim('w2', [spec.kind], LEASE, clock.now())).toBeNull();
    clock.advance(1);
    // Ran out, though nobody has taken it yet: lost all the same.
    expect(await jobs.heartbeat(lease, LEASE, clock.now())).toBe(false);
  });

  it('a transient failure waits in INIT until retryAt; the last attempt and permanent failures FAIL', async () => {
    const clock = new ManualClock();
    const spec = newJob({ maxAttempts: 2 });
    await jobs.enqueue(spec, clock.now());
    const transient = { code: 'IMG.0061', reason: 'peer unreachable', permanent: false };

    const run1 = leaseOf((await jobs.claim('w1', [spec.kind], LEASE, clock.now()))!);
    const retryAt = new Date(clock.now().getTime() + 3_000);
    expect(await jobs.fail(run1, transient, retryAt, clock.now())).toBe('INIT');
    expect(await jobs.find(spec.id)).toMatchObject({
      status: 'INIT',
      attempts: 1,
      runAfter: retryAt.toISOString(),
      errorCode: 'IMG.0061',
      failReason: 'peer unreachable',
      endTime: null,
      leaseExpiresAt: null,
    });
    clock.advance(2_999);
    expect(await jobs.claim('w1', [spec.kind], LEASE, clock.now())).toBeNull();
    clock.advance(1);
    const run2 = leaseOf((await jobs.claim('w1', [spec.kind], LEASE, clock.now()))!);
    expect(run2.attempt).toBe(2);
    expect(await jobs.fail(run2, transient, new Date(clock.now().getTime() + 9_000), clock.now())).toBe(
      'FAIL',
    );
    expect(await jobs.find(spec.id)).toMatchObject({
      status: 'FAIL',
      attempts: 2,
      errorCode: 'IMG.0061',
      endTime: clock.now().toISOString(),
    });

    const bad = newJob({ maxAttempts: 5 });
    await jobs.enqueue(bad, clock.now());
    const lease = leaseOf((await jobs.claim('w1', [bad.kind], LEASE, clock.now()))!);
    const permanent = { code: 'IMG.0057', reason: 'not a qcow2 file', permanent: true };
    expect(await jobs.fail(lease, permanent, clock.now(), clock.now())).toBe('FAIL');
    expect(await jobs.find(bad.id)).toMatchObject({
      status: 'FAIL',
      attempts: 1,
      errorCode: 'IMG.0057',
      failReason: 'not a qcow2 file',
    });
  });

  it('release hands the job back at once without counting the attempt', async () => {
    const clock = new ManualClock();
    const spec = newJob();
    await jobs.enqueue(spec, clock.now());
    const lease = leaseOf((await jobs.claim('w1', [spec.kind], LEASE, clock.now()))!);
    expect(await jobs.release(lease, clock.now())).toBe(true);
    expect(await jobs.find(spec.id)).toMatchObject({ status: 'INIT', attempts: 0, leaseOwner: null });
    expect(await jobs.claim('w2', [spec.kind], LEASE, clock.now())).toMatchObject({
      attempts: 1,
      leaseOwner: 'w2',
    });
  });

  it('fails jobs whose worker died on their last attempt instead of running them again', async () => {
    const clock = new ManualClock();
    const spec = newJob({ maxAttempts: 1 });
    await jobs.enqueue(spec, clock.now());
    await jobs.claim('dead', [spec.kind], LEASE, clock.now());
    clock.advance(LEASE);
    expect(await jobs.claim('w2', [spec.kind], LEASE, clock.now())).toBeNull();
    const failure = { code: 'IMG.0061', reason: 'interrupted' };
    expect((await jobs.failAbandoned(failure, clock.now())).map((j) => j.id)).toEqual([spec.id]);
    expect(await jobs.find(spec.id)).toMatchObject({ status: 'FAIL', attempts: 1, errorCode: 'IMG.0061' });
    expect(await jobs.failAbandoned(failure, clock.now())).toEqual([]);
  });

  it("lists a project's jobs newest first", async () => {
    const clock = new ManualClock();
    const a = newJob({ projectId: 'p-list' });
    const b = newJob({ projectId: 'p-list' });
    await jobs.enqueue(a, clock.now());
    clock.advance(1);
    await jobs.enqueue(b, clock.now());
    await jobs.enqueue(newJob({ projectId: 'p-other' }), clock.now());
    expect((await jobs.listByProject('p-list')).map((j) => j.id)).toEqual([b.id, a.id]);
    expect(await jobs.listByProject('p-list', {}, 1)).toHaveLength(1);
  });
});
