import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let s: TestServer;
let user: { token: string; projectId: string };

beforeAll(async () => {
  s = await startTestServer();
  user = await s.tokenFor('proto', 'paula', 'member');
});
afterAll(async () => s?.close());

describe(`discovery, health and operations (${TEST_DB})`, () => {
  it('answers Glance version discovery at /, /versions and /v2 without a token', async () => {
    const root = await s.request('GET', '/', { token: null, headers: { accept: 'application/json' } });
    expect(root.status).toBe(300);
    const body = (await root.json()) as Json;
    expect(body.versions[0]).toMatchObject({
      id: 'v2.16',
      status: 'CURRENT',
      links: [{ rel: 'self', href: `${s.url}/v2/` }],
    });
    expect((await s.request('GET', '/versions', { token: null })).status).toBe(200);
    expect((await s.request('GET', '/v2', { token: null })).status).toBe(200);
  });

  it("answers IMS's ShowVersion (GET /{version}) with that one version, without a token", async () => {
    const v20 = await s.request('GET', '/v2.0', { token: null });
    expect(v20.status).toBe(300);
    expect(((await v20.json()) as Json).versions).toEqual([
      { id: 'v2.0', status: 'SUPPORTED', links: [{ rel: 'self', href: `${s.url}/v2/` }] },
    ]);
    const v1 = await s.request('GET', '/v1.0', { token: null });
    expect(v1.status).toBe(300);
    expect(((await v1.json()) as Json).versions).toEqual([
      { id: 'v1.0', status: 'DEPRECATED', links: [{ rel: 'self', href: `${s.url}/v1/` }] },
    ]);
    for (const p of ['/v9.9', '/nothing-here', '/v2.16x'])
      expect((await s.request('GET', p, { token: null })).status).toBe(404);
    expect((await s.request('GET', '/healthz', { token: null })).status).toBe(200);
    expect((await s.request('GET', '/versions', { token: null })).status).toBe(200);
  });

  it('serves the JSON schemas', async () => {
    for (const name of ['image', 'images', 'member', 'members']) {
      const res = await s.request('GET', `/v2/schemas/${name}`, { token: user.token });
      expect(res.status).toBe(200);
      expect(((await res.json()) as Json).name).toBe(name);
    }
  });

  it('reports health, metrics from loopback, and an OpenAPI document of the routes', async () => {
    const health = await s.request('GET', '/healthz', { token: null });
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: 'ok',
      checks: { database: { status: 'ok' }, storage: { status: 'ok' } },
    });
    await s.request('GET', '/v2/images', { token: user.token });
    const metrics = await (await s.request('GET', '/metrics', { token: null })).text();
    expect(metrics).toContain('ims_http_request_duration_seconds_bucket');
    expect(metrics).toMatch(/route="\/v2\/images"/);
    expect(metrics).toContain('ims_image_bytes_in_total');
    const openapi = (await (await s.request('GET', '/openapi.json', { token: null })).json()) as Json;
    expect(openapi.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/v2/images',
        '/v2/images/{image_id}',
        '/v2/images/{image_id}/file',
        '/v3/auth/tokens',
      ]),
    );
  });

  it('answers glanceclient (Accept: */*) with plain-text errors, as Glance does', async () => {
    const res = await s.request('GET', '/v2/images/00000000-0000-4000-8000-000000000000', {
      token: user.token,
      headers: { accept: '*/*' },
    });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toContain('404 Not Found');
    expect(text).toContain('No image found');
    expect(text).toContain(res.headers.get('x-openstack-request-id')!);
  });

  it('renders unknown routes as Glance 404s with the request id', async () => {
    const res = await s.request('GET', '/v2/nothing-here', { token: user.token });
    expect(res.status).toBe(404);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ code: '404 Not Found', title: 'Not Found' });
    expect(body.request_id).toBe(res.headers.get('x-openstack-request-id'));
    expect(res.headers.get('x-request-id')).toBe(body.request_id);
  });
});

