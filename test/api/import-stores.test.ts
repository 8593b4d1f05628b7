import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

const WEB_HOST = '127.0.0.6';
let web: http.Server;
let webBase = '';
let s: TestServer;
let owner: { token: string; projectId: string };
let dir: string;
let qcow2: Buffer;
/** The guest data of qcow2, as qemu-img converts it to raw. */
let raw: Buffer;
let zvhd: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-import-stores-'));
  const src = path.join(dir, 'data.raw');
  // Some data at the start and in the middle, holes elsewhere.
  const data = Buffer.alloc(8 * 1024 * 1024);
  createHash('sha512').update('seed').digest().copy(data, 0);
  data.fill(0x5a, 3 * 1024 * 1024, 3 * 1024 * 1024 + 70_000);
  await fs.writeFile(src, data);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', src, path.join(dir, 'data.qcow2')]);
  qcow2 = await fs.readFile(path.join(dir, 'data.qcow2'));
  raw = data;
  zvhd = Buffer.from(createHash('sha512').update('opaque').digest('hex').repeat(64));
  web = http.createServer((req, res) => {
    if (req.url === '/data.qcow2') return res.end(qcow2);
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(0, WEB_HOST, r));
  webBase = `http://${WEB_HOST}:${(web.address() as AddressInfo).port}`;
  s = await startTestServer(
    { IMS_STORES: 'fast:file,bulk:file', IMS_CONVERT_TO: 'raw', IMS_WEB_DOWNLOAD_ALLOW: `${WEB_HOST}/32` },
    { worker: true },
  );
  owner = await s.tokenFor('multistore', 'mona', 'member');
});
afterAll(async () => {
  await s?.close();
  await new Promise((r) => web?.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

const createImage = async (diskFormat = 'qcow2') => {
  const res = await s.request('POST', '/v2/images', {
    token: owner.token,
    body: { name: 'ms', disk_format: diskFormat, container_format: 'bare' },
  });
  return ((await res.json()) as Json).id as string;
};
const show = async (id: string) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token: owner.token })).json()) as Json;
const putData = (id: string, what: 'stage' | 'file', data: Buffer) =>
  fetch(`${s.url}/v2/images/${id}/${what}`, {
    method: 'PUT',
    headers: {
      'x-auth-token': owner.token,
      'content-type': 'application/octet-stream',
      accept: 'application/json',
    },
    body: data,
  });
const startImport = (id: string, body: unknown) =>
  s.request('POST', `/v2/images/${id}/import`, { token: owner.token, body });
const settle = async (id: string): Promise<Json> => {
  for (let i = 0; i < 300; i++) {
    const img = await show(id);
    if (img.status !== 'importing' && !img.os_glance_importing_to_stores) return img;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`import of ${id} did not finish`);
};
/** The image's tasks once the newest has ended: the image is reverted just before its task is marked failed. */
const tasksOf = async (id: string): Promise<Json[]> => {
  for (let i = 0; ; i++) {
    const all = (
      (await (await s.request('GET', `/v2/images/${id}/tasks`, { token: owner.token })).json()) as Json
    ).tasks as Json[];
    if (i >= 100 || !['pending', 'processing'].includes(all[0]?.status)) return all;
    await new Promise((r) => setTimeout(r, 100));
  }
};
const download = async (id: string) =>
  Buffer.from(
    await (
      await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': owner.token } })
    ).arrayBuffer(),
  );
const filesUnder = async (sub: string): Promise<string[]> => {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(s.dataDir, p));
    }
  };
  await walk(path.join(s.dataDir, sub));
  return out.sort();
};

