/**
 * AK/SK access keys end to end: keys issued through the Huawei IAM credential
 * API, then requests signed by the real Huawei SDK core against the running server.
 */
import fs from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sdkCall, sdkClient, type HcClient } from '../helpers/huawei-sdk.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
let home: string;
let savedHome: string | undefined;
let user: { token: string; projectId: string; userId: string };
let ak: string;
let sk: string;

beforeAll(async () => {
  savedHome = process.env.HOME;
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-sdk-home-'));
  process.env.HOME = home;
  s = await startTestServer();
  user = await s.tokenFor('sdk-project', 'sdk-user', 'member');
  const res = await s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', {
    token: user.token,
    body: { credential: { user_id: user.userId, description: 'ci key' } },
  });
  expect(res.status).toBe(201);
  const body = ((await res.json()) as Json).credential;
  ak = body.access;
  sk = body.secret;
});

afterAll(async () => {
  await s?.close();
  process.env.HOME = savedHome;
  await fs.rm(home, { recursive: true, force: true });
});

function sdk(options: { ak?: string; sk?: string; projectId?: string; endpoint?: string } = {}): HcClient {
  return sdkClient(
    options.endpoint ?? s.url,
    options.ak ?? ak,
    options.sk ?? sk,
    options.projectId ?? user.projectId,
  );
}

describe(`Huawei IAM access keys (${TEST_DB})`, () => {
  it('shows the secret once, lists keys without it, and keeps other users out', async () => {
    expect(ak).toMatch(/^[A-Z0-9]{20}$/);
    expect(sk).toHaveLength(40);
    const list = (await (
      await s.request('GET', '/v3.0/OS-CREDENTIAL/credentials', { token: user.token })
    ).json()) as Json;
    expect(list.credentials).toHaveLength(1);
    expect(list.credentials[0]).toMatchObject({
      access: ak,
      status: 'active',
      user_id: user.userId,
      description: 'ci key',
    });
    expect(JSON.stringify(list)).not.toContain(sk);
    const other = await s.tokenFor('sdk-other', 'sdk-other-user', 'member');
    expect(
      (await s.request('GET', `/v3.0/OS-CREDENTIAL/credentials/${ak}`, { token: other.token })).status,
    ).toBe(404);
    expect(
      (await s.request('DELETE', `/v3.0/OS-CREDENTIAL/credentials/${ak}`, { token: other.token })).status,
    ).toBe(404);
    const forOther = await s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', {
      token: other.token,
      body: { credential: { user_id: user.userId } },
    });
    expect(forOther.status).toBe(403);
    // the stored secret is sealed, never in clear
    const stored = JSON.stringify(await s.server.db.kysely.selectFrom('access_keys').selectAll().execute());
    expect(stored).not.toContain(sk);
  });

  it('limits a user to two keys', async () => {
    const u = await s.tokenFor('sdk-limit', 'sdk-limit-user', 'member');
    const create = () =>
      s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', { token: u.token, body: { credential: {} } });
    expect((await create()).status).toBe(201);
    expect((await create()).status).toBe(201);
    expect((await create()).status).toBe(409);
  });
});

