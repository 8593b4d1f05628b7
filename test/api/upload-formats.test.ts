import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);
let s: TestServer;
let owner: { token: string; projectId: string };
let dir: string;

beforeAll(async () => {
  s = await startTestServer({ IMS_MAX_VIRTUAL_SIZE: '1GiB' });
  owner = await s.tokenFor('formats', 'fiona', 'member');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-upload-formats-'));
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
  await run('qemu-img', ['create', '-f', 'qcow2', path.join(dir, 'huge.qcow2'), '2T']);
  await run('qemu-img', ['create', '-f', 'vmdk', path.join(dir, 'disk.vmdk'), '32M']);
});
afterAll(async () => {
  await s?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const createImage = async (diskFormat: string | null) => {
  const body: Json = { name: `f-${diskFormat}`, container_format: 'bare' };
  if (diskFormat) body.disk_format = diskFormat;
  const res = await s.request('POST', '/v2/images', { token: owner.token, body });
  return ((await res.json()) as Json).id as string;
};
const upload = async (id: string, file: string) =>
  fetch(`${s.url}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: {
      'x-auth-token': owner.token,
      'content-type': 'application/octet-stream',
      accept: 'application/json',
    },
    body: await fs.readFile(path.join(dir, file)),
  });
const show = async (id: string) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token: owner.token })).json()) as Json;

describe(`uploads are inspected against disk_format (${TEST_DB})`, () => {
  it('accepts a qcow2 declared as qcow2 and records its virtual size', async () => {
    const id = await createImage('qcow2');
    expect((await upload(id, 'small.qcow2')).status).toBe(204);
    expect(await show(id)).toMatchObject({ status: 'active', virtual_size: 64 * 1024 * 1024 });
  });

  it('accepts a VMDK and a raw disk, with raw virtual size = its size', async () => {
    const vmdk = await createImage('vmdk');
    expect((await upload(vmdk, 'disk.vmdk')).status).toBe(204);
    expect((await show(vmdk)).virtual_size).toBe(32 * 1024 * 1024);
    await fs.writeFile(path.join(dir, 'plain.raw'), Buffer.alloc(4096, 7));
    const raw = await createImage('raw');
    expect((await upload(raw, 'plain.raw')).status).toBe(204);
    expect((await show(raw)).virtual_size).toBe(4096);
  });

  for (const [label, file, declared, reason] of [
    ['a qcow2 disguised as raw', 'small.qcow2', 'raw', 'format-mismatch'],
    ['a qcow2 with a backing file', 'backed.qcow2', 'qcow2', 'backing-file'],
    ['a virtual size over IMS_MAX_VIRTUAL_SIZE', 'huge.qcow2', 'qcow2', 'too-large'],
    ['a VMDK declared as qcow2', 'disk.vmdk', 'qcow2', 'format-mismatch'],
  ] as const) {
    it(`refuses ${label} with 400, keeping nothing`, async () => {
      const before = await storedFiles(s.dataDir);
      const id = await createImage(declared);
      const res = await upload(id, file);
      expect(res.status).toBe(400);
      expect(((await res.json()) as Json).message).toContain(reason);
      expect(await show(id)).toMatchObject({
        status: 'queued',
        size: null,
        virtual_size: null,
        checksum: null,
      });
      expect(await storedFiles(s.dataDir)).toEqual(before);
    });
  }

  it('refuses data for an image without disk_format, as Glance does', async () => {
    const id = await createImage(null);
    const res = await upload(id, 'small.qcow2');
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).message).toContain('disk_format');
  });
});
