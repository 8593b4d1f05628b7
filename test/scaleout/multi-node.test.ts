/**
 * Issue 7 item 3 and issue 5's process tests: a deployment of 2 API processes
 * (`ims serve --no-worker`) and 2 workers (`ims worker`) on one PostgreSQL
 * database and the S3 store. Part of the S3 suite (IMS_TEST_STORE=s3, as CI
 * runs it); always on PostgreSQL, which many nodes need. Uses dist/ when it is
 * fresh (`npm run build`), the sources otherwise.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/adapters/storage/s3-blob-store.ts';
import { IMAGE_IMPORT } from '../../src/services/import-kinds.ts';
import { createMember, type TestMember } from '../helpers/keystone-users.ts';
import {
  asTestServer,
  client,
  login,
  poll,
  startApi,
  startWorker,
  type ImsProcess,
} from '../helpers/processes.ts';
import { emptyTestStore, s3StoreOptions, s3TestEnv, s3TestServer } from '../helpers/s3.ts';
import { ADMIN_PASSWORD, createTestDatabase, TEST_STORE } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);
const MiB = 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
// The web server web-download reaches; only this loopback address is allowed.
const WEB_HOST = '127.0.0.6';

const s3 = TEST_STORE === 's3' ? s3TestServer() : null;

describe.runIf(s3)('2 API nodes and 2 workers on PostgreSQL and S3', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let sql: pg.Client;
  let store: S3BlobStore;
  let env: Record<string, string>;
  let api: Array<ImsProcess & { url: string }> = [];
  let workers: ImsProcess[] = [];
  let adminToken: string;
  let alice: TestMember;
  let bob: TestMember;
  let dir: string;
  let web: http.Server;
  let raw: Buffer;

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
    const s3env = await s3TestEnv();
    store = new S3BlobStore(s3StoreOptions(s3!, { keyPrefix: s3env.IMS_S3_KEY_PREFIX! }));
    env = {
      ...s3env,
      IMS_DATABASE_URL: database.url,
      IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // Every node seals secrets with the same key.
      IMS_MASTER_KEY: randomBytes(32).toString('base64'),
      // A dead worker's job is taken again after 4 s rather than 30.
      IMS_LEASE: '4s',
      IMS_CONVERT_TO: 'raw',
      IMS_WEB_DOWNLOAD_ALLOW: WEB_HOST,
      IMS_AUTH_FAILURE_LIMIT: '4/1h',
      IMS_TRUSTED_PROXIES: '127.0.0.1',
    };
    // The image the import converts: random data, so that nothing is sparse and conversion takes a while.
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-multinode-'));
    raw = randomBytes(96 * MiB);
    await fs.writeFile(path.join(dir, 'disk.raw'), raw);
    await run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'qcow2',
      path.join(dir, 'disk.raw'),
      path.join(dir, 'disk.qcow2'),
    ]);
    web = http.createServer((req, res) => {
      void fs.stat(path.join(dir, 'disk.qcow2')).then((st) => {
        res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
        createReadStream(path.join(dir, 'disk.qcow2')).pipe(res);
      });
    });
    await new Promise<void>((r) => web.listen(0, WEB_HOST, r));

    // The first node migrates the fresh database; the others start on it together.
    api.push(await startApi(env));
    const [second, w1, w2] = await Promise.all([startApi(env), startWorker(env), startWorker(env)]);
    api.push(second);
    workers = [w1, w2];
    const res = await login(api[0]!.url, 'admin', 'admin');
    expect(res.status).toBe(201);
    adminToken = res.headers.get('x-subject-token')!;
    alice = await createMember(asTestServer(api[0]!.url, adminToken), 'alice');
    bob = await createMember(asTestServer(api[1]!.url, adminToken), 'bob');
  }, 240_000);

  afterAll(async () => {
    for (const p of [...api, ...workers]) await p.kill();
    for (const p of [...api, ...workers]) await fs.rm(p.dataDir, { recursive: true, force: true });
    api = [];
    workers = [];
    await new Promise((r) => web?.close(r));
    await sql?.end();
    await database?.drop();
    if (store) {
      await emptyTestStore(store);
      store.client.destroy();
    }
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  }, 60_000);

  const node = (i: number, member: TestMember) => client(api[i]!.url, member.token);

  async function createImage(i: number, member: TestMember, body: Json = {}): Promise<string> {
    const res = await node(i, member)('POST', '/v2/images', {
      body: { name: 'mn', disk_format: 'raw', container_format: 'bare', ...body },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    return ((await res.json()) as Json).id as string;
  }

  async function download(i: number, member: TestMember, id: string): Promise<Buffer> {
    const res = await node(i, member)('GET', `/v2/images/${id}/file`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }

  async function job(i: number, member: TestMember, jobId: string): Promise<Json> {
    const res = await node(i, member)('GET', `/v1/${member.project.id}/jobs/${jobId}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Json;
  }

  const finished = (i: number, member: TestMember, jobId: string) =>
    poll(async () => {
      const j = await job(i, member, jobId);
      return j.status === 'SUCCESS' || j.status === 'FAIL' ? j : undefined;
    }, 150_000);

  it('uploads through either node and reads back the same bytes through the other', async () => {
    const datas = [randomBytes(3 * MiB + 17), randomBytes(2 * MiB + 5)];
    const ids: string[] = [];
    for (const [i, data] of datas.entries()) {
      const id = await createImage(i, alice);
      const put = await node(i, alice)('PUT', `/v2/images/${id}/file`, { body: data });
      expect(put.status).toBe(204);
      ids.push(id);
    }
    for (const [i, id] of ids.entries()) {
      const other = 1 - i;
      expect(sha256(await download(other, alice, id))).toBe(sha256(datas[i]!));
      const shown = (await (await node(other, alice)('GET', `/v2/images/${id}`)).json()) as Json;
      expect(shown).toMatchObject({ status: 'active', size: datas[i]!.length });
    }
  });

  it('refuses on one node at once a token revoked on the other', async () => {
    const res = await login(api[0]!.url, 'admin', 'admin');
    const token = res.headers.get('x-subject-token')!;
    expect((await client(api[1]!.url, token)('GET', '/v2/images')).status).toBe(200);
    const revoked = await client(api[0]!.url, token)('DELETE', '/v3/auth/tokens', {
      headers: { 'x-subject-token': token },
    });
    expect(revoked.status).toBe(204);
    expect((await client(api[1]!.url, token)('GET', '/v2/images')).status).toBe(401);
  });

  it('counts failed logins of one address on both nodes against one limit', async () => {
    const from = { 'x-forwarded-for': '203.0.113.77' };
    // 4 allowed per hour: 2 on each node. A per-process count would still let the 5th in.
    for (let i = 0; i < 4; i++)
      expect((await login(api[i % 2]!.url, 'admin', 'admin', 'wrong', from)).status).toBe(401);
    for (const n of api) {
      const blocked = await login(n.url, 'admin', 'admin', ADMIN_PASSWORD, from);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(3000);
    }
    expect(
      (await login(api[1]!.url, 'admin', 'admin', ADMIN_PASSWORD, { 'x-forwarded-for': '203.0.113.78' }))
        .status,
    ).toBe(201);
  });

  it('admits exactly the quota from 20 concurrent creates split between the two API processes', async () => {
    const carol = await createMember(asTestServer(api[0]!.url, adminToken), 'carol');
    const set = await client(api[1]!.url, adminToken)('PUT', '/v1/cloudimages/quota', {
      body: { project_id: carol.project.id, quotas: { image: 7 } },
    });
    expect(set.status).toBe(200);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        node(i % 2, carol)('POST', '/v2/images', {
          body: { name: `q${i}`, disk_format: 'raw', container_format: 'bare' },
        }).then((r) => r.status),
      ),
    );
    expect(statuses.filter((st) => st === 201)).toHaveLength(7);
    expect(statuses.filter((st) => st === 413)).toHaveLength(13);
    const { rows } = await sql.query<{ n: string }>(
      'select count(*) as n from images where owner = $1 and deleted = 0',
      [carol.project.id],
    );
    expect(Number(rows[0]!.n)).toBe(7);
  });

  it('shares through one node, accepts and downloads through the other; copies with IMS on the workers', async () => {
    const data = randomBytes(MiB + 3);
    const id = await createImage(0, alice, { name: 'shared-one' });
    expect((await node(0, alice)('PUT', `/v2/images/${id}/file`, { body: data })).status).toBe(204);
    const added = await node(0, alice)('POST', `/v2/images/${id}/members`, {
      body: { member: bob.project.id },
    });
    expect(added.status).toBe(200);
    const accepted = await node(1, bob)('PUT', `/v2/images/${id}/members/${bob.project.id}`, {
      body: { status: 'accepted' },
    });
    expect(accepted.status).toBe(200);
    const listed = (await (await node(0, bob)('GET', '/v2/images?visibility=shared')).json()) as Json;
    expect((listed.images as Json[]).map((im) => im.id)).toContain(id);
    expect(sha256(await download(0, bob, id))).toBe(sha256(data));

    const copy = await node(1, alice)('POST', `/v1/cloudimages/${id}/copy`, { body: { name: 'copied' } });
    expect(copy.status, await copy.clone().text()).toBe(200);
    const { job_id: jobId } = (await copy.json()) as Json;
    const done = await finished(0, alice, jobId as string);
    expect(done).toMatchObject({ status: 'SUCCESS' });
    const copyId = (done.entities as Json).image_id as string;
    expect(copyId).not.toBe(id);
    expect(sha256(await download(0, alice, copyId))).toBe(sha256(data));
    // The copy is the owner's own: not shared with bob.
    expect((await node(1, bob)('GET', `/v2/images/${copyId}`)).status).toBe(404);
  });

  it('finishes on the other worker an import whose worker was killed mid-conversion (attempts = 2, same bytes)', async () => {
    const id = await createImage(0, alice, { name: 'converted', disk_format: 'qcow2' });
    const { port } = web.address() as { port: number };
    const started = await node(1, alice)('POST', `/v2/images/${id}/import`, {
      body: { method: { name: 'web-download', uri: `http://${WEB_HOST}:${port}/disk.qcow2` } },
    });
    expect(started.status, await started.clone().text()).toBe(202);
    const jobId = (
      await sql.query<{ id: string }>('select id from jobs where kind = $1 and payload like $2', [
        IMAGE_IMPORT.name,
        `%${id}%`,
      ])
    ).rows[0]?.id;
    expect(jobId).toBeTruthy();

    // Downloaded (30 %) and not yet placed (90 %): the conversion is running.
    const owner = await poll(
      async () => {
        const { rows } = await sql.query<{ status: string; progress: number; lease_owner: string | null }>(
          'select status, progress, lease_owner from jobs where id = $1',
          [jobId],
        );
        const r = rows[0]!;
        if (r.status !== 'RUNNING' && r.status !== 'INIT')
          throw new Error(`the job ended (${r.status}) before the worker could be killed`);
        return r.status === 'RUNNING' && r.progress >= 30 && r.progress < 90 ? r.lease_owner! : undefined;
      },
      150_000,
      25,
    );
    const pid = Number(owner.split(':')[1]);
    const victim = workers.find((w) => w.pid === pid);
    expect(victim, `lease owner ${owner}`).toBeTruthy();
    await victim!.kill();

    const done = await finished(1, alice, jobId!);
    expect(done, JSON.stringify(done)).toMatchObject({ status: 'SUCCESS' });
    const { rows } = await sql.query<{ attempts: number; lease_owner: string }>(
      'select attempts, lease_owner from jobs where id = $1',
      [jobId],
    );
    expect(rows[0]!.attempts).toBe(2);
    expect(Number(rows[0]!.lease_owner.split(':')[1])).not.toBe(pid);
    const image = (await (await node(0, alice)('GET', `/v2/images/${id}`)).json()) as Json;
    expect(image).toMatchObject({ status: 'active', disk_format: 'raw', size: raw.length });
    expect(sha256(await download(0, alice, id))).toBe(sha256(raw));
    // Nothing of the first run is left over: the store holds exactly the objects the blobs table names.
    const { rows: blobs } = await sql.query<{ store_key: string }>('select store_key from blobs');
    const keys: string[] = [];
    for await (const o of store.list('images/')) keys.push(o.key);
    expect(keys.sort()).toEqual(blobs.map((b) => b.store_key).sort());
  }, 200_000);
});
