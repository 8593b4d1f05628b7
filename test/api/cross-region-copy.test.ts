import { randomBytes, createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { StoreRegistry } from '../../src/adapters/storage/store-registry.ts';
import { DEFAULT_STORE_NAME } from '../../src/config/config.ts';
import { crossRegionCopyHandler, peerImageId } from '../../src/services/jobs/cross-region-copy-handler.ts';
import { ADMIN_PASSWORD, startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { expectImsError, type Caller, type Json } from './ims-helpers.ts';

/**
 * Two deployments on loopback, RegionOne (here) and RegionTwo (there), as two regions of one
 * cloud: RegionOne trusts RegionTwo's service user under the agency `ims_trust`, and alice is
 * a user of the same account in both.
 */
let here: TestServer;
let there: TestServer;
let dir: string;
let alice: Caller;
let aliceThere: Caller;
let bob: Caller;

beforeAll(async () => {
  there = await startTestServer({ IMS_REGION: 'RegionTwo', IMS_DEFAULT_IMAGE_QUOTA: 'unlimited' });
  aliceThere = await there.tokenFor('far-project', 'alice', 'member');
  await there.tokenFor('far-project', 'rita', 'reader');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-peers-'));
  const peers = path.join(dir, 'peers.json');
  await fs.writeFile(
    peers,
    JSON.stringify({
      RegionTwo: {
        url: there.url,
        agency: 'ims_trust',
        auth: { user: 'admin', password: ADMIN_PASSWORD, domain: 'Default', project: 'admin' },
      },
    }),
  );
  here = await startTestServer(
    { IMS_PEER_REGIONS_FILE: peers, IMS_DEFAULT_IMAGE_QUOTA: 'unlimited' },
    { worker: true },
  );
  alice = await here.tokenFor('home-project', 'alice', 'member');
  bob = await here.tokenFor('home-project', 'bob', 'member');
}, 120_000);
afterAll(async () => {
  await here?.close();
  await there?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

async function imageWith(data: Buffer): Promise<string> {
  const res = await here.request('POST', '/v2/images', {
    token: alice.token,
    body: {
      name: 'home',
      disk_format: 'raw',
      container_format: 'bare',
      os_distro: 'debian',
      __os_version: 'Debian GNU/Linux 11.0.0 64bit',
      tags: ['blue'],
    },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const id = ((await res.json()) as Json).id as string;
  const tagged = await here.request('PUT', '/v1/cloudimages/tags', {
    token: alice.token,
    body: { image_id: id, image_tag: { key: 'env', value: 'prod' } },
  });
  expect(tagged.status).toBe(204);
  const up = await fetch(`${here.url}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': alice.token, 'content-type': 'application/octet-stream' },
    body: data,
  });
  expect(up.status, await up.clone().text()).toBe(204);
  return id;
}

const copyFar = (caller: Caller, id: string, body: Json) =>
  here.request('POST', `/v1/cloudimages/${id}/cross_region_copy`, { token: caller.token, body });

async function jobOf(caller: Caller, res: Response): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const jobId = (JSON.parse(text) as Json).job_id as string;
  for (let i = 0; i < 1200; i++) {
    const r = await here.request('GET', `/v1/${caller.projectId}/jobs/${jobId}`, { token: caller.token });
    const job = (await r.json()) as Json;
    if (job.status === 'SUCCESS' || job.status === 'FAIL') return job;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`job ${jobId} did not finish`);
}

/** Every image RegionTwo holds, whatever its status, as its admin sees them. */
async function imagesThere(): Promise<Json[]> {
  const res = await there.request('GET', '/v2/images?limit=1000');
  return ((await res.json()) as { images: Json[] }).images;
}

const farBody = (over: Json = {}) => ({
  name: 'far-copy',
  description: 'sent to RegionTwo',
  region: 'RegionTwo',
  project_name: 'far-project',
  agency_name: 'ims_trust',
  ...over,
});

describe(`cross-region copy between two deployments (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('makes the image in the target project there with the same bytes, properties and tags', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const id = await imageWith(data);
    const job = await jobOf(alice, await copyFar(alice, id, farBody()));
    expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
    expect(job.job_type).toBe('imsCopyImageCrossUserJob');
    expect(job.progress).toBe(100);
    const entities = job.entities as Json;
    expect(entities).toMatchObject({ region: 'RegionTwo', project_id: aliceThere.projectId });
    const farId = entities.image_id as string;
    expect(farId).not.toBe(id);

    const shown = await there.request('GET', `/v2/images/${farId}`, { token: aliceThere.token });
    expect(shown.status).toBe(200);
    const image = (await shown.json()) as Json;
    expect(image).toMatchObject({
      name: 'far-copy',
      status: 'active',
      owner: aliceThere.projectId,
      visibility: 'private',
      os_distro: 'debian',
      __os_version: 'Debian GNU/Linux 11.0.0 64bit',
      __description: 'sent to RegionTwo',
      size: data.length,
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    expect((image.tags as string[]).sort()).toEqual(['blue', 'env=prod']);
    const bytes = await fetch(`${there.url}/v2/images/${farId}/file`, {
      headers: { 'x-auth-token': aliceThere.token },
    });
    expect(Buffer.from(await bytes.arrayBuffer()).equals(data)).toBe(true);
    // The source is untouched.
    const source = await here.request('GET', `/v2/images/${id}`, { token: alice.token });
    expect(((await source.json()) as Json).status).toBe('active');
  });

  it('refuses what the request itself gets wrong, in the IMS dialect', async () => {
    const id = await imageWith(randomBytes(1024));
    await expectImsError(await copyFar(alice, id, farBody({ agency_name: 'someone_else' })), 400, 'IMG.0179');
    await expectImsError(await copyFar(alice, id, farBody({ region: 'RegionNowhere' })), 400, 'IMG.0001');
    await expectImsError(await copyFar(alice, id, farBody({ region: 'RegionOne' })), 400, 'IMG.0001');
    await expectImsError(await copyFar(alice, id, farBody({ project_name: 7 })), 400, 'IMG.0145');
    const { name: _name, ...nameless } = farBody();
    await expectImsError(await copyFar(alice, id, nameless), 400, 'IMG.0013');
    // Another tenant's private image does not exist for the caller.
    const stranger = await here.tokenFor('stranger-project', 'sam', 'member');
    await expectImsError(await copyFar(stranger, id, farBody()), 404, 'IMG.0027');
  });

  it('fails the job when the caller may not write in the target project, and leaves nothing there', async () => {
    const id = await imageWith(randomBytes(4096));
    const before = (await imagesThere()).length;
    // bob has no account there; rita is only a reader of the project.
    const job = await jobOf(bob, await copyFar(bob, id, farBody()));
    expect(job.status).toBe('FAIL');
    expect(job.error_code).toBe('IMG.0026');
    expect(String(job.fail_reason)).toContain('bob');
    const rita = await here.tokenFor('home-project', 'rita', 'member');
    const reader = await jobOf(rita, await copyFar(rita, id, farBody()));
    expect(reader).toMatchObject({ status: 'FAIL', error_code: 'IMG.0026' });
    const unknown = await jobOf(
      alice,
      await copyFar(alice, id, farBody({ project_name: 'no-such-project' })),
    );
    expect(unknown).toMatchObject({ status: 'FAIL', error_code: 'IMG.0145' });
    expect((await imagesThere()).length).toBe(before);
  });

  it('deletes its half-made image there when the target refuses the data (quota)', async () => {
    const id = await imageWith(randomBytes(3 * 1024 * 1024));
    const quota = await there.request('PUT', '/v1/cloudimages/quota', {
      body: { project_id: aliceThere.projectId, quotas: { image: -1, image_size_total: 1 } },
    });
    expect(quota.status, await quota.clone().text()).toBeLessThan(300);
    try {
      const before = (await imagesThere()).map((i) => i.id);
      const job = await jobOf(alice, await copyFar(alice, id, farBody({ name: 'too-big' })));
      expect(job.status, JSON.stringify(job)).toBe('FAIL');
      expect(job.error_code).toBe('IMG.0015');
      const after = (await imagesThere()).filter((i) => !before.includes(i.id));
      expect(after).toEqual([]);
    } finally {
      await there.request('PUT', '/v1/cloudimages/quota', {
        body: { project_id: aliceThere.projectId, quotas: { image: -1, image_size_total: -1 } },
      });
    }
  });
});

describe(`cross-region copy resumes after a cut (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('sends only the missing ranges on the next attempt, and the copy is whole', async () => {
    const MiB = 1024 * 1024;
    const data = randomBytes(5 * MiB + 123);
    const id = await imageWith(data);
    // A proxy in front of RegionTwo that cuts the third chunk of the first attempt half-way.
    let chunkBytes = 0;
    let chunks = 0;
    let cut = true;
    const proxy = http.createServer((req, res) => {
      const isChunk = req.method === 'PUT' && /\/upload-sessions\/[^/]+$/.test(req.url ?? '');
      const upstream = http.request(
        new URL(req.url ?? '/', there.url),
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      if (isChunk) chunks++;
      const cutThis = isChunk && cut && chunks === 3;
      let seen = 0;
      req.on('data', (d: Buffer) => {
        if (isChunk) chunkBytes += d.length;
        seen += d.length;
        if (cutThis && seen > MiB / 2) {
          upstream.destroy();
          req.destroy();
          res.destroy();
          return;
        }
        upstream.write(d);
      });
      req.on('end', () => upstream.end());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const peer = {
        region: 'RegionTwo',
        url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
        agency: 'ims_trust',
        auth: { user: 'admin', password: ADMIN_PASSWORD, domain: 'Default', project: 'admin' },
      };
      const handler = crossRegionCopyHandler({
        repos: new Repositories(here.server.db.kysely),
        stores: new StoreRegistry([[DEFAULT_STORE_NAME, here.server.store]]),
        peers: new Map([[peer.region, peer]]),
        chunkBytes: MiB,
      });
      const run = (attempt: number) =>
        handler(
          {
            id: `job-resume-${TEST_DB}`,
            projectId: alice.projectId,
            attempt,
            payload: {
              sourceId: id,
              region: 'RegionTwo',
              projectName: 'far-project',
              name: 'resumed',
              description: null,
              caller: { domainName: 'Default', userName: 'alice' },
            },
          },
          async () => {},
          new AbortController().signal,
        );
      await expect(run(1)).rejects.toMatchObject({ permanent: false });
      const firstAttempt = chunkBytes;
      expect(firstAttempt).toBeGreaterThan(2 * MiB);
      cut = false;
      chunkBytes = 0;
      const result = await run(2);
      // Two whole chunks went with the first attempt; the second sends the rest, not everything.
      expect(chunkBytes).toBe(data.length - 2 * MiB);
      expect(result.imageId).toBe(peerImageId(`job-resume-${TEST_DB}`, 1));
      const bytes = await fetch(`${there.url}/v2/images/${result.imageId}/file`, {
        headers: { 'x-auth-token': aliceThere.token },
      });
      expect(Buffer.from(await bytes.arrayBuffer()).equals(data)).toBe(true);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });
});
