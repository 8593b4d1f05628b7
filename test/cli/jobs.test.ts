import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { leaseOf } from '../../src/adapters/db/job-repository.ts';
import { cliRunner, hasTerminalControl, type CliRunner } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let cli: CliRunner;
let projectId: string;
let repos: Repositories;
let n = 0;

beforeAll(async () => {
  s = await startTestServer();
  const user = await s.tokenFor('cli-jobs', 'jo', 'member');
  projectId = user.projectId;
  cli = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: user.token, IMS_PROJECT_ID: projectId });
  repos = new Repositories(s.server.db.kysely);
});
afterAll(async () => {
  await cli?.cleanup();
  await s?.close();
});

/** A queued job of the test's project, and a worker's lease on it (no worker runs here). */
async function runningJob() {
  const id = `cli-job-${process.pid}-${++n}`;
  await repos.jobs.enqueue(
    { id, kind: 'cli-test', projectId, payload: {}, maxAttempts: 1, entities: { image_id: 'img-1' } },
    new Date(),
  );
  const claimed = await repos.jobs.claim('test-worker', ['cli-test'], 60_000, new Date());
  expect(claimed?.id).toBe(id);
  return { id, lease: leaseOf(claimed!) };
}

describe(`ims job commands (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('shows a job, as a table and as JSON', async () => {
    const { id, lease } = await runningJob();
    await repos.jobs.reportProgress(lease, 40, new Date());
    const job = await cli.json<Json>(['job', 'show', id]);
    expect(job).toMatchObject({
      job_id: id,
      status: 'RUNNING',
      progress: 40,
      entities: { image_id: 'img-1' },
    });
    const table = await cli.run(['job', 'show', id]);
    expect(table.stdout).toMatch(/^status\s+RUNNING$/m);
    expect(table.stdout).toMatch(/^entities\.image_id\s+img-1$/m);
    expect((await cli.run(['job', 'show', 'no-such-job'])).code).toBe(1);
  });

  it('waits with progress lines until SUCCESS (exit 0)', async () => {
    const { id, lease } = await runningJob();
    const waiting = cli.start(['job', 'wait', id, '--interval', '0.2', '-o', 'json'], {
      env: { IMS_PROGRESS_INTERVAL: '0.000001' },
    });
    await waiting.stderrMatches(/: 0\.0%/);
    await repos.jobs.reportProgress(lease, 50, new Date());
    await waiting.stderrMatches(/: 50\.0%/);
    await repos.jobs.complete(lease, { ok: true }, { image_id: 'img-1' }, new Date());
    const r = await waiting.done;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ job_id: id, status: 'SUCCESS' });
    expect(hasTerminalControl(r.stderr)).toBe(false);
    expect(r.stderr).toMatch(new RegExp(`^job ${id}: 50\\.0%`, 'm'));
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`job ${id}: SUCCESS`);
  });

  it('exits 5 when the job fails, with its reason', async () => {
    const { id, lease } = await runningJob();
    await repos.jobs.fail(
      lease,
      { code: 'IMG.0999', reason: 'disk on fire', permanent: true },
      new Date(),
      new Date(),
    );
    const r = await cli.run(['job', 'wait', id]);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/^status\s+FAIL$/m);
    expect(r.stderr).toMatch(`job ${id} failed: disk on fire`);
  });

  it('exits 6 when the job outlives --timeout', async () => {
    const { id } = await runningJob();
    const r = await cli.run(['job', 'wait', id, '--timeout', '1', '--interval', '0.3', '--progress', 'none']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(`job ${id} is still RUNNING after 1 s`);
  });

  it("lists the project's jobs newest first, filtered, as a table and as JSON, following pages with --all", async () => {
    const imageId = randomUUID();
    const failing = await runningJob();
    await repos.jobs.fail(
      failing.lease,
      { code: 'IMG.0998', reason: 'bad \u001b[31mred\u001b[0m\rline', permanent: true },
      new Date(),
      new Date(),
    );
    const ofImage = `cli-job-${process.pid}-${++n}`;
    await repos.jobs.enqueue(
      {
        id: ofImage,
        kind: 'cli-test-other',
        projectId,
        payload: {},
        maxAttempts: 1,
        entities: { image_id: imageId },
      },
      new Date(Date.now() + 1000),
    );

    const all = await cli.json<Json[]>(['job', 'list', '-o', 'json']);
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(all[0]).toMatchObject({ job_id: ofImage, status: 'INIT', entities: { image_id: imageId } });
    expect(all.map((j) => j.job_id)).toContain(failing.id);

    const failed = await cli.json<Json[]>(['job', 'list', '--status', 'fail', '-o', 'json']);
    expect(failed.every((j) => j.status === 'FAIL')).toBe(true);
    expect(failed.map((j) => j.job_id)).toContain(failing.id);
    expect(
      (await cli.json<Json[]>(['job', 'list', '--image', imageId, '-o', 'json'])).map((j) => j.job_id),
    ).toEqual([ofImage]);
    expect((await cli.json<Json[]>(['job', 'list', '--type', 'cli-test-other', '-o', 'json'])).length).toBe(
      1,
    );

    // One job a page, to the end: the same jobs in the same order.
    const paged = await cli.json<Json[]>(['job', 'list', '--limit', '1', '--all', '-o', 'json']);
    expect(paged.map((j) => j.job_id)).toEqual(all.map((j) => j.job_id));
    expect((await cli.json<Json[]>(['job', 'list', '--limit', '1', '-o', 'json'])).length).toBe(1);

    const table = await cli.run(['job', 'list', '--status', 'FAIL']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(
      /^JOB ID\s+TYPE\s+STATUS\s+PROGRESS\s+IMAGE\s+BEGIN\s+ERROR$/,
    );
    const row = table.stdout.split('\n').find((l) => l.startsWith(failing.id))!;
    // The reason's control characters are shown escaped, never sent to the terminal.
    expect(row).toContain('IMG.0998 bad \\x1b[31mred\\x1b[0m\\x0dline');
    expect(hasTerminalControl(table.stdout)).toBe(false);

    for (const bad of [
      ['--status', 'done'],
      ['--limit', '0'],
      ['--limit', 'x'],
    ]) {
      const r = await cli.run(['job', 'list', ...bad]);
      expect(r.code, bad.join(' ')).toBe(2);
    }
    const unknownMarker = await cli.run(['job', 'list', '--marker', 'no-such-job']);
    expect(unknownMarker.code).toBe(1);
    expect(unknownMarker.stderr).toMatch(/IMG\.0001/);
    const help = await cli.run(['job', 'list', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--status', '--type', '--image', '--limit', '--marker', '--all'])
      expect(help.stdout).toContain(option);
  });
});
