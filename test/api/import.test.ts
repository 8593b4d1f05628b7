import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);

// The web server web-download reaches: on 127.0.0.5, which the service's allow-list names.
// Every other loopback spelling (127.0.0.1 above all) stays forbidden.
const WEB_HOST = '127.0.0.5';
let web: http.Server;
let webBase = '';
let s: TestServer;
let owner: { token: string; projectId: string };
let stranger: { token: string; projectId: string };
let dir: string;
let qcow2: Buffer;
let backed: Buffer;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest('hex');

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-import-'));
  await run('qemu-img', ['create', '-f', 'qcow2', path.join(dir, 'small.qcow2'), '64M']);
  await run('qemu-img', [
    'create',
    '-f',
    'qcow2',
    '-b',
    '/etc/passwd',
    '-F',
    'raw',
    path.join(dir, 'backed.qcow2'),
    '64M',
  ]);
  qcow2 = await fs.readFile(path.join(dir, 'small.qcow2'));
  backed = await fs.readFile(path.join(dir, 'backed.qcow2'));
  web = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/small.qcow2')
      return res.writeHead(200, { 'content-length': qcow2.length }).end(qcow2);
    if (url.pathname === '/backed.qcow2') return res.end(backed);
    if (url.pathname === '/redirect-ok') return res.writeHead(302, { location: '/small.qcow2' }).end();
    if (url.pathname === '/redirect-loopback') {
      return res
        .writeHead(302, { location: `http://127.0.0.1:${(web.address() as AddressInfo).port}/small.qcow2` })
        .end();
    }
    if (url.pathname === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(0, WEB_HOST, r));
  webBase = `http://${WEB_HOST}:${(web.address() as AddressInfo).port}`;
  s = await startTestServer(
    { IMS_WEB_DOWNLOAD_ALLOW: WEB_HOST, IMS_MAX_VIRTUAL_SIZE: '1GiB' },
    { worker: true },
  );
  owner = await s.tokenFor('importers', 'ingrid', 'member');
  stranger = await s.tokenFor('others', 'oscar', 'member');
});
afterAll(async () => {
  await s?.close();
  await new Promise((r) => web?.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

const createImage = async (extra: Json = {}, token = owner.token) => {
  const res = await s.request('POST', '/v2/images', {
    token,
    body: { name: 'imp', disk_format: 'qcow2', container_format: 'bare', ...extra },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as Json).id as string;
};
const show = async (id: string, token = owner.token) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token })).json()) as Json;
const putData = (id: string, what: 'stage' | 'file', data: Buffer, headers: Record<string, string> = {}) =>
  fetch(`${s.url}/v2/images/${id}/${what}`, {
    method: 'PUT',
    headers: {
      'x-auth-token': owner.token,
      'content-type': 'application/octet-stream',
      accept: 'application/json',
      ...headers,
    },
    body: data,
  });
const startImport = (id: string, body: unknown, headers: Record<string, string> = {}, token = owner.token) =>
  s.request('POST', `/v2/images/${id}/import`, { token, body, headers });
