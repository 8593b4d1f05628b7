import { parseJobQuery } from '../../src/domain/job-query.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseOf } from '../../src/adapters/db/job-repository.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { DomainError } from '../../src/domain/errors.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';
import { JobService } from '../../src/services/jobs/service.ts';
import { makeContext, withRoles } from '../helpers/domain.ts';
import { TEST_DB } from '../helpers/server.ts';
import { ManualClock, openJobTestDb, type JobTestDb } from './helpers.ts';

const IMPORT = defineJobKind<{ imageId: string; url: string }, { size: number }>('imsImportImageJob');
let t: JobTestDb;
let repos: Repositories;

beforeAll(async () => {
  t = await openJobTestDb();
  repos = new Repositories(t.db.kysely);
});
afterAll(() => t.close());

describe(`job service (${TEST_DB})`, () => {
  it('shows a job in the IMS shape through its life', async () => {
    const clock = new ManualClock();
    let woken = 0;
    const service = new JobService(repos, clock, () => (woken += 1));
    const ctx = makeContext({ projectId: 'p-ims' });
    const job = await service.enqueue(
      ctx,
      IMPORT,
      { imageId: 'img-1', url: 'bucket:disk.qcow2' },
      {
        entities: { image_id: 'img-1', image_name: 'web' },
      },
    );
    expect(job.id).toMatch(/^[0-9a-f]{32}$/);
    expect(woken).toBe(1);

    const queued = await service.get(ctx, job.id);
    expect(queued).toEqual({
      status: 'INIT',
      entities: { image_id: 'img-1', image_name: 'web' },
      job_id: job.id,
      job_type: 'imsImportImageJob',
      begin_time: '2026-01-01T00:00:00.000Z',
      end_time: null,
      error_code: null,
      fail_reason: null,
      progress: 0,
    });
    expect(Object.keys(queued)).toEqual([
      'status',
      'entities',
      'job_id',
      'job_type',
      'begin_time',
      'end_time',
      'error_code',
      'fail_reason',
      'progress',
    ]);

    clock.advance(1_000);
    const run1 = leaseOf((await repos.jobs.claim('w', [IMPORT.name], 30_000, clock.now()))!);
    await repos.jobs.fail(
      run1,
      { code: 'IMG.0061', reason: 'store busy', permanent: false },
      clock.now(),
      clock.now(),
    );
    // While a retry waits, the last error is history, not the outcome.
    expect(await service.get(ctx, job.id)).toMatchObject({
      status: 'INIT',
      begin_time: '2026-01-01T00:00:01.000Z',
      error_code: null,
      fail_reason: null,
    });

    clock.advance(1_000);
    const run2 = leaseOf((await repos.jobs.claim('w', [IMPORT.name], 30_000, clock.now()))!);
    await repos.jobs.reportProgress(run2, 30, clock.now());
    expect(await service.get(ctx, job.id)).toMatchObject({ status: 'RUNNING', progress: 30, end_time: null });
    clock.advance(1_000);
    await repos.jobs.fail(
      run2,
      { code: 'IMG.0057', reason: 'The file is not an image', permanent: true },
      clock.now(),
      clock.now(),
    );
    expect(await service.get(ctx, job.id)).toMatchObject({
      status: 'FAIL',
      begin_time: '2026-01-01T00:00:01.000Z',
      end_time: '2026-01-01T00:00:03.000Z',
      error_code: 'IMG.0057',
      fail_reason: 'The file is not an image',
    });
  });

  it("hides other projects' jobs; admins see all", async () => {
    const service = new JobService(repos, new ManualClock());
    const job = await service.enqueue(makeContext({ projectId: 'p-owner' }), IMPORT, {
      imageId: 'i',
      url: 'b:o',
    });
    const other = makeContext({ projectId: 'p-other' });
    const err = await service.get(other, job.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ status: 404 });
    await expect(service.get(other, 'no-such-job')).rejects.toMatchObject({ status: 404 });
    expect((await service.get(withRoles('p-admin', 'admin'), job.id)).job_id).toBe(job.id);
    expect(
      (await service.list(makeContext({ projectId: 'p-owner' }), parseJobQuery({}))).map((j) => j.job_id),
    ).toEqual([job.id]);
    expect(await service.list(other, parseJobQuery({}))).toEqual([]);
  });

  it("enqueues within the caller's transaction", async () => {
    let woken = 0;
    const service = new JobService(repos, new ManualClock(), () => (woken += 1));
    const ctx = makeContext({ projectId: 'p-tx' });
    await expect(
      repos.transaction(async (tx) => {
        await service.enqueue(ctx, IMPORT, { imageId: 'i', url: 'b:o' }, { tx });
        throw new Error('the image insert failed');
      }),
    ).rejects.toThrow('the image insert failed');
    expect(await service.list(ctx, parseJobQuery({}))).toEqual([]);
    const job = await repos.transaction((tx) =>
      service.enqueue(ctx, IMPORT, { imageId: 'i', url: 'b:o' }, { tx }),
    );
    expect((await service.get(ctx, job.id)).status).toBe('INIT');
    expect(woken).toBe(0);
  });
});
