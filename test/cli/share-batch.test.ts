import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, type CliRunner } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let owner: CliRunner;
let ownerProject: string;
let ownerToken: string;

beforeAll(async () => {
  s = await startTestServer({}, { worker: true });
  const a = await s.tokenFor('cli-batch-owner', 'bea', 'member');
  ownerProject = a.projectId;
  ownerToken = a.token;
  owner = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: a.token, IMS_PROJECT_ID: a.projectId });
});
afterAll(async () => {
  await owner?.cleanup();
  await s?.close();
});

/** An active private image of the owner. */
async function activeImage(name: string): Promise<string> {
  const res = await s.request('POST', '/v2/images', {
    token: ownerToken,
    body: { name, disk_format: 'raw', container_format: 'bare', visibility: 'private' },
  });
  const id = ((await res.json()) as Json).id as string;
  const up = await s.request('PUT', `/v2/images/${id}/file`, {
    token: ownerToken,
    body: Buffer.alloc(2048),
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(up.status).toBe(204);
  return id;
}

const membersOf = async (id: string): Promise<Json[]> => {
  const res = await s.request('GET', `/v1/${ownerProject}/cloudimages/${id}/members`, { token: ownerToken });
  expect(res.status).toBe(200);
  return ((await res.json()) as { members: Json[] }).members;
};

describe(`ims image share by account (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('shares with an account through the batch job, waits for it, and takes it back', async () => {
    const created = await s.request('POST', '/v3/domains', { body: { domain: { name: 'cli-batch-acct' } } });
    const account = ((await created.json()) as { domain: { id: string } }).domain.id;
    const id = await activeImage('batch-shared');

    const shared = await owner.json<Json>([
      'image',
      'share',
      id,
      '--account',
      account,
      '--wait',
      '-o',
      'json',
    ]);
    expect(shared).toMatchObject({ members: [], job_id: expect.any(String) });
    expect(await membersOf(id)).toEqual([
      expect.objectContaining({ member_id: account, member_type: 'domain' }),
    ]);

    const unshared = await owner.json<Json>([
      'image',
      'unshare',
      id,
      '--account',
      account,
      '--wait',
      '-o',
      'json',
    ]);
    expect(unshared).toMatchObject({ id, removed: [], job_id: expect.any(String) });
    expect(await membersOf(id)).toEqual([]);
  });

  it('exits 5 when the batch job fails for the image, and 2 when nothing is named', async () => {
    const other = await s.request('POST', '/v3/domains', { body: { domain: { name: 'cli-batch-acct-2' } } });
    const account = ((await other.json()) as { domain: { id: string } }).domain.id;
    // Not active: IMS shares only active images, so the job reports this image failed.
    const res = await s.request('POST', '/v2/images', {
      token: ownerToken,
      body: { name: 'still-queued', visibility: 'private' },
    });
    const queued = ((await res.json()) as Json).id as string;
    const failed = await owner.run(['image', 'share', queued, '--account', account, '--wait']);
    expect(failed.code, failed.stderr).toBe(5);
    expect(failed.stderr).toMatch(/IMG\.0046|not active|active/i);
    const nothing = await owner.run(['image', 'share', queued]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/at least one PROJECT, --account or --organization/);
  });
});
