import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_PASSWORD,
  createTestDatabase,
  startTestServer,
  storedFiles,
  TEST_DB,
  type TestServer,
} from '../helpers/server.ts';

type Json = Record<string, unknown>;
type Caller = { token: string; projectId: string };
const MiB = 1024 * 1024;
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ IMS_DEFAULT_IMAGE_QUOTA: '4' });
});
afterAll(async () => s?.close());

const createImage = (server: TestServer | string, token: string, body: Json = {}) =>
  fetch(`${typeof server === 'string' ? server : server.url}/v2/images`, {
    method: 'POST',
    headers: { 'x-auth-token': token, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ name: 'q', disk_format: 'raw', container_format: 'bare', ...body }),
  });
const upload = (base: string, token: string, id: string, data: Buffer) =>
  fetch(`${base}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: {
      'x-auth-token': token,
      'content-type': 'application/octet-stream',
      accept: 'application/json',
    },
    body: data,
  });
const quotaOf = async (token: string, query = '') => {
  const res = await s.request('GET', `/v1/cloudimages/quota${query}`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as {
    quotas: { resources: { type: string; used: number; quota: number }[] };
  };
  return Object.fromEntries(body.quotas.resources.map((r) => [r.type, r]));
};
const setQuota = (body: unknown, token = s.adminToken) =>
  s.request('PUT', '/v1/cloudimages/quota', { token, body });
async function expectIms(res: Response, status: number, code: string): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe(code);
}
async function newIds(server: TestServer, who: Caller, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await createImage(server, who.token);
    expect(res.status).toBe(201);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

describe(`GET /v1/cloudimages/quota and the image count (${TEST_DB})`, () => {
  it('reports the IMS shape and counts the images a project owns, deleted ones not', async () => {
    const who = await s.tokenFor('q-count', 'quinn', 'member');
    expect(await quotaOf(who.token)).toEqual({
      image: { type: 'image', used: 0, quota: 4, min: 0, max: 1_000_000 },
      image_size_total: { type: 'image_size_total', used: 0, quota: -1, min: 0, max: 1024 ** 4 },
      image_shared: { type: 'image_shared', used: 0, quota: 4, min: 0, max: 1_000_000 },
      image_member: { type: 'image_member', used: 0, quota: 256, min: 256, max: 256 },
    });
    const ids = await newIds(s, who, 4);
    expect((await quotaOf(who.token)).image!.used).toBe(4);
    const over = await createImage(s, who.token);
    expect(over.status).toBe(413);
    expect(((await over.json()) as { message: string }).message).toMatch(/quota/i);
    expect((await s.request('DELETE', `/v2/images/${ids[0]}`, { token: who.token })).status).toBe(204);
    expect((await quotaOf(who.token)).image!.used).toBe(3);
    expect((await createImage(s, who.token)).status).toBe(201);
  });

  it('answers 20 concurrent creates with exactly the quota of images', async () => {
    const who = await s.tokenFor('q-race', 'rex', 'member');
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => createImage(s, who.token).then((r) => r.status)),
    );
    expect(statuses.filter((st) => st === 201)).toHaveLength(4);
    expect(statuses.filter((st) => st === 413)).toHaveLength(16);
    expect((await quotaOf(who.token)).image!.used).toBe(4);
  });

  it("counts images by owner: an admin creating for a project uses that project's quota", async () => {
    const who = await s.tokenFor('q-owner', 'olga', 'member');
    expect((await setQuota({ project_id: who.projectId, quotas: { image: 1 } })).status).toBe(200);
    expect((await createImage(s, s.adminToken, { owner: who.projectId })).status).toBe(201);
    expect((await createImage(s, who.token)).status).toBe(413);
  });
});

describe(`operators set quotas: PUT /v1/cloudimages/quota (${TEST_DB})`, () => {
  it("sets, reads back and resets a project's limits; admin only", async () => {
    const who = await s.tokenFor('q-admin', 'ada', 'member');
    const res = await setQuota({ project_id: who.projectId, quotas: { image: 10, image_size_total: 2048 } });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { quotas: { resources: unknown[] } }).quotas.resources).toEqual([
      expect.objectContaining({ type: 'image', quota: 10 }),
      expect.objectContaining({ type: 'image_size_total', quota: 2048 }),
      // The project's shared images are bounded by its image quota; members per image are fixed.
      expect.objectContaining({ type: 'image_shared', quota: 10 }),
      expect.objectContaining({ type: 'image_member', quota: 256 }),
    ]);
    expect((await quotaOf(who.token)).image!.quota).toBe(10);
    expect((await quotaOf(s.adminToken, `?project_id=${who.projectId}`)).image_size_total!.quota).toBe(2048);
    // -1 is unlimited, null returns to the default.
    await setQuota({ project_id: who.projectId, quotas: { image: -1 } });
    expect((await quotaOf(who.token)).image!.quota).toBe(-1);
    await setQuota({ project_id: who.projectId, quotas: { image: null, image_size_total: null } });
    expect(await quotaOf(who.token)).toMatchObject({ image: { quota: 4 }, image_size_total: { quota: -1 } });
  });

  it('refuses members, readers of other projects, unknown projects and wrong types', async () => {
    const who = await s.tokenFor('q-hostile', 'hal', 'member');
    const other = await s.tokenFor('q-hostile-2', 'olli', 'member');
    await expectIms(
      await setQuota({ project_id: who.projectId, quotas: { image: 1000 } }, who.token),
      403,
      'IMG.0026',
    );
    await expectIms(
      await s.request('GET', `/v1/cloudimages/quota?project_id=${other.projectId}`, { token: who.token }),
      403,
      'IMG.0026',
    );
    await expectIms(await setQuota({ project_id: 'no-such-project', quotas: { image: 1 } }), 404, 'IMG.0121');
    for (const quotas of [{ image: '10' }, { image: true }, { image: -5 }, { image: 1.5 }, { images: 3 }]) {
      await expectIms(await setQuota({ project_id: who.projectId, quotas }), 400, 'IMG.0001');
    }
    await expectIms(await setQuota(undefined), 400, 'IMG.0007');
    await expectIms(await setQuota([]), 400, 'IMG.0001');
    expect((await quotaOf(who.token)).image!.quota).toBe(4);
  });
});

describe(`the bytes quota on data arrival (${TEST_DB})`, () => {
  it('admits data up to image_size_total and refuses more, keeping nothing of the refused upload', async () => {
    const who = await s.tokenFor('q-bytes', 'bea', 'member');
    await setQuota({ project_id: who.projectId, quotas: { image: 10, image_size_total: 1 } });
    const [a, b, c] = await newIds(s, who, 3);
    expect((await upload(s.url, who.token, a!, Buffer.alloc(600 * 1024))).status).toBe(204);
    const before = await storedFiles(s.dataDir);
    const refused = await upload(s.url, who.token, b!, Buffer.alloc(600 * 1024));
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { message: string }).message).toContain('image_size_total');
    const shown = (await (await s.request('GET', `/v2/images/${b}`, { token: who.token })).json()) as Json;
    expect(shown.status).toBe('queued');
    expect(await storedFiles(s.dataDir)).toEqual(before);
    // What still fits is admitted, to the byte.
    expect((await upload(s.url, who.token, c!, Buffer.alloc(MiB - 600 * 1024))).status).toBe(204);
    expect((await quotaOf(who.token)).image_size_total!.used).toBe(1);
  });

  it('answers concurrent uploads with exactly what fits', async () => {
    const who = await s.tokenFor('q-bytes-race', 'bo', 'member');
    await setQuota({ project_id: who.projectId, quotas: { image: 10, image_size_total: 2 } });
    const ids = await newIds(s, who, 6);
    const statuses = await Promise.all(
      ids.map((id) => upload(s.url, who.token, id, Buffer.alloc(MiB)).then((r) => r.status)),
    );
    expect(statuses.filter((st) => st === 204)).toHaveLength(2);
    expect(statuses.filter((st) => st === 413)).toHaveLength(4);
  });
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** `ims serve --no-worker` as its own process on a shared database; resolves when it answers. */
async function serveProcess(env: Record<string, string>) {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-quota-'));
  const port = await freePort();
  const child = spawn(process.execPath, [path.resolve('bin/ims.js'), 'serve', '--no-worker'], {
    env: {
      ...process.env,
      IMS_FROM_SOURCE: '1',
      IMS_DATA_DIR: dataDir,
      IMS_PORT: String(port),
      IMS_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    child.kill('SIGKILL');
    await exited;
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`second server did not start:\n${out}`);
}

describe.runIf(TEST_DB === 'postgres')('two server processes on one PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let first: TestServer;
  let second: { url: string; stop: () => Promise<void> };
  beforeAll(async () => {
    db = await createTestDatabase();
    first = await startTestServer({ IMS_DEFAULT_IMAGE_QUOTA: '50' }, { databaseUrl: db.url });
    second = await serveProcess({
      IMS_DATABASE_URL: db.url,
      IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      IMS_DEFAULT_IMAGE_QUOTA: '50',
    });
  }, 120_000);
  afterAll(async () => {
    await second?.stop();
    await first?.close();
    await db?.drop();
  });

  it('admit exactly the quota of 20 concurrent creates split between them', async () => {
    const who = await first.tokenFor('q-two', 'tess', 'member');
    const set = await first.request('PUT', '/v1/cloudimages/quota', {
      body: { project_id: who.projectId, quotas: { image: 7 } },
    });
    expect(set.status).toBe(200);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        createImage(i % 2 ? second.url : first.url, who.token).then((r) => r.status),
      ),
    );
    expect(statuses.filter((st) => st === 201)).toHaveLength(7);
    expect(statuses.filter((st) => st === 413)).toHaveLength(13);
    const rows = await first.server.db.kysely
      .selectFrom('images')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('owner', '=', who.projectId)
      .where('deleted', '=', 0)
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(7);
  });

  it('admit exactly the bytes that fit from concurrent uploads to both', async () => {
    const who = await first.tokenFor('q-two-bytes', 'tom', 'member');
    await first.request('PUT', '/v1/cloudimages/quota', {
      body: { project_id: who.projectId, quotas: { image: 20, image_size_total: 3 } },
    });
    const ids = await newIds(first, who, 8);
    const statuses = await Promise.all(
      ids.map((id, i) =>
        upload(i % 2 ? second.url : first.url, who.token, id, Buffer.alloc(MiB)).then((r) => r.status),
      ),
    );
    expect(statuses.filter((st) => st === 204)).toHaveLength(3);
    expect(statuses.filter((st) => st === 413)).toHaveLength(5);
    const used = await first.request('GET', '/v1/cloudimages/quota', { token: who.token });
    const resources = ((await used.json()) as { quotas: { resources: { type: string; used: number }[] } })
      .quotas.resources;
    expect(resources.find((r) => r.type === 'image_size_total')!.used).toBe(3);
  });
});
