import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';
import { JobService, newJobId } from '../../src/services/jobs/service.ts';
import { leaseOf } from '../../src/adapters/db/job-repository.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let s: TestServer;
let owner: { token: string; projectId: string };
let jobId: string;

beforeAll(async () => {
  s = await startTestServer();
  owner = await s.tokenFor('jobs-project', 'jobs-user', 'member');
  // No worker runs this kind: the job stays queued, as a job waiting its turn does.
  const kind = defineJobKind<{ n: number }>('imsImportImageJob');
  const jobs = new JobService(new Repositories(s.server.db.kysely), systemClock);
  const job = await jobs.enqueue(
    owner,
    kind,
    { n: 1 },
    { entities: { image_id: 'abc', image_name: 'imported' } },
  );
  jobId = job.id;
});
afterAll(async () => s?.close());

describe(`IMS job routes (${TEST_DB})`, () => {
  it('shows a job in the IMS shape under the project path', async () => {
    const res = await s.request('GET', `/v1/${owner.projectId}/jobs/${jobId}`, { token: owner.token });
    expect(res.status).toBe(200);
    const job = (await res.json()) as Json;
    expect(job).toMatchObject({
      status: 'INIT',
      job_id: jobId,
      job_type: 'imsImportImageJob',
      end_time: null,
      error_code: null,
      fail_reason: null,
      progress: 0,
      entities: { image_id: 'abc', image_name: 'imported' },
    });
    expect(job.begin_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('adds process_percent under /v1/cloudimages/job', async () => {
    const res = await s.request('GET', `/v1/cloudimages/job/${jobId}`, { token: owner.token });
    expect(((await res.json()) as Json).entities.process_percent).toBe(0);
  });

  it('refuses another project in the path with IMG.0030, and hides other projects’ jobs', async () => {
    const stranger = await s.tokenFor('jobs-other', 'jobs-other-user', 'member');
    let res = await s.request('GET', `/v1/${owner.projectId}/jobs/${jobId}`, { token: stranger.token });
    expect(res.status).toBe(403);
    expect(((await res.json()) as Json).error.code).toBe('IMG.0030');
    res = await s.request('GET', `/v1/${stranger.projectId}/jobs/${jobId}`, { token: stranger.token });
    expect(res.status).toBe(404);
    const body = (await res.json()) as Json;
    expect(body.error.code).toMatch(/^IMG\./);
    expect((await s.request('GET', `/v1/cloudimages/job/${jobId}`, { token: stranger.token })).status).toBe(
      404,
    );
  });
});

describe(`IMS job list, an extension (${TEST_DB})`, () => {
  let lister: { token: string; projectId: string };
  let foreign: { token: string; projectId: string };
  const ids: Record<'init' | 'success' | 'fail' | 'running' | 'foreign', string> = {
    init: '',
    success: '',
    fail: '',
    running: '',
    foreign: '',
  };
  const at = (n: number) => new Date(Date.parse('2026-01-01T00:00:00.000Z') + n * 1000);
  const list = async (query = '', token = lister.token) =>
    s.request('GET', `/v1/${lister.projectId}/jobs${query}`, { token });
  const jobIds = async (query: string): Promise<string[]> => {
    const res = await list(query);
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as Json).jobs.map((j: Json) => j.job_id as string);
  };
  const refused = async (query: string) => {
    const res = await list(query);
    expect(res.status, query).toBe(400);
    const body = (await res.json()) as Json;
    expect(body.error.code, query).toBe('IMG.0001');
    return body;
  };

  beforeAll(async () => {
    lister = await s.tokenFor('jobs-list-project', 'jobs-list-user', 'member');
    foreign = await s.tokenFor('jobs-list-foreign', 'jobs-list-foreign-user', 'member');
    const repo = new Repositories(s.server.db.kysely).jobs;
    // Each job has its own kind, so that a claim takes exactly that job.
    const seed = async (
      key: keyof typeof ids,
      kind: string,
      projectId: string,
      n: number,
      imageId: string,
    ) => {
      ids[key] = newJobId();
      await repo.enqueue(
        { id: ids[key], kind, projectId, payload: {}, maxAttempts: 1, entities: { image_id: imageId } },
        at(n),
      );
    };
    await seed('init', 'imsImportImageJob', lister.projectId, 0, 'img-a');
    await seed('success', 'imsCopyImageJob', lister.projectId, 1, 'img-b');
    await seed('fail', 'imsExportImageJob', lister.projectId, 2, 'img-a');
    await seed('running', 'imsCrossRegionCopyJob', lister.projectId, 3, 'img-c');
    await seed('foreign', 'imsImportImageJob', foreign.projectId, 4, 'img-a');
    const now = new Date();
    const done = (await repo.claim('w', ['imsCopyImageJob'], 60_000, now))!;
    await repo.complete(leaseOf(done), { ok: true }, null, now);
    const failed = (await repo.claim('w', ['imsExportImageJob'], 60_000, now))!;
    await repo.fail(
      leaseOf(failed),
      { code: 'IMG.0069', reason: 'bucket <b>x</b> not granted', permanent: true },
      now,
      now,
    );
    const running = (await repo.claim('w', ['imsCrossRegionCopyJob'], 60_000, now))!;
    await repo.reportProgress(leaseOf(running), 40, now);
  });

  it("lists only the caller's project's jobs, newest first, each as the show route shows it", async () => {
    const res = await list();
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(Object.keys(body)).toEqual(['jobs']);
    expect(body.jobs.map((j: Json) => j.job_id)).toEqual([ids.running, ids.fail, ids.success, ids.init]);
    for (const job of body.jobs as Json[]) {
      const shown = await s.request('GET', `/v1/${lister.projectId}/jobs/${job.job_id}`, {
        token: lister.token,
      });
      expect(job).toEqual(await shown.json());
    }
    const [running, failed, succeeded, waiting] = body.jobs as Json[];
    expect(running).toMatchObject({ status: 'RUNNING', progress: 40, job_type: 'imsCrossRegionCopyJob' });
    expect(failed).toMatchObject({
      status: 'FAIL',
      error_code: 'IMG.0069',
      fail_reason: 'bucket <b>x</b> not granted',
    });
    expect(succeeded).toMatchObject({ status: 'SUCCESS', progress: 100 });
    expect(waiting).toMatchObject({ status: 'INIT', progress: 0, entities: { image_id: 'img-a' } });

    const theirs = await s.request('GET', `/v1/${foreign.projectId}/jobs`, { token: foreign.token });
    expect(((await theirs.json()) as Json).jobs.map((j: Json) => j.job_id)).toEqual([ids.foreign]);
  });

  it('filters by status, job_type and image_id, alone and together', async () => {
    expect(await jobIds('?status=FAIL')).toEqual([ids.fail]);
    expect(await jobIds('?status=RUNNING')).toEqual([ids.running]);
    expect(await jobIds('?job_type=imsCopyImageJob')).toEqual([ids.success]);
    expect(await jobIds('?image_id=img-a')).toEqual([ids.fail, ids.init]);
    expect(await jobIds('?image_id=img-a&status=INIT')).toEqual([ids.init]);
    expect(await jobIds('?image_id=img-a&job_type=imsCopyImageJob')).toEqual([]);
    expect(await jobIds('?image_id=no-such-image')).toEqual([]);
  });

  it('pages with limit and a marker', async () => {
    expect(await jobIds('?limit=2')).toEqual([ids.running, ids.fail]);
    expect(await jobIds(`?limit=2&marker=${ids.fail}`)).toEqual([ids.success, ids.init]);
    expect(await jobIds(`?marker=${ids.init}`)).toEqual([]);
    expect(await jobIds(`?status=INIT&marker=${ids.running}`)).toEqual([ids.init]);
    // A huge page is the largest page.
    expect(await jobIds('?limit=99999999999999999999')).toHaveLength(4);
  });

  it('pages 100 by default and 1000 at most', async () => {
    const many = await s.tokenFor('jobs-list-many', 'jobs-list-many-user', 'member');
    const repo = new Repositories(s.server.db.kysely).jobs;
    for (let n = 0; n < 101; n++)
      await repo.enqueue(
        { id: newJobId(), kind: 'imsImportImageJob', projectId: many.projectId, payload: {}, maxAttempts: 1 },
        at(n),
      );
    const count = async (query: string) => {
      const res = await s.request('GET', `/v1/${many.projectId}/jobs${query}`, { token: many.token });
      return ((await res.json()) as Json).jobs.length as number;
    };
    expect(await count('')).toBe(100);
    expect(await count('?limit=1000')).toBe(101);
  });

  it('refuses hostile parameters with IMG.0001', async () => {
    for (const status of ['done', 'fail', 'INIT%27%20OR%201%3D1', '']) await refused(`?status=${status}`);
    for (const limit of ['0', '-1', 'abc', '1e3', '1.5', '', '%20']) await refused(`?limit=${limit}`);
    await refused('?status=INIT&status=FAIL');
    await refused('?limit=1&limit=2');
    await refused('?image_id=');
    await refused(`?image_id=${'x'.repeat(300)}`);
    await refused('?sort_key=created_at');
    // A marker of no job, or of another project's job, is not found: it tells nothing about the job.
    const unknown = await refused(`?marker=${newJobId()}`);
    const stranger = await refused(`?marker=${ids.foreign}`);
    expect(stranger.error.message).toBe(unknown.error.message.replace(/[0-9a-f]{32}/, ids.foreign));
    // Values are data, never SQL.
    expect(await jobIds(`?image_id=${encodeURIComponent("img-a' OR '1'='1")}`)).toEqual([]);
    expect(await jobIds(`?job_type=${encodeURIComponent("x' OR 1=1 --")}`)).toEqual([]);
  });

  it('refuses another project in the path (IMG.0030) and callers without a token', async () => {
    let res = await s.request('GET', `/v1/${lister.projectId}/jobs`, { token: foreign.token });
    expect(res.status).toBe(403);
    expect(((await res.json()) as Json).error.code).toBe('IMG.0030');
    res = await s.request('GET', `/v1/${foreign.projectId}/jobs`, { token: lister.token });
    expect(res.status).toBe(403);
    res = await s.request('GET', `/v1/${lister.projectId}/jobs`, { token: null });
    expect(res.status).toBe(401);
  });

  it('is documented in the OpenAPI document as an extension', async () => {
    const doc = (await (await s.request('GET', '/openapi.json')).json()) as Json;
    const op = doc.paths['/v1/{project_id}/jobs'].get as Json;
    expect(op.summary).toMatch(/extension/);
    expect(op.parameters.map((p: Json) => p.name)).toEqual(
      expect.arrayContaining(['project_id', 'status', 'job_type', 'image_id', 'limit', 'marker']),
    );
  });
});