describe(`multi-store and conversion (${TEST_DB})`, () => {
  it('lists the configured stores, the first as default, and advertises the conversion format', async () => {
    const stores = (await (await s.request('GET', '/v2/info/stores', { token: owner.token })).json()) as Json;
    expect(stores.stores.map((x: Json) => [x.id, x.default ?? false])).toEqual([
      ['fast', true],
      ['bulk', false],
    ]);
    const info = (await (await s.request('GET', '/v2/info/import', { token: owner.token })).json()) as Json;
    expect(info.conversion_format.value).toBe('raw');
  });

  it('uploads go to the default store; copy-image adds the other; delete removes both', async () => {
    const id = await createImage();
    expect((await putData(id, 'file', qcow2)).status).toBe(204);
    expect((await show(id)).stores).toBe('fast');
    const res = await startImport(id, { method: { name: 'copy-image' }, stores: ['bulk'] });
    expect(res.status).toBe(202);
    const img = await settle(id);
    expect(img.status).toBe('active');
    expect(img.stores).toBe('bulk,fast');
    expect(img.disk_format).toBe('qcow2'); // copy-image never converts
    expect(img.checksum).toBe(md5(qcow2));
    expect((await filesUnder('stores/bulk/objects')).length).toBe(1);
    // A store named outright that has it: refused, as Glance does.
    for (const stores of [['bulk'], ['fast'], ['fast', 'bulk']]) {
      const again = await startImport(id, { method: { name: 'copy-image' }, stores });
      expect(again.status, stores.join()).toBe(400);
      expect(JSON.stringify(await again.json())).toMatch(/already present at store/);
    }
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: owner.token })).status).toBe(204);
    expect(await filesUnder('stores')).toEqual([]);
  });

  it('copy-image to all stores skips the stores that have the image; none left is a 202 with nothing to do', async () => {
    const id = await createImage();
    expect((await putData(id, 'file', qcow2)).status).toBe(204);
    expect((await show(id)).os_glance_importing_to_stores).toBeUndefined();
    const first = await startImport(id, {
      method: { name: 'copy-image' },
      all_stores: true,
      all_stores_must_succeed: false,
    });
    expect(first.status).toBe(202);
    const img = await settle(id);
    expect(img).toMatchObject({ status: 'active', stores: 'bulk,fast', os_glance_failed_import: '' });
    const [task] = await tasksOf(id);
    expect(task!.status).toBe('success');
    expect(task!.input.import_req.stores).toEqual(['bulk']);
    // Every store has it now: accepted, and no task is started.
    const again = await startImport(id, { method: { name: 'copy-image' }, all_stores: true });
    expect(again.status).toBe(202);
    expect(await tasksOf(id)).toHaveLength(1);
    expect(await show(id)).toMatchObject({
      status: 'active',
      stores: 'bulk,fast',
      os_glance_importing_to_stores: '',
    });
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: owner.token })).status).toBe(204);
  });

  it('web-download to all stores converts to IMS_CONVERT_TO and re-inspects the output', async () => {
    const id = await createImage();
    const res = await startImport(id, {
      method: { name: 'web-download', uri: `${webBase}/data.qcow2` },
      all_stores: true,
    });
    expect(res.status).toBe(202);
    const img = await settle(id);
    expect(img.status).toBe('active');
    expect(img.disk_format).toBe('raw');
    expect(img.size).toBe(raw.length);
    expect(img.virtual_size).toBe(raw.length);
    expect(img.checksum).toBe(md5(raw));
    // The output's holes are hashed as zeros, not read: the hashes are still those of every byte.
    expect(img.os_hash_value).toBe(createHash('sha512').update(raw).digest('hex'));
    expect(img.stores).toBe('bulk,fast');
    expect(md5(await download(id))).toBe(md5(raw));
    // The downloaded qcow2 is gone: one object per store, and no work files.
    expect((await filesUnder('stores')).filter((f) => f.includes('/objects/')).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(await filesUnder('work')).toEqual([]);
  });

  it('glance-direct to one named store converts the staged data and drops it', async () => {
    const fastBefore = await filesUnder('stores/fast/objects');
    const id = await createImage();
    expect((await putData(id, 'stage', qcow2)).status).toBe(204);
    expect((await filesUnder('stores/fast/objects')).length).toBe(fastBefore.length + 1);
    expect((await startImport(id, { method: { name: 'glance-direct' }, stores: ['bulk'] })).status).toBe(202);
    const img = await settle(id);
    expect(img).toMatchObject({ status: 'active', disk_format: 'raw', stores: 'bulk', checksum: md5(raw) });
    expect(await filesUnder('stores/fast/objects')).toEqual(fastBefore);
  });

  it('refuses to convert zvhd2: format not supported by this deployment', async () => {
    const id = await createImage('zvhd2');
    expect((await putData(id, 'stage', zvhd)).status).toBe(204);
    expect((await startImport(id, { method: { name: 'glance-direct' } })).status).toBe(202);
    const img = await settle(id);
    expect(img.status).toBe('queued');
    expect(img.os_glance_failed_import).toBe('fast');
    const tasks = await tasksOf(id);
    expect(tasks[0]!.message).toMatch(/format not supported by this deployment/);
  });
});
