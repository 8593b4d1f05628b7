import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';
import { JobService } from '../../src/services/jobs/service.ts';
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