describe(`hostile and odd requests (${TEST_DB})`, () => {
  const post = (body: string, type = 'application/json') =>
    s.request('POST', '/v2/images', { token: user.token, body, headers: { 'content-type': type } });

  it('refuses malformed JSON and wrong types with 400 naming the problem', async () => {
    let res = await post('{"name": ');
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).message).toContain('Malformed JSON');
    res = await post('[1,2]');
    expect(res.status).toBe(400);
    res = await post(JSON.stringify({ name: 42 }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).message).toContain("'name'");
    res = await post(JSON.stringify({ min_ram: -1 }));
    expect(((await res.json()) as Json).message).toContain("'min_ram'");
    res = await post(JSON.stringify({ disk_format: 'exe' }));
    expect(res.status).toBe(400);
    res = await post(JSON.stringify({ custom: { nested: true } }));
    expect(res.status).toBe(400);
    res = await post(JSON.stringify({ kernel_id: 'not-a-uuid' }));
    expect(res.status).toBe(400);
  });

  it('refuses read-only and reserved properties on create with 403', async () => {
    for (const [key, value] of [
      ['status', 'active'],
      ['size', 1],
      ['checksum', 'x'],
      ['os_hash_value', 'x'],
      ['created_at', '2020-01-01T00:00:00Z'],
      ['os_glance_importing_to_stores', 'x'],
      ['location', 'file:///etc/passwd'],
      ['deleted', true],
      ['__imagetype', 'gold'],
      ['self', '/x'],
      ['virtual_size', 5],
    ] as const) {
      const res = await post(JSON.stringify({ name: 'ro', [key]: value }));
      expect(res.status, key).toBe(403);
      expect(((await res.json()) as Json).message, key).toContain(key);
    }
  });

  it('refuses unsupported content types and oversized JSON bodies', async () => {
    expect((await post('name=x', 'application/x-www-form-urlencoded')).status).toBe(415);
    const huge = JSON.stringify({ name: 'big', blob: 'x'.repeat(11 * 1024 * 1024) });
    const res = await post(huge);
    expect(res.status).toBe(413);
  });

  it('accepts content types on requests without a body (Huawei SDK, glanceclient)', async () => {
    const created = (await (await post(JSON.stringify({ name: 'bodiless' }))).json()) as Json;
    for (const type of ['application/json', 'application/octet-stream', 'application/json;charset=UTF-8']) {
      const get = await s.request('GET', `/v2/images/${created.id}`, {
        token: user.token,
        headers: { 'content-type': type },
      });
      expect(get.status, type).toBe(200);
      const list = await s.request('GET', '/v2/images', {
        token: user.token,
        headers: { 'content-type': type },
      });
      expect(list.status, type).toBe(200);
    }
    const tag = await s.request('PUT', `/v2/images/${created.id}/tags/t`, {
      token: user.token,
      headers: { 'content-type': 'application/json' },
    });
    expect(tag.status).toBe(204);
    const del = await s.request('DELETE', `/v2/images/${created.id}`, {
      token: user.token,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(del.status).toBe(204);
    const created2 = (await (await post(JSON.stringify({ name: 'bodiless2' }))).json()) as Json;
    const del2 = await s.request('DELETE', `/v2/images/${created2.id}`, {
      token: user.token,
      headers: { 'content-type': 'application/json' },
    });
    expect(del2.status).toBe(204);
  });

  it('treats a 2 GiB declared upload cut after 1 MiB as nothing: queued again, no stored leftovers', async () => {
    const created = (await (
      await post(JSON.stringify({ name: 'cut', disk_format: 'raw', container_format: 'bare' }))
    ).json()) as Json;
    const before = await storedFiles(s.dataDir);
    const socket = net.connect(Number(new URL(s.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `PUT /v2/images/${created.id}/file HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${user.token}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Length: ${2 * 1024 ** 3}\r\n\r\n`,
    );
    socket.write(randomBytes(1024 * 1024));
    // the image is saving while bytes arrive...
    let status = '';
    for (let i = 0; i < 50 && status !== 'saving'; i++) {
      status = (
        (await (await s.request('GET', `/v2/images/${created.id}`, { token: user.token })).json()) as Json
      ).status;
      if (status !== 'saving') await new Promise((r) => setTimeout(r, 20));
    }
    expect(status).toBe('saving');
    socket.destroy();
    for (let i = 0; i < 100 && status !== 'queued'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (
        (await (await s.request('GET', `/v2/images/${created.id}`, { token: user.token })).json()) as Json
      ).status;
    }
    expect(status).toBe('queued');
    expect(await storedFiles(s.dataDir)).toEqual(before);
  });

  it("refuses another project's token on this project's image as not found", async () => {
    const created = (await (
      await post(JSON.stringify({ name: 'mine', visibility: 'private' }))
    ).json()) as Json;
    const other = await s.tokenFor('proto-other', 'oscar', 'admin');
    void other;
    const stranger = await s.tokenFor('proto-stranger', 'sam', 'member');
    const res = await s.request('GET', `/v2/images/${created.id}/file`, { token: stranger.token });
    expect(res.status).toBe(404);
  });
});