describe(`requests signed by the Huawei SDK core (${TEST_DB})`, () => {
  it("finds its project by name as the SDK's IAM lookup does (GET /v3/projects, signed, no project id)", async () => {
    // IamService.getProjectId: GET /v3/projects?name=<region id> signed with the AK/SK, expecting one project.
    const client = sdkClient(s.url, ak, sk);
    const found = await sdkCall(client, { url: '/v3/projects', queryParams: { name: 'sdk-project' } });
    expect(found.status).toBe(200);
    expect(found.body.projects.map((p: Json) => p.id)).toEqual([user.projectId]);
    // Only the key owner's projects: the admin project exists but is not listed.
    const all = await sdkCall(client, { url: '/v3/projects' });
    expect(all.body.projects.map((p: Json) => p.id)).toEqual([user.projectId]);
    expect(
      (await sdkCall(client, { url: '/v3/projects', queryParams: { name: 'admin' } })).body.projects,
    ).toEqual([]);
    // With a token the same member is refused, as Keystone refuses list_projects to non-admins.
    expect((await s.request('GET', '/v3/projects?name=sdk-project', { token: user.token })).status).toBe(403);
    // A bad signature is a 401 in the Huawei shape; other identity routes still refuse signatures.
    const bad = await sdkCall(sdkClient(s.url, ak, 'x'.repeat(40)), { url: '/v3/projects' });
    expect(bad.status).toBe(401);
    expect((await sdkCall(client, { url: '/v3/users' })).status).toBe(401);
  });

  it('lists, creates, shows, patches and deletes images', async () => {
    const client = sdk();
    const created = await sdkCall(client, {
      method: 'POST',
      url: '/v2/images',
      data: { name: '镜像-sdk', disk_format: 'qcow2', container_format: 'bare' },
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body.owner).toBe(user.projectId);
    const list = await sdkCall(client, { url: '/v2/images', queryParams: { name: '镜像-sdk', limit: 10 } });
    expect(list.status).toBe(200);
    expect(list.body.images.map((i: Json) => i.id)).toEqual([id]);
    const shown = await sdkCall(client, { url: '/v2/images/{image_id}', pathParams: { image_id: id } });
    expect(shown.body.name).toBe('镜像-sdk');
    const patched = await sdkCall(client, {
      method: 'PATCH',
      url: '/v2/images/{image_id}',
      pathParams: { image_id: id },
      contentType: 'application/openstack-images-v2.1-json-patch',
      data: [{ op: 'add', path: '/os_distro', value: 'ubuntu' }],
    });
    expect(patched.status).toBe(200);
    expect(patched.body.os_distro).toBe('ubuntu');
    const tagged = await sdkCall(client, {
      method: 'PUT',
      url: '/v2/images/{image_id}/tags/{tag}',
      pathParams: { image_id: id, tag: 'web server' },
    });
    expect(tagged.status).toBe(204);
    const deleted = await sdkCall(client, {
      method: 'DELETE',
      url: '/v2/images/{image_id}',
      pathParams: { image_id: id },
    });
    expect(deleted.status).toBe(204);
  });

  it('refuses a wrong secret, an unknown key and an inactive key with 401 in the Huawei shape', async () => {
    let res = await sdkCall(sdk({ sk: sk.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a')) }), {
      url: '/v2/images',
    });
    expect(res.status).toBe(401);
    expect(res.body.errorCode).toBe('APIGW.0301');
    res = await sdkCall(sdk({ ak: 'AAAAAAAAAAAAAAAAAAAA' }), { url: '/v2/images' });
    expect(res.status).toBe(401);
    const u = await s.tokenFor('sdk-inactive', 'sdk-inactive-user', 'member');
    const key = (
      (await (
        await s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', {
          token: u.token,
          body: { credential: {} },
        })
      ).json()) as Json
    ).credential;
    expect(
      (await sdkCall(sdk({ ak: key.access, sk: key.secret, projectId: u.projectId }), { url: '/v2/images' }))
        .status,
    ).toBe(200);
    const off = await s.request('PUT', `/v3.0/OS-CREDENTIAL/credentials/${key.access}`, {
      token: u.token,
      body: { credential: { status: 'inactive' } },
    });
    expect(((await off.json()) as Json).credential.status).toBe('inactive');
    expect(
      (await sdkCall(sdk({ ak: key.access, sk: key.secret, projectId: u.projectId }), { url: '/v2/images' }))
        .status,
    ).toBe(401);
  });

  it("refuses an X-Project-Id outside the key owner's account or roles with 403", async () => {
    const stranger = await s.tokenFor('sdk-stranger-project', 'sdk-stranger', 'member');
    const res = await sdkCall(sdk({ projectId: stranger.projectId }), { url: '/v2/images' });
    expect(res.status).toBe(403);
    expect(res.body.errorCode).toMatch(/^IMG\./);
  });

  it('refuses a date 16 minutes off and accepts one 14 minutes off', async () => {
    const at = (minutes: number) =>
      new Date(Date.now() + minutes * 60_000)
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z');
    expect((await sdkCall(sdk(), { url: '/v2/images', headers: { 'X-Sdk-Date': at(-14) } })).status).toBe(
      200,
    );
    expect((await sdkCall(sdk(), { url: '/v2/images', headers: { 'X-Sdk-Date': at(-16) } })).status).toBe(
      401,
    );
    expect((await sdkCall(sdk(), { url: '/v2/images', headers: { 'X-Sdk-Date': at(16) } })).status).toBe(401);
  });

  describe('a captured signed request', () => {
    interface Captured {
      method: string;
      url: string;
      headers: IncomingHttpHeaders;
      body: Buffer;
    }
    let captured: Captured;

    beforeAll(async () => {
      // Record what the SDK sends, then replay it to IMS as is and with one byte changed.
      const recorder = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          captured = {
            method: req.method!,
            url: req.url!,
            headers: req.headers,
            body: Buffer.concat(chunks),
          };
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
      const port = (recorder.address() as AddressInfo).port;
      await sdkCall(sdk({ endpoint: `http://127.0.0.1:${port}` }), {
        method: 'POST',
        url: '/v2/images',
        queryParams: { marker: 'x y' },
        data: { name: 'replayed', min_disk: 1 },
      });
      recorder.closeAllConnections();
      await new Promise((r) => recorder.close(r));
      // the recorder saw its own host; IMS must see the same signed host value
    });

    const replay = async (change: (c: Captured) => Captured) => {
      const c = change({ ...captured, headers: { ...captured.headers } });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(c.headers))
        if (typeof v === 'string' && k !== 'content-length') headers[k] = v;
      const res = await fetch(`${s.url}${c.url}`, { method: c.method, headers, body: c.body });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Json };
    };

    it('is refused with 401 when any signed part changes by one byte', async () => {
      const flip = (text: string, at: number) =>
        text.slice(0, at) + (text[at] === 'a' ? 'b' : 'a') + text.slice(at + 1);
      const cases: [string, (c: Captured) => Captured][] = [
        ['path', (c) => ({ ...c, url: c.url.replace('/v2/images', '/v2/imagez') })],
        ['query', (c) => ({ ...c, url: c.url.replace('marker=x', 'marker=y') })],
        [
          'signed header',
          (c) => ({
            ...c,
            headers: { ...c.headers, 'x-project-id': flip(c.headers['x-project-id'] as string, 0) },
          }),
        ],
        [
          'body',
          (c) => ({ ...c, body: Buffer.from(c.body.toString().replace('"min_disk":1', '"min_disk":2')) }),
        ],
        ['method', (c) => ({ ...c, method: 'PUT' })],
      ];
      for (const [label, change] of cases) {
        const res = await replay(change);
        expect(res.status, label).toBe(401);
        expect(res.body.error_code, label).toBe('APIGW.0301');
        expect(res.body.error_msg, label).toContain('authentication');
        expect(res.body.request_id, label).toMatch(/^req-/);
      }
      // nothing was created by the refused requests
      const list = await sdkCall(sdk(), { url: '/v2/images', queryParams: { name: 'replayed' } });
      expect(list.body.images).toEqual([]);
    });
  });
});
