import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { openDatabase, type Db } from '../../src/adapters/db/database.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { copyImageHandler } from '../../src/services/jobs/copy-handler.ts';
import { QuotaService } from '../../src/services/quotas.ts';
import { startTestServer, storedFiles, TEST_DB, TEST_STORE, type TestServer } from '../helpers/server.ts';
import { makeTempDir, mkfifo, qemuImg, qemuVirtualSize } from '../formats/qemu.ts';
import { expectImsError, type Caller, type Json } from './ims-helpers.ts';

let s: TestServer;
let db: Db;
let owner: Caller;
let other: Caller;

beforeAll(async () => {
  s = await startTestServer({ IMS_DEFAULT_IMAGE_QUOTA: '6' }, { worker: true });
  db = openDatabase(s.config.databaseUrl, s.dataDir);
  owner = await s.tokenFor('copy-owner', 'olga', 'member');
  other = await s.tokenFor('copy-other', 'otto', 'member');
});
afterAll(async () => {
  await db?.close();
  await s?.close();
});

async function imageWith(caller: Caller, data: Buffer, body: Json = {}): Promise<string> {
  const res = await s.request('POST', '/v2/images', {
    token: caller.token,
    body: { name: 'src', disk_format: 'raw', container_format: 'bare', ...body },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const id = ((await res.json()) as Json).id as string;
  const up = await fetch(`${s.url}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': caller.token, 'content-type': 'application/octet-stream' },
    body: data,
  });
  expect(up.status, await up.clone().text()).toBe(204);
  return id;
}

const copy = (caller: Caller, id: string, body: unknown, prefix = '/v1') =>
  s.request('POST', `${prefix}/cloudimages/${id}/copy`, { token: caller.token, body });

async function jobOf(caller: Caller, res: Response): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const jobId = (JSON.parse(text) as Json).job_id as string;
  expect(jobId).toBeTruthy();
  for (let i = 0; i < 400; i++) {
    const r = await s.request('GET', `/v1/${caller.projectId}/jobs/${jobId}`, { token: caller.token });
    const job = (await r.json()) as Json;
    if (job.status === 'SUCCESS' || job.status === 'FAIL') return job;
    await new Promise((done) => setTimeout(done, 25));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function copied(caller: Caller, id: string, body: Json = { name: 'the-copy' }, prefix = '/v1') {
  const job = await jobOf(caller, await copy(caller, id, body, prefix));
  expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
  expect(job.job_type).toBe('imsCopyImageInRegionJob');
  return (job.entities as Json).image_id as string;
}

const download = async (caller: Caller, id: string) => {
  const res = await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': caller.token } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
};
const glanceImage = async (caller: Caller, id: string) => {
  const res = await s.request('GET', `/v2/images/${id}`, { token: caller.token });
  return { status: res.status, body: (await res.json()) as Json };
};
const blobOf = async (imageId: string) => {
  const row = await db.kysely
    .selectFrom('images')
    .select('blob_id')
    .where('id', '=', imageId)
    .executeTakeFirst();
  return row?.blob_id
    ? await db.kysely.selectFrom('blobs').selectAll().where('id', '=', row.blob_id).executeTakeFirst()
    : undefined;
};

/**
 * Whether something is blocked opening the FIFO at `file` for reading; if so, lets it go (it reads
 * end of file). Opening the write end without blocking fails with ENXIO when no reader is there.
 */
async function releaseBlockedReader(file: string): Promise<boolean> {
  try {
    await (await open(file, constants.O_WRONLY | constants.O_NONBLOCK)).close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') return false;
    throw err;
  }
}

const MiB = 1024 * 1024;

describe(`POST /v1/cloudimages/{id}/copy (${TEST_DB})`, () => {
  it('makes a private copy sharing the blob; either survives the other, the last one frees the data', async () => {
    const data = randomBytes(300_000);
    const source = await imageWith(owner, data, {
      __os_version: 'Ubuntu 22.04 server 64bit',
      __support_kvm: 'true',
      hw_firmware_type: 'uefi',
    });
    const copyId = await copied(owner, source, {
      name: 'copy one',
      description: 'made by a test',
      enterprise_project_id: '0',
    });
    expect(copyId).not.toBe(source);
    const [a, b] = [(await glanceImage(owner, source)).body, (await glanceImage(owner, copyId)).body];
    expect(b).toMatchObject({
      name: 'copy one',
      status: 'active',
      visibility: 'private',
      owner: owner.projectId,
      disk_format: a.disk_format,
      container_format: a.container_format,
      size: a.size,
      virtual_size: a.virtual_size,
      checksum: a.checksum,
      os_hash_algo: a.os_hash_algo,
      os_hash_value: a.os_hash_value,
      __originalimagename: source,
      __description: 'made by a test',
      __os_version: 'Ubuntu 22.04 server 64bit',
      __support_kvm: 'true',
      hw_firmware_type: 'uefi',
    });
    expect((await download(owner, copyId)).equals(data)).toBe(true);
    const blob = await blobOf(copyId);
    expect(blob?.id).toBe((await blobOf(source))?.id);
    expect(blob?.refcount).toBe(2);
    const objectsBefore = await storedFiles(s.dataDir);

    expect((await s.request('DELETE', `/v2/images/${source}`, { token: owner.token })).status).toBe(204);
    expect((await blobOf(copyId))?.refcount).toBe(1);
    expect(await storedFiles(s.dataDir)).toEqual(objectsBefore);
    expect((await download(owner, copyId)).equals(data)).toBe(true);

    expect((await s.request('DELETE', `/v2/images/${copyId}`, { token: owner.token })).status).toBe(204);
    const left = await db.kysely.selectFrom('blobs').selectAll().where('id', '=', blob!.id).execute();
    expect(left).toEqual([]);
    const objectsAfter = await storedFiles(s.dataDir);
    expect(objectsBefore.length - objectsAfter.length).toBe(1);
    expect(objectsAfter.some((f) => f.includes(blob!.store_key.split('/').pop()!))).toBe(false);
  });

  it('answers on /v2.1 too; deleting the copy keeps the source', async () => {
    const data = randomBytes(4096);
    const source = await imageWith(owner, data);
    const copyId = await copied(owner, source, { name: 'safe-mode' }, '/v2.1');
    expect((await s.request('DELETE', `/v2/images/${copyId}`, { token: owner.token })).status).toBe(204);
    expect((await download(owner, source)).equals(data)).toBe(true);
    expect((await blobOf(source))?.refcount).toBe(1);
    await s.request('DELETE', `/v2/images/${source}`, { token: owner.token });
  });

  it('lets a recipient copy a shared image only after accepting it; the copy is theirs', async () => {
    const data = randomBytes(2048);
    const source = await imageWith(owner, data, { visibility: 'shared' });
    const add = await s.request('POST', `/v2/images/${source}/members`, {
      token: owner.token,
      body: { member: other.projectId },
    });
    expect(add.status, await add.clone().text()).toBe(200);
    await expectImsError(await copy(other, source, { name: 'mine' }), 400, 'IMG.0196');
    const accept = await s.request('PUT', `/v2/images/${source}/members/${other.projectId}`, {
      token: other.token,
      body: { status: 'accepted' },
    });
    expect(accept.status, await accept.clone().text()).toBe(200);
    const copyId = await copied(other, source, { name: 'mine' });
    const mine = await glanceImage(other, copyId);
    expect(mine.body).toMatchObject({
      owner: other.projectId,
      visibility: 'private',
      __originalimagename: source,
    });
    expect((await download(other, copyId)).equals(data)).toBe(true);
    // The owner does not see the recipient's private copy.
    expect((await glanceImage(owner, copyId)).status).toBe(404);
    await s.request('DELETE', `/v2/images/${copyId}`, { token: other.token });
    await s.request('DELETE', `/v2/images/${source}`, { token: owner.token });
  });

  it('refuses a copy past the image count or bytes quota', async () => {
    const tight = await s.tokenFor('copy-tight', 'tia', 'member');
    const put = await s.request('PUT', '/v1/cloudimages/quota', {
      token: s.adminToken,
      body: { project_id: tight.projectId, quotas: { image: 1 } },
    });
    expect(put.status, await put.clone().text()).toBe(200);
    const source = await imageWith(tight, randomBytes(600_000));
    await expectImsError(await copy(tight, source, { name: 'too many' }), 400, 'IMG.0015');
    // The bytes quota (MiB) counts the shared data again: the copy is the caller's image.
    const more = await s.request('PUT', '/v1/cloudimages/quota', {
      token: s.adminToken,
      body: { project_id: tight.projectId, quotas: { image: 5, image_size_total: 1 } },
    });
    expect(more.status, await more.clone().text()).toBe(200);
    await expectImsError(await copy(tight, source, { name: 'too big' }), 400, 'IMG.0015');
  });

  it('makes one image and one reference when a job runs again after a crash, even concurrently', async () => {
    const data = randomBytes(8192);
    const source = await imageWith(owner, data);
    const repos = new Repositories(db.kysely);
    const handler = copyImageHandler({
      repos,
      clock: systemClock,
      quotas: new QuotaService(repos, systemClock, s.config.defaultQuota),
    });
    const payload = {
      sourceId: source,
      imageId: '0b9c7f3e-5d1a-4c2e-8f00-5a7e2c1d9b01',
      owner: owner.projectId,
      name: 'rerun',
      description: null,
      enterpriseProjectId: '0',
    };
    const run = (attempt: number) =>
      handler(
        { id: 'job-rerun', projectId: owner.projectId, payload, attempt },
        async () => {},
        new AbortController().signal,
      );
    const results = await Promise.all([run(1), run(2)]);
    expect(await run(3)).toEqual({ imageId: payload.imageId });
    expect(results).toEqual([{ imageId: payload.imageId }, { imageId: payload.imageId }]);
    expect((await blobOf(source))?.refcount).toBe(2);
    expect((await download(owner, payload.imageId)).equals(data)).toBe(true);
    expect((await s.request('DELETE', `/v2/images/${payload.imageId}`, { token: owner.token })).status).toBe(
      204,
    );
    // A run after the copy was deleted does not bring it back.
    expect(await run(4)).toEqual({ imageId: payload.imageId });
    expect((await glanceImage(owner, payload.imageId)).status).toBe(404);
    expect((await blobOf(source))?.refcount).toBe(1);
    await s.request('DELETE', `/v2/images/${source}`, { token: owner.token });
  });

  // The stored object is replaced by a FIFO on disk: the file store only.
  it.skipIf(TEST_STORE !== 'file')(
    'keeps the stored inspection of a qcow2 and never opens the stored data',
    async () => {
      const caller = await s.tokenFor('copy-fifo', 'fiona', 'member');
      const dir = await makeTempDir('copy-fifo');
      try {
        // 64 MiB virtual, data in the first MiB and at 40 MiB: virtual size, size and hashes all differ.
        const raw = path.join(dir, 'guest.raw');
        const guest = Buffer.alloc(64 * MiB);
        randomBytes(MiB).copy(guest, 0);
        randomBytes(MiB).copy(guest, 40 * MiB);
        await writeFile(raw, guest);
        const qcow2 = path.join(dir, 'guest.qcow2');
        await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
        const data = await readFile(qcow2);
        const source = await imageWith(caller, data, { disk_format: 'qcow2' });
        const before = (await glanceImage(caller, source)).body;
        expect(before.virtual_size).toBe(Number(await qemuVirtualSize(qcow2, 'qcow2')));

        const blob = await blobOf(source);
        const stored = path.join(s.dataDir, 'images', 'objects', blob!.store_key);
        expect((await readFile(stored)).equals(data)).toBe(true);
        // Whatever opens the stored object for reading now blocks until a writer comes: a copy that
        // read the data again (to hash or inspect it) would never finish.
        const aside = `${stored}.aside`;
        await rename(stored, aside);
        await mkfifo(stored);
        let copyId: string | Error;
        let opened: boolean;
        try {
          copyId = await copied(caller, source, { name: 'not-read-again' }).catch((err: Error) => err);
        } finally {
          opened = await releaseBlockedReader(stored);
          await rm(stored);
          await rename(aside, stored);
        }
        expect(opened, 'the copy opened the stored data').toBe(false);
        if (copyId instanceof Error) throw copyId;

        const after = (await glanceImage(caller, copyId)).body;
        for (const field of [
          'disk_format',
          'size',
          'virtual_size',
          'checksum',
          'os_hash_algo',
          'os_hash_value',
        ] as const)
          expect(after[field], field).toEqual(before[field]);
        expect((await blobOf(copyId))?.id).toBe(blob!.id);
        expect((await download(caller, copyId)).equals(data)).toBe(true);
        for (const id of [copyId, source])
          await s.request('DELETE', `/v2/images/${id}`, { token: caller.token });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );

  it('refuses hostile bodies and images it must not copy, in the IMS dialect', async () => {
    const source = await imageWith(owner, randomBytes(512));
    const cases: [unknown, number, string][] = [
      [{}, 400, 'IMG.0013'],
      [{ name: '' }, 400, 'IMG.0013'],
      [{ name: 42 }, 400, 'IMG.0013'],
      [{ name: 'x'.repeat(129) }, 400, 'IMG.0002'],
      [{ name: 'bad/name' }, 400, 'IMG.0003'],
      [{ name: 'ok', description: true }, 400, 'IMG.0001'],
      [{ name: 'ok', description: 'd'.repeat(1025) }, 400, 'IMG.0004'],
      [{ name: 'ok', enterprise_project_id: 7 }, 400, 'IMG.0155'],
      [{ name: 'ok', cmk_id: 'a-key' }, 400, 'IMG.0095'],
      [['name'], 400, 'IMG.0001'],
      ['name', 400, 'IMG.0001'],
    ];
    for (const [body, status, code] of cases)
      await expectImsError(await copy(owner, source, body), status, code);
    const raw = await fetch(`${s.url}/v1/cloudimages/${source}/copy`, {
      method: 'POST',
      headers: { 'x-auth-token': owner.token, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    await expectImsError(raw, 400, 'IMG.0001');

    await expectImsError(
      await copy(owner, '6b7e0cc1-0d2c-4b3f-9a56-2f1a5a5b0e11', { name: 'x' }),
      404,
      'IMG.0027',
    );
    await expectImsError(await copy(owner, 'not-a-uuid', { name: 'x' }), 404, 'IMG.0027');
    // Another tenant's private image is not found, like a missing one.
    const theirs = await imageWith(other, randomBytes(512), { visibility: 'private' });
    await expectImsError(await copy(owner, theirs, { name: 'x' }), 404, 'IMG.0027');
    await expectImsError(await copy(owner, theirs, { name: 'x' }, '/v2.1'), 404, 'IMG.0027');
    // Not active: an image without data.
    const queued = await s.request('POST', '/v2/images', {
      token: owner.token,
      body: { name: 'q', disk_format: 'raw', container_format: 'bare' },
    });
    const queuedId = ((await queued.json()) as Json).id as string;
    await expectImsError(await copy(owner, queuedId, { name: 'x' }), 400, 'IMG.0046');
    // ISO images are not copied.
    const envIso = await imageWith(owner, randomBytes(512), { virtual_env_type: 'IsoImage' });
    await expectImsError(await copy(owner, envIso, { name: 'x' }), 400, 'IMG.0167');
    // None of the refusals made an image or a job's image.
    const mine = await db.kysely
      .selectFrom('image_properties')
      .select('image_id')
      .where('name', '=', '__originalimagename')
      .where('value', 'in', [source, theirs, queuedId, envIso])
      .execute();
    expect(mine).toEqual([]);
  });
});