/** Waits for the import task to end (the image leaves `importing`, or the stores stop being imported to). */
const settle = async (id: string): Promise<Json> => {
  for (let i = 0; i < 300; i++) {
    const img = await show(id);
    if (img.status !== 'importing' && !img.os_glance_importing_to_stores) return img;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`import of ${id} did not finish`);
};
/** The image's tasks once the newest has ended: the image is reverted just before its task is marked failed. */
const tasks = async (id: string): Promise<Json[]> => {
  for (let i = 0; ; i++) {
    const all = (
      (await (await s.request('GET', `/v2/images/${id}/tasks`, { token: owner.token })).json()) as Json
    ).tasks as Json[];
    if (i >= 100 || !['pending', 'processing'].includes(all[0]?.status)) return all;
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe(`Glance interoperable import (${TEST_DB})`, () => {
  it('advertises the import methods and the stores', async () => {
    const info = (await (await s.request('GET', '/v2/info/import', { token: owner.token })).json()) as Json;
    expect(info['import-methods'].value).toEqual(['glance-direct', 'web-download', 'copy-image']);
    expect(info.conversion_format).toBeUndefined();
    const stores = (await (await s.request('GET', '/v2/info/stores', { token: owner.token })).json()) as Json;
    expect(stores.stores).toEqual([{ id: 'default', description: expect.any(String), default: true }]);
  });

  it('stages, then imports with glance-direct: queued → uploading → importing → active', async () => {
    const id = await createImage();
    const staged = await putData(id, 'stage', qcow2);
    expect(staged.status).toBe(204);
    expect((await show(id)).status).toBe('uploading');
    const res = await startImport(id, { method: { name: 'glance-direct' } });
    expect(res.status).toBe(202);
    const img = await settle(id);
    expect(img.status).toBe('active');
    expect(img.checksum).toBe(md5(qcow2));
    expect(img.os_hash_value).toBe(sha512(qcow2));
    expect(img.size).toBe(qcow2.length);
    expect(img.virtual_size).toBe(64 * 1024 * 1024);
    expect(img.stores).toBe('default');
    expect(img.os_glance_failed_import).toBe('');
    expect(img.os_glance_importing_to_stores).toBe('');
    const [task] = await tasks(id);
    expect(task).toMatchObject({
      id: img.os_glance_import_task,
      type: 'api_image_import',
      status: 'success',
      image_id: id,
    });
    // Later metadata changes keep what the import recorded.
    const patched = await s.request('PATCH', `/v2/images/${id}`, {
      token: owner.token,
      body: [{ op: 'replace', path: '/name', value: 'renamed' }],
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
    });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as Json).os_glance_import_task).toBe(img.os_glance_import_task);
    // Clients cannot write the import's properties.
    const forged = await s.request('PATCH', `/v2/images/${id}`, {
      token: owner.token,
      body: [{ op: 'add', path: '/os_glance_failed_import', value: 'x' }],
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
    });
    expect(forged.status).toBe(403);
    // The staged blob became the image's: one object, downloadable.
    const down = await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': owner.token } });
    expect(md5(Buffer.from(await down.arrayBuffer()))).toBe(md5(qcow2));
  });

  it('refuses hostile staged data at once and keeps nothing', async () => {
    const before = await storedFiles(s.dataDir);
    const id = await createImage();
    const res = await putData(id, 'stage', backed);
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/backing-file/);
    expect((await show(id)).status).toBe('queued');
    expect(await storedFiles(s.dataDir)).toEqual(before);
    expect((await startImport(id, { method: { name: 'glance-direct' } })).status).toBe(409);
  });

  it('imports with web-download from an allowed server, redirects re-checked', async () => {
    for (const p of ['/small.qcow2', '/redirect-ok']) {
      const id = await createImage();
      const res = await startImport(id, { method: { name: 'web-download', uri: `${webBase}${p}` } });
      expect(res.status).toBe(202);
      const img = await settle(id);
      expect(img.status).toBe('active');
      expect(img.checksum).toBe(md5(qcow2));
    }
  });

  it('refuses web-download to private targets in every spelling, with nothing started', async () => {
    const port = (web.address() as AddressInfo).port;
    const targets = [
      `http://127.0.0.1:${port}/small.qcow2`,
      `http://127.1:${port}/small.qcow2`,
      `http://2130706433:${port}/small.qcow2`,
      `http://0177.0.0.1:${port}/small.qcow2`,
      `http://0x7f.0.0.1:${port}/small.qcow2`,
      `http://[::1]:${port}/small.qcow2`,
      `http://[::ffff:127.0.0.1]:${port}/small.qcow2`,
      `http://[::ffff:7f00:1]:${port}/small.qcow2`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.0.0.1/x',
      'http://192.168.1.1/x',
      'http://100.64.0.1/x',
      'http://0.0.0.0/x',
      'http://[fe80::1]/x',
      'http://[fd00::1]/x',
      `file:///etc/passwd`,
      `ftp://${WEB_HOST}/x`,
      `http://user:pw@${WEB_HOST}:${port}/small.qcow2`,
      'not a url',
    ];
    const id = await createImage();
    for (const uri of targets) {
      const res = await startImport(id, { method: { name: 'web-download', uri } });
      expect(res.status, uri).toBe(400);
      expect(((await res.json()) as Json).message ?? '', uri).toBeDefined();
    }
    const img = await show(id);
    expect(img.status).toBe('queued');
    expect(img.os_glance_import_task).toBeUndefined();
    expect(await tasks(id)).toEqual([]);
  });

  it('accepts names, then fails the task when one does not resolve or resolves to a private address, fetching nothing', async () => {
    // A listener where `localhost` leads: no request may arrive.
    let hits = 0;
    const trap = http.createServer((_req, res) => {
      hits++;
      res.end(qcow2);
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    try {
      const trapPort = (trap.address() as AddressInfo).port;
      const cases = [
        { uri: `http://localhost:${trapPort}/small.qcow2`, why: /loopback/ },
        { uri: `http://LocalHost.:${trapPort}/small.qcow2`, why: /loopback/ },
        // The host tempest's test_image_web_download_import_with_bad_url uses; .invalid never resolves.
        { uri: 'http://does-not.exist/no/possible/way', why: /could not be resolved/ },
        { uri: 'http://ims-test.invalid/x', why: /could not be resolved/ },
      ];
      for (const { uri, why } of cases) {
        const id = await createImage();
        const res = await startImport(id, { method: { name: 'web-download', uri } });
        expect(res.status, uri).toBe(202);
        const img = await settle(id);
        expect(img.status, uri).toBe('queued');
        expect(img.os_glance_failed_import, uri).toBe('default');
        expect(img.os_glance_importing_to_stores, uri).toBe('');
        const all = await tasks(id);
        expect(all.length, uri).toBe(1);
        expect(all[0]!.status, uri).toBe('failure');
        expect(all[0]!.message, uri).toMatch(why);
      }
      expect(hits).toBe(0);
    } finally {
      await new Promise((r) => trap.close(r));
    }
  });

  it('copy-image to all stores when the one store has the image: 202, no task, nothing left to copy', async () => {
    const id = await createImage();
    expect((await putData(id, 'file', qcow2)).status).toBe(204);
    const res = await startImport(id, {
      method: { name: 'copy-image' },
      all_stores: true,
      all_stores_must_succeed: false,
    });
    expect(res.status).toBe(202);
    expect(await show(id)).toMatchObject({
      status: 'active',
      stores: 'default',
      os_glance_importing_to_stores: '',
      os_glance_failed_import: '',
    });
    expect(await tasks(id)).toEqual([]);
    // Naming the store outright is a bad request, as in Glance.
    const named = await startImport(id, { method: { name: 'copy-image' }, stores: ['default'] });
    expect(named.status).toBe(400);
    // Another tenant cannot use the no-op path to touch the image.
    const other = await startImport(
      id,
      { method: { name: 'copy-image' }, all_stores: true },
      {},
      stranger.token,
    );
    expect(other.status).toBe(404);
  });

  it('fails the import when a redirect leads to a forbidden address: image back to queued, store named as failed', async () => {
    const id = await createImage();
    const res = await startImport(id, {
      method: { name: 'web-download', uri: `${webBase}/redirect-loopback` },
    });
    expect(res.status).toBe(202);
    const img = await settle(id);
    expect(img.status).toBe('queued');
    expect(img.os_glance_failed_import).toBe('default');
    const [task] = await tasks(id);
    expect(task!.status).toBe('failure');
    expect(task!.message).toMatch(/loopback/);
  });

  it('fails a web-download of hostile data, and one with a redirect loop', async () => {
    for (const p of ['/backed.qcow2', '/loop']) {
      const before = await storedFiles(s.dataDir);
      const id = await createImage();
      expect(
        (await startImport(id, { method: { name: 'web-download', uri: `${webBase}${p}` } })).status,
      ).toBe(202);
      const img = await settle(id);
      expect(img.status, p).toBe('queued');
      expect((await tasks(id))[0]!.message).toMatch(p === '/loop' ? /redirects/ : /backing-file/);
      expect(await storedFiles(s.dataDir)).toEqual(before);
    }
  });

  it('checks expected hashes declared as properties or headers, keeping nothing on a mismatch', async () => {
    const before = await storedFiles(s.dataDir);
    // Upload: property says sha256 of other bytes.
    const a = await createImage({ expected_os_hash_algo: 'sha256', expected_os_hash_value: sha256(backed) });
    const up = await putData(a, 'file', qcow2);
    expect(up.status).toBe(400);
    expect(await up.text()).toMatch(/sha256/);
    expect((await show(a)).status).toBe('queued');
    // Stage: header md5 wrong.
    const b = await createImage();
    const st = await putData(b, 'stage', qcow2, { 'x-image-meta-checksum': md5(backed) });
    expect(st.status).toBe(400);
    expect((await show(b)).status).toBe('queued');
    // web-download: header sha512 wrong → the task fails, image back to queued.
    const c = await createImage();
    const res = await startImport(
      c,
      { method: { name: 'web-download', uri: `${webBase}/small.qcow2` } },
      { 'x-image-meta-os-hash-algo': 'sha512', 'x-image-meta-os-hash-value': sha512(backed) },
    );
    expect(res.status).toBe(202);
    expect((await settle(c)).status).toBe('queued');
    expect((await tasks(c))[0]!.message).toMatch(/sha512/);
    expect(await storedFiles(s.dataDir)).toEqual(before);
    // Matching expectations pass, on every path.
    const d = await createImage({ expected_checksum: md5(qcow2) });
    expect(
      (
        await putData(d, 'file', qcow2, {
          'x-image-meta-os-hash-algo': 'sha256',
          'x-image-meta-os-hash-value': sha256(qcow2),
        })
      ).status,
    ).toBe(204);
    expect((await show(d)).status).toBe('active');
    const e = await createImage({ expected_os_hash_algo: 'sha256', expected_os_hash_value: sha256(qcow2) });
    expect((await putData(e, 'stage', qcow2)).status).toBe(204);
    expect(
      (await startImport(e, { method: { name: 'glance-direct' } }, { 'x-image-meta-checksum': md5(qcow2) }))
        .status,
    ).toBe(202);
    expect((await settle(e)).status).toBe('active');
    // Malformed expectations are a 400 before any byte is stored.
    const f = await createImage({ expected_os_hash_algo: 'crc32', expected_os_hash_value: 'abcd' });
    expect((await putData(f, 'file', qcow2)).status).toBe(400);
    const g = await createImage();
    expect((await putData(g, 'file', qcow2, { 'x-image-meta-checksum': 'xyz' })).status).toBe(400);
    expect((await putData(g, 'file', qcow2, { 'x-image-meta-os-hash-algo': 'sha512' })).status).toBe(400);
    expect((await show(g)).status).toBe('queued');
  });

  it('refuses malformed import requests and other tenants', async () => {
    const id = await createImage();
    for (const body of [
      {},
      { method: 'glance-direct' },
      { method: { name: 'swift-upload' } },
      { method: { name: 'web-download' } },
      { method: { name: 'web-download', uri: 42 } },
      { method: { name: 'glance-direct' }, stores: 'default' },
      { method: { name: 'glance-direct' }, stores: ['nowhere'] },
      { method: { name: 'glance-direct' }, all_stores: 'yes' },
      { method: { name: 'glance-direct' }, stores: ['default'], all_stores: true },
      [],
    ]) {
      const res = await startImport(id, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await startImport(id, 'not json', { 'content-type': 'application/json' })).status).toBe(400);
    expect((await startImport(id, { method: { name: 'glance-direct' } }, {}, stranger.token)).status).toBe(
      404,
    );
    expect((await s.request('GET', `/v2/images/${id}/tasks`, { token: stranger.token })).status).toBe(404);
    const st = await fetch(`${s.url}/v2/images/${id}/stage`, {
      method: 'PUT',
      headers: { 'x-auth-token': stranger.token, 'content-type': 'application/octet-stream' },
      body: qcow2,
    });
    expect(st.status).toBe(404);
    // copy-image needs an active image; glance-direct needs staged data.
    expect((await startImport(id, { method: { name: 'copy-image' }, stores: ['default'] })).status).toBe(409);
    expect((await startImport(id, { method: { name: 'glance-direct' } })).status).toBe(409);
    expect((await show(id)).status).toBe('queued');
  });

  it('deleting a staged image removes the staged data', async () => {
    const before = await storedFiles(s.dataDir);
    const id = await createImage();
    expect((await putData(id, 'stage', qcow2)).status).toBe(204);
    expect((await storedFiles(s.dataDir)).length).toBe(before.length + 1);
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: owner.token })).status).toBe(204);
    expect(await storedFiles(s.dataDir)).toEqual(before);
  });
});

describe(`web-download without an allow-list (${TEST_DB})`, () => {
  it('refuses the loopback server that the other service may reach', async () => {
    const plain = await startTestServer({}, { worker: true });
    try {
      const t = await plain.tokenFor('p', 'paula', 'member');
      const created = await plain.request('POST', '/v2/images', {
        token: t.token,
        body: { name: 'x', disk_format: 'qcow2', container_format: 'bare' },
      });
      const id = ((await created.json()) as Json).id as string;
      const res = await plain.request('POST', `/v2/images/${id}/import`, {
        token: t.token,
        body: { method: { name: 'web-download', uri: `${webBase}/small.qcow2` } },
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/loopback/);
    } finally {
      await plain.close();
    }
  });
});
