/**
 * IMS images from and to the tenants' object store, against the real S3
 * server (Swift s3api from ../shared/services/s3-up.sh): create from a file
 * (system, ISO, data disk, quick import), register, export with and without
 * conversion, the operator's bucket grants, and the hostile cases — bad
 * addresses, missing objects, buckets not granted or another project's, the
 * image store's own bucket even when granted by mistake, a crafted disk image
 * (refused, nothing left), wrong JSON types — on SQLite and PostgreSQL.
 * Skipped only when no S3 server is configured (never in CI).
 */
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { StoreRegistry } from '../../src/adapters/storage/store-registry.ts';
import { createJobRegistry } from '../../src/services/jobs/handlers.ts';
import { derivedBlobId } from '../../src/services/jobs/import-handler.ts';
import type { JobHandler } from '../../src/services/jobs/kind.ts';
import { runAdmin } from '../../src/cli/bucket-command.ts';
import { runGc } from '../../src/cli/gc-command.ts';
import { UserObjectStore } from '../../src/adapters/storage/user-object-store.ts';
import { IngestPipeline } from '../../src/services/ingest.ts';
import { QuotaService } from '../../src/services/quotas.ts';
import { EXPORT_IMAGE } from '../../src/services/object-file-kinds.ts';
import { objectExportHandler } from '../../src/services/jobs/object-file-handlers.ts';
import { createMaintenance, startWorkers } from '../../src/services/jobs/start.ts';
import { makeIso } from '../formats/craft.ts';
import { s3TestEnv, s3TestServer, tenantS3Client, tenantStoreEnv } from '../helpers/s3.ts';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';
import { activeImage, expectImsError, type Caller, type Json } from './ims-helpers.ts';

const run = promisify(execFile);
const server = s3TestServer();
const BUCKET_A = 'ims-tenant-a';
const BUCKET_B = 'ims-tenant-b';

let s: TestServer;
let s3: S3Client;
let owner: Caller;
let other: Caller;
let work: string;
const prefix = `run-${randomBytes(4).toString('hex')}`;
const raw = Buffer.concat([Buffer.from('not a header'), randomBytes(64 * 1024 - 12)]);

async function put(bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

async function get(bucket: string, key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function admin(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runAdmin(
    s.config,
    argv,
    { write: (t: string) => (out += t) },
    { write: (t: string) => (err += t) },
  );
  return { code, out, err };
}

const post = (caller: Caller, p: string, body: unknown) =>
  s.request('POST', p, { token: caller.token, body });

async function jobOf(caller: Caller, res: Response): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const jobId = (JSON.parse(text) as Json).job_id as string;
  expect(jobId).toMatch(/^[0-9a-f]{32}$/);
  for (let i = 0; i < 800; i++) {
    const r = await s.request('GET', `/v1/${caller.projectId}/jobs/${jobId}`, { token: caller.token });
    const job = (await r.json()) as Json;
    if (job.status === 'SUCCESS' || job.status === 'FAIL') return job;
    await new Promise((done) => setTimeout(done, 25));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function imageOf(caller: Caller, id: string): Promise<Json> {
  const res = await s.request('GET', `/v2/cloudimages?id=${id}`, { token: caller.token });
  const images = ((await res.json()) as Json).images as Json[];
  if (images[0]) return images[0];
  return (await (await s.request('GET', `/v2/images/${id}`, { token: caller.token })).json()) as Json;
}

async function download(caller: Caller, id: string): Promise<Buffer> {
  const res = await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': caller.token } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function qcow2(name: string, args: string[]): Promise<Buffer> {
  const file = path.join(work, name);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', ...args, file]);
  return readFile(file);
}

/** A server's environment: its own image store prefix, and the tenants' object store. */
async function serverEnv(): Promise<Record<string, string>> {
  return {
    ...(await s3TestEnv()),
    ...tenantStoreEnv(server!),
  };
}

describe.skipIf(!server)(
  `IMS images and the tenants' object store (${TEST_DB}; needs S3_ENDPOINT from s3-up.sh)`,
  () => {
    beforeAll(async () => {
      s = await startTestServer(await serverEnv(), { worker: true });
      s3 = await tenantS3Client(server!, [BUCKET_A, BUCKET_B]);
      owner = await s.tokenFor('obj-owner', 'olive', 'member');
      other = await s.tokenFor('obj-other', 'oscar', 'member');
      expect((await admin('bucket', 'grant', owner.projectId, BUCKET_A)).code).toBe(0);
      expect((await admin('bucket', 'grant', other.projectId, BUCKET_B)).code).toBe(0);
      work = await mkdtemp(path.join(os.tmpdir(), 'ims-objtest-'));
      await put(BUCKET_A, `${prefix}/disk.raw`, raw);
    }, 60_000);
    afterAll(async () => {
      s3?.destroy();
      await s?.close();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('grants: an operator grants, lists and revokes; the image store bucket, bad names and unknown projects are refused', async () => {
      const listed = await admin('bucket', 'list', owner.projectId);
      expect(listed.out).toContain(`${owner.projectId} ${BUCKET_A} `);
      expect(listed.out).not.toContain(BUCKET_B);
      const store = await admin('bucket', 'grant', owner.projectId, server!.bucket);
      expect(store.code).toBe(1);
      expect(store.err).toContain('image store');
      expect((await admin('bucket', 'grant', owner.projectId, 'Bad_Name')).code).toBe(1);
      expect((await admin('bucket', 'grant', 'no-such-project', BUCKET_A)).code).toBe(1);
      expect((await admin('bucket', 'grant', owner.projectId)).code).toBe(2);
      expect((await admin('bucket', 'grant', owner.projectId, 'ims-tenant-c')).code).toBe(0);
      expect((await admin('bucket', 'grant', owner.projectId, 'ims-tenant-c')).code).toBe(0);
      expect((await admin('bucket', 'revoke', owner.projectId, 'ims-tenant-c')).code).toBe(0);
      expect((await admin('bucket', 'revoke', owner.projectId, 'ims-tenant-c')).code).toBe(1);
    });

    it('creates a system image from a file: active, the same bytes, and no store key in its properties', async () => {
      const job = await jobOf(
        owner,
        await post(owner, '/v2/cloudimages/action', {
          name: 'from-file',
          image_url: `${BUCKET_A}:${prefix}/disk.raw`,
          min_disk: 1,
          os_version: 'CentOS 7.6 64bit',
          description: 'made from a file',
          image_tags: [{ key: 'k', value: 'v' }],
        }),
      );
      expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
      expect(job.job_type).toBe('imsImportImageJob');
      const id = job.entities.image_id as string;
      const image = await imageOf(owner, id);
      expect(image.status).toBe('active');
      expect(image.disk_format).toBe('raw');
      expect(image.virtual_env_type).toBe('FusionCompute');
      expect(image.__os_version).toBe('CentOS 7.6 64bit');
      expect(image.__platform).toBe('CentOS');
      expect(image.__description).toBe('made from a file');
      expect(image.__data_origin).toBe(`file,${BUCKET_A}:${prefix}/disk.raw`);
      expect(image.__isregistered).toBe('true');
      expect(image.tags).toEqual(['k=v']);
      expect(image.checksum).toBe(createHash('md5').update(raw).digest('hex'));
      expect(await download(owner, id)).toEqual(raw);
      const keys = (await storedFiles(s.dataDir)).map((k) => k.split('/').pop()!);
      const text = JSON.stringify(image);
      for (const key of keys) expect(text).not.toContain(key);
      expect(text).not.toContain(s.config.s3!.keyPrefix);
      expect(text).not.toContain(server!.bucket);
    });

    it('creates ISO, data-disk and quick-import images, on the v2.1 paths too', async () => {
      const iso = makeIso();
      await put(BUCKET_A, `${prefix}/install.iso`, iso);
      const isoJob = await jobOf(
        owner,
        await post(owner, '/v2.1/cloudimages/action', {
          name: 'iso',
          image_url: `${BUCKET_A}:${prefix}/install.iso`,
          min_disk: 1,
          os_version: 'Ubuntu 18.04 server 64bit',
          type: 'IsoImage',
        }),
      );
      expect(isoJob.status, JSON.stringify(isoJob)).toBe('SUCCESS');
      const isoImage = await imageOf(owner, isoJob.entities.image_id as string);
      expect([isoImage.disk_format, isoImage.virtual_env_type]).toEqual(['iso', 'IsoImage']);
      await expectImsError(
        await post(owner, '/v2/cloudimages/action', {
          name: 'iso',
          image_url: `${BUCKET_A}:${prefix}/install.iso`,
          min_disk: 1,
          type: 'IsoImage',
        }),
        400,
        'IMG.0056',
      );

      const dataJob = await jobOf(
        owner,
        await post(owner, '/v1/cloudimages/dataimages/action', {
          name: 'data',
          image_url: `${BUCKET_A}:${prefix}/disk.raw`,
          min_disk: 40,
          os_type: 'Windows',
        }),
      );
      expect(dataJob.status, JSON.stringify(dataJob)).toBe('SUCCESS');
      expect(dataJob.job_type).toBe('imsImportDataImageJob');
      const dataImage = await imageOf(owner, dataJob.entities.image_id as string);
      expect([dataImage.virtual_env_type, dataImage.__os_type]).toEqual(['DataImage', 'Windows']);
      // The list filter agrees with the view: the disk's own os_type, not the default entry's.
      const listed = async (osType: string) => {
        const url = `/v2/cloudimages?__os_type=${osType}&virtual_env_type=DataImage`;
        const res = await s.request('GET', url, { token: owner.token });
        return ((await res.json()) as { images: { id: string }[] }).images.map((i) => i.id);
      };
      expect(await listed('Windows')).toContain(dataImage.id);
      expect(await listed('Linux')).not.toContain(dataImage.id);

      const quickJob = await jobOf(
        owner,
        await post(owner, '/v2/cloudimages/quickimport/action', {
          name: 'quick',
          image_url: `${BUCKET_A}:${prefix}/disk.raw`,
          min_disk: 1,
          os_version: 'CentOS 7.6 64bit',
        }),
      );
      expect(quickJob.status, JSON.stringify(quickJob)).toBe('SUCCESS');
      const quickData = await jobOf(
        owner,
        await post(owner, '/v2.1/cloudimages/quickimport/action', {
          name: 'quick-data',
          image_url: `${BUCKET_A}:${prefix}/disk.raw`,
          min_disk: 1,
          type: 'DataImage',
        }),
      );
      expect((await imageOf(owner, quickData.entities.image_id as string)).virtual_env_type).toBe(
        'DataImage',
      );
      await put(BUCKET_A, `${prefix}/small.qcow2`, await qcow2('small.qcow2', ['-o', 'size=1M']));
      await expectImsError(
        await post(owner, '/v2/cloudimages/quickimport/action', {
          name: 'quick',
          image_url: `${BUCKET_A}:${prefix}/small.qcow2`,
          min_disk: 1,
          os_version: 'CentOS 7.6 64bit',
        }),
        400,
        'IMG.0057',
      );
    });

    it('imports a system image with data_images in one job: per-image results, one quota check, failed parts cleaned up', async () => {
      const multi = await s.tokenFor('obj-multi', 'mia', 'member');
      expect((await admin('bucket', 'grant', multi.projectId, BUCKET_A)).code).toBe(0);
      const second = Buffer.concat([Buffer.from('second disk '), randomBytes(32 * 1024)]);
      await put(BUCKET_A, `${prefix}/data2.raw`, second);
      await put(BUCKET_A, `${prefix}/liar-data.qcow2`, raw);
      const ep = '0';
      const body = (dataImages: unknown) => ({
        name: 'with-data',
        image_url: `${BUCKET_A}:${prefix}/disk.raw`,
        min_disk: 1,
        os_version: 'CentOS 7.6 64bit',
        enterprise_project_id: ep,
        data_images: dataImages,
      });
      const owned = async () => {
        const res = await s.request('GET', `/v2/cloudimages?owner=${multi.projectId}`, {
          token: multi.token,
        });
        return (((await res.json()) as Json).images as Json[]).length;
      };

      const job = await jobOf(
        multi,
        await post(
          multi,
          '/v2.1/cloudimages/action',
          body([
            {
              name: 'data-1',
              image_url: `${BUCKET_A}:${prefix}/disk.raw`,
              min_disk: 40,
              description: 'first',
            },
            {
              name: 'data-2',
              image_url: `${BUCKET_A}:${prefix}/data2.raw`,
              min_disk: 1,
              image_tags: [{ key: 'd', value: '2' }],
            },
          ]),
        ),
      );
      expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
      expect(job.job_type).toBe('imsImportImageJob');
      const results = job.entities.sub_jobs_result as Json[];
      expect(results.map((r) => [r.status, r.job_type, r.entities.image_name])).toEqual([
        ['SUCCESS', 'imsImportImageJob', 'with-data'],
        ['SUCCESS', 'imsImportDataImageJob', 'data-1'],
        ['SUCCESS', 'imsImportDataImageJob', 'data-2'],
      ]);
      expect(results[0]!.entities.image_id).toBe(job.entities.image_id);
      const [sys, d1, d2] = await Promise.all(
        results.map((r) => imageOf(multi, r.entities.image_id as string)),
      );
      expect([sys!.status, sys!.virtual_env_type]).toEqual(['active', 'FusionCompute']);
      expect([d1!.status, d1!.virtual_env_type, d1!.min_disk, d1!.__description]).toEqual([
        'active',
        'DataImage',
        40,
        'first',
      ]);
      expect([d2!.virtual_env_type, d2!.tags, d2!.enterprise_project_id]).toEqual(['DataImage', ['d=2'], ep]);
      expect(await download(multi, d2!.id as string)).toEqual(second);
      expect(await owned()).toBe(3);

      // A refused data disk: the others are kept, the refused one is killed and its bytes are gone.
      const before = await storedFiles(s.dataDir);
      const partial = await jobOf(
        multi,
        await post(
          multi,
          '/v2/cloudimages/action',
          body([{ name: 'bad-disk', image_url: `${BUCKET_A}:${prefix}/liar-data.qcow2`, min_disk: 1 }]),
        ),
      );
      expect(partial.status, JSON.stringify(partial)).toBe('FAIL');
      expect(partial.error_code).toBe('IMG.0057');
      expect(partial.fail_reason).toContain('1 of 2 images failed');
      const parts = partial.entities.sub_jobs_result as Json[];
      expect(parts.map((r) => [r.status, r.error_code])).toEqual([
        ['SUCCESS', null],
        ['FAIL', 'IMG.0057'],
      ]);
      expect((await imageOf(multi, parts[0]!.entities.image_id as string)).status).toBe('active');
      expect((await imageOf(multi, parts[1]!.entities.image_id as string)).status).toBe('killed');
      expect((await storedFiles(s.dataDir)).length).toBe(before.length + 1);

      // The quota admits every image of the request or none.
      const used = await owned();
      const set = await s.request('PUT', '/v1/cloudimages/quota', {
        body: { project_id: multi.projectId, quotas: { image: used + 2 } },
      });
      expect(set.status, await set.clone().text()).toBe(200);
      const q = (name: string) => ({ name, image_url: `${BUCKET_A}:${prefix}/disk.raw`, min_disk: 1 });
      const three = body([q('q-1'), q('q-2')]);
      await expectImsError(await post(multi, '/v2/cloudimages/action', three), 400, 'IMG.0015');
      expect(await owned()).toBe(used);
      const two = await jobOf(multi, await post(multi, '/v2/cloudimages/action', body([q('q-1')])));
      expect(two.status, JSON.stringify(two)).toBe('SUCCESS');
      expect(await owned()).toBe(used + 2);
      await s.request('PUT', '/v1/cloudimages/quota', {
        body: { project_id: multi.projectId, quotas: { image: null } },
      });

      // Bad entries are refused before any image exists.
      const entry = { name: 'd', image_url: `${BUCKET_A}:${prefix}/disk.raw`, min_disk: 1 };
      const counted = await owned();
      for (const [dataImages, status, code] of [
        [[entry, entry, entry, entry], 400, 'IMG.0001'],
        ['not-a-list', 400, 'IMG.0001'],
        [['not-an-object'], 400, 'IMG.0001'],
        [[{ ...entry, image_url: undefined }], 400, 'IMG.0001'],
        [[{ ...entry, min_disk: 2049 }], 400, 'IMG.0055'],
        [[{ ...entry, type: 'IsoImage' }], 400, 'IMG.0024'],
        [[{ ...entry, name: true }], 400, 'IMG.0013'],
        [[{ name: 'v', volume_id: 'b0a3e9b4-0d3f-4f43-9a5f-5e0f5b1a2c3d' }], 400, 'IMG.0105'],
        [[{ ...entry, image_url: `${BUCKET_B}:${prefix}/theirs.raw` }], 403, 'IMG.0069'],
        [[{ ...entry, image_url: `${BUCKET_A}:${prefix}/missing.raw` }], 400, 'IMG.0057'],
      ] as const) {
        const err = await expectImsError(
          await post(multi, '/v2/cloudimages/action', body(dataImages)),
          status,
          code,
        );
        if (
          Array.isArray(dataImages) &&
          code !== 'IMG.0069' &&
          code !== 'IMG.0057' &&
          dataImages.length === 1
        )
          expect(err.error.message).toContain('data_images[0]');
      }
      await expectImsError(
        await post(multi, '/v1/cloudimages/dataimages/action', { ...entry, data_images: [entry] }),
        400,
        'IMG.0001',
      );
      expect(await owned()).toBe(counted);
    });

    it('refuses bad image_url syntax, wrong JSON types and unknown formats before any work', async () => {
      const body = (extra: Json) => ({
        name: 'bad',
        image_url: `${BUCKET_A}:${prefix}/disk.raw`,
        min_disk: 1,
        ...extra,
      });
      const cases: Array<[Json, string]> = [
        [{ image_url: 'no-colon.raw' }, 'IMG.0017'],
        [{ image_url: ':disk.raw' }, 'IMG.0068'],
        [{ image_url: 'Bad_Bucket:disk.raw' }, 'IMG.0109'],
        [{ image_url: `${BUCKET_A}:` }, 'IMG.0073'],
        [{ image_url: `${BUCKET_A}:a\u0001b.raw` }, 'IMG.0075'],
        [{ image_url: `${BUCKET_A}:${prefix}/disk.exe` }, 'IMG.0057'],
        [{ image_url: true }, 'IMG.0001'],
        [{ image_url: undefined }, 'IMG.0001'],
        [{ name: true }, 'IMG.0013'],
        [{ min_disk: '40' }, 'IMG.0055'],
        [{ min_disk: 0 }, 'IMG.0055'],
        [{ is_quick_import: 'true' }, 'IMG.0001'],
        [{ os_type: 'Plan9' }, 'IMG.0122'],
        [{ os_version: 'NotAnOS 1.0' }, 'IMG.0056'],
        [{ type: 'DataImage' }, 'IMG.0024'],
        [{ hw_firmware_type: 'efi' }, 'IMG.0141'],
        [{ architecture: 'mips' }, 'IMG.0212'],
      ];
      const before = await storedFiles(s.dataDir);
      for (const [extra, code] of cases)
        await expectImsError(await post(owner, '/v2/cloudimages/action', body(extra)), 400, code);
      await expectImsError(await post(owner, '/v2/cloudimages/action', 'not json'), 400, 'IMG.0001');
      await expectImsError(await post(owner, '/v2/cloudimages/action', [body({})]), 400, 'IMG.0001');
      expect(await storedFiles(s.dataDir)).toEqual(before);
    });

    it('refuses servers, volumes and backups as sources with IMG.0105, as documented', async () => {
      for (const [p, b] of [
        ['/v2/cloudimages/action', { name: 'srv', instance_id: 'b0a3e9b4-0d3f-4f43-9a5f-5e0f5b1a2c3d' }],
        ['/v2/cloudimages/action', { name: 'vol', volume_id: 'b0a3e9b4-0d3f-4f43-9a5f-5e0f5b1a2c3d' }],
        ['/v2/cloudimages/action', { data_images: [{ name: 'd', volume_id: 'x' }] }],
        ['/v2.1/cloudimages/action', { name: 'srv', instance_id: 'x' }],
        ['/v1/cloudimages/wholeimages/action', { name: 'whole', backup_id: 'x' }],
        ['/v1/cloudimages/wholeimages/action', { name: 'whole', instance_id: 'x' }],
      ] as const) {
        const err = await expectImsError(await post(owner, p, b), 400, 'IMG.0105');
        expect(err.error.message).toContain('not available in this deployment');
      }
    });

    it("refuses objects that do not exist, buckets not granted, another project's bucket and the image store's own bucket", async () => {
      const create = (caller: Caller, url: string) =>
        post(caller, '/v2/cloudimages/action', { name: 'x', image_url: url, min_disk: 1 });
      const reader = await s.tokenFor('obj-owner', 'rita', 'reader');
      await expectImsError(await create(reader, `${BUCKET_A}:${prefix}/disk.raw`), 403, 'IMG.0026');
      await expectImsError(await create(owner, `${BUCKET_A}:${prefix}/missing.raw`), 400, 'IMG.0057');
      await expectImsError(await create(owner, `${BUCKET_B}:${prefix}/disk.raw`), 403, 'IMG.0069');
      await put(BUCKET_B, `${prefix}/theirs.raw`, raw);
      await expectImsError(await create(owner, `${BUCKET_B}:${prefix}/theirs.raw`), 403, 'IMG.0069');
      await expectImsError(await create(other, `${BUCKET_A}:${prefix}/disk.raw`), 403, 'IMG.0069');
      await expectImsError(await create(owner, 'never-granted-bucket:x.raw'), 403, 'IMG.0069');
      // An operator's mistake, written past the CLI's refusal: the image store's bucket stays out of reach.
      await s.server.db.kysely
        .insertInto('project_buckets')
        .values({ project_id: owner.projectId, bucket: server!.bucket, granted_at: new Date().toISOString() })
        .execute();
      const imageWithData = await activeImage(s, owner);
      const stored = (await storedFiles(s.dataDir)).find((k) => k.startsWith('images/objects/'))!;
      const storeKey = `${s.config.s3!.keyPrefix}${stored.slice('images/objects/'.length)}`;
      await expectImsError(await create(owner, `${server!.bucket}:${storeKey}.raw`), 403, 'IMG.0069');
      const made = await s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'steal', disk_format: 'raw', container_format: 'bare' },
      });
      const queued = ((await made.json()) as Json).id as string;
      await expectImsError(
        await s.request('PUT', `/v1/cloudimages/${queued}/upload`, {
          token: owner.token,
          body: { image_url: `${server!.bucket}:${storeKey}` },
        }),
        403,
        'IMG.0069',
      );
      await expectImsError(
        await post(owner, `/v1/cloudimages/${imageWithData}/file`, {
          bucket_url: `${server!.bucket}:${prefix}/leak.raw`,
          is_quick_export: true,
        }),
        403,
        'IMG.0069',
      );
    });

    it('refuses a crafted disk image in the job: the image is killed and nothing is left in the store', async () => {
      await put(
        BUCKET_A,
        `${prefix}/evil.qcow2`,
        await qcow2('evil.qcow2', ['-u', '-b', '/etc/passwd', '-F', 'raw', '-o', 'size=1M']),
      );
      await put(BUCKET_A, `${prefix}/liar.qcow2`, raw);
      await put(BUCKET_A, `${prefix}/big.qcow2`, await qcow2('big.qcow2', ['-o', 'size=3G']));
      for (const [file, code] of [
        ['evil.qcow2', 'IMG.0057'],
        ['liar.qcow2', 'IMG.0057'],
        ['big.qcow2', 'IMG.0055'],
      ] as const) {
        const before = await storedFiles(s.dataDir);
        const job = await jobOf(
          owner,
          await post(owner, '/v2/cloudimages/action', {
            name: 'evil',
            image_url: `${BUCKET_A}:${prefix}/${file}`,
            min_disk: 1,
          }),
        );
        expect(job.status, JSON.stringify(job)).toBe('FAIL');
        expect(job.error_code, JSON.stringify(job)).toBe(code);
        expect((await imageOf(owner, job.entities.image_id as string)).status).toBe('killed');
        expect(await storedFiles(s.dataDir)).toEqual(before);
      }
    });

    it('registers a file into a queued image made with POST /v2/images', async () => {
      const made = await s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'reg', disk_format: 'raw', container_format: 'bare', visibility: 'private' },
      });
      const id = ((await made.json()) as Json).id as string;
      await expectImsError(
        await s.request('PUT', `/v1/cloudimages/${id}/upload`, {
          token: owner.token,
          body: { image_url: 7 },
        }),
        400,
        'IMG.0001',
      );
      await expectImsError(
        await s.request('PUT', `/v1/cloudimages/${id}/upload`, {
          token: other.token,
          body: { image_url: `${BUCKET_B}:${prefix}/theirs.raw` },
        }),
        404,
        'IMG.0027',
      );
      const job = await jobOf(
        owner,
        await s.request('PUT', `/v1/cloudimages/${id}/upload`, {
          token: owner.token,
          body: { image_url: `${BUCKET_A}:${prefix}/disk.raw` },
        }),
      );
      expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
      expect(job.job_type).toBe('imsNativeImportImageJob');
      const image = await imageOf(owner, id);
      expect([image.status, image.__isregistered]).toEqual(['active', 'true']);
      expect(await download(owner, id)).toEqual(raw);
      await expectImsError(
        await s.request('PUT', `/v1/cloudimages/${id}/upload`, {
          token: owner.token,
          body: { image_url: `${BUCKET_A}:${prefix}/disk.raw` },
        }),
        400,
        'IMG.0046',
      );
    });

    it('a register waiting for its job stays saving through a reaper sweep, then the job fills it', async () => {
      // No worker here: the job waits in the queue while the reaper sweeps.
      const idle = await startTestServer(await serverEnv());
      try {
        const caller = await idle.tokenFor('obj-idle', 'ida', 'member');
        await runAdmin(idle.config, ['bucket', 'grant', caller.projectId, BUCKET_A], { write: () => 0 });
        const made = await idle.request('POST', '/v2/images', {
          token: caller.token,
          body: { name: 'waiting', disk_format: 'raw', container_format: 'bare', visibility: 'private' },
        });
        const id = ((await made.json()) as Json).id as string;
        const res = await idle.request('PUT', `/v1/cloudimages/${id}/upload`, {
          token: caller.token,
          body: { image_url: `${BUCKET_A}:${prefix}/disk.raw` },
        });
        expect(res.status).toBe(200);
        const jobId = ((await res.json()) as Json).job_id as string;
        const stores = new StoreRegistry([['default', idle.server.store]]);
        const repos = new Repositories(idle.server.db.kysely);
        const later = { now: () => new Date(Date.now() + 3600_000) };
        const { reaper } = createMaintenance(idle.server.db, {
          repos,
          clock: later,
          config: idle.config,
          stores,
        });
        expect((await reaper.reap()).uploads).toBe(0);
        expect((await repos.images.find(id))?.status).toBe('saving');
        const upload = await idle.request('PUT', `/v2/images/${id}/file`, {
          token: caller.token,
          body: 'x',
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(upload.status).toBe(409);

        const worker = startWorkers({ db: idle.server.db, config: idle.config, stores });
        try {
          let job: Json = {};
          for (let i = 0; i < 800 && job.status !== 'SUCCESS' && job.status !== 'FAIL'; i++) {
            await new Promise((done) => setTimeout(done, 25));
            const r = await idle.request('GET', `/v1/${caller.projectId}/jobs/${jobId}`, {
              token: caller.token,
            });
            job = (await r.json()) as Json;
          }
          expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
        } finally {
          await worker.stop();
        }
        expect((await repos.images.find(id))?.status).toBe('active');
        // Once the job has ended, its lease protects nothing: a saving image would be reaped again.
        expect((await reaper.reap()).uploads).toBe(0);
      } finally {
        await idle.close();
      }
    });

    it('exports as stored and converted by qemu-img, only to a new object of a granted bucket', async () => {
      const job = await jobOf(
        owner,
        await post(owner, '/v2/cloudimages/action', {
          name: 'to-export',
          image_url: `${BUCKET_A}:${prefix}/disk.raw`,
          min_disk: 1,
        }),
      );
      const id = job.entities.image_id as string;
      const exp = (caller: Caller, body: unknown, p = '/v1') =>
        post(caller, `${p}/cloudimages/${id}/file`, body);
      const quick = await jobOf(
        owner,
        await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/out.raw`, is_quick_export: true }),
      );
      expect(quick.status, JSON.stringify(quick)).toBe('SUCCESS');
      expect(quick.job_type).toBe('imsNativeExportImageJob');
      expect(await get(BUCKET_A, `${prefix}/out.raw`)).toEqual(raw);

      const conv = await jobOf(
        owner,
        await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/out.qcow2`, file_format: 'qcow2' }, '/v2.1'),
      );
      expect(conv.status, JSON.stringify(conv)).toBe('SUCCESS');
      const file = path.join(work, 'exported.qcow2');
      await writeFile(file, await get(BUCKET_A, `${prefix}/out.qcow2`));
      const info = JSON.parse((await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', file])).stdout);
      expect(info.format).toBe('qcow2');
      expect(info['virtual-size']).toBe(raw.length);
      const back = path.join(work, 'back.raw');
      await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', file, back]);
      expect(await readFile(back)).toEqual(raw);

      await expectImsError(
        await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/out.raw`, is_quick_export: true }),
        400,
        'IMG.0070',
      );
      await expectImsError(
        await exp(owner, { bucket_url: `${BUCKET_B}:${prefix}/x.raw`, is_quick_export: true }),
        403,
        'IMG.0069',
      );
      await expectImsError(await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/x.raw` }), 400, 'IMG.0001');
      await expectImsError(
        await exp(owner, {
          bucket_url: `${BUCKET_A}:${prefix}/x`,
          file_format: 'qcow2',
          is_quick_export: true,
        }),
        400,
        'IMG.0001',
      );
      await expectImsError(
        await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/x`, is_quick_export: 'true' }),
        400,
        'IMG.0001',
      );
      await expectImsError(
        await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/x.zvhd`, file_format: 'zvhd' }),
        400,
        'IMG.0072',
      );
      await expectImsError(
        await exp(owner, { bucket_url: `${BUCKET_A}:${prefix}/x.raw2`, file_format: 'raw2' }),
        400,
        'IMG.0072',
      );
      await expectImsError(
        await exp(other, { bucket_url: `${BUCKET_B}:${prefix}/stolen.raw`, is_quick_export: true }),
        404,
        'IMG.0027',
      );
    });

    it("an export that fails or dies mid-way leaves no multipart upload in the tenant's bucket; ims gc aborts only IMS's own", async () => {
      const big = randomBytes(12 * 1024 * 1024);
      await put(BUCKET_A, `${prefix}/big.raw`, big);
      const made = await jobOf(
        owner,
        await post(owner, '/v2/cloudimages/action', {
          name: 'big',
          image_url: `${BUCKET_A}:${prefix}/big.raw`,
          min_disk: 1,
        }),
      );
      const imageId = made.entities.image_id as string;
      const repos = new Repositories(s.server.db.kysely);
      // 5 MiB parts: the export of 12 MiB is a multipart upload from its second part on.
      const userStore = new UserObjectStore({
        endpoint: server!.endpoint,
        region: server!.region,
        forcePathStyle: true,
        credentials: { accessKeyId: server!.accessKeyId, secretAccessKey: server!.secretAccessKey },
        partSize: 5 * 1024 * 1024,
        concurrency: 2,
      });
      // The image store's bytes, stopped after 6 MiB (the upload has started): the stream then
      // fails when the test says so (a failed read), or never goes on (a dead process).
      const halted: Array<PassThrough> = [];
      const cutAfter = () => {
        const store = Object.create(s.server.store) as typeof s.server.store;
        store.read = async (key, range) => {
          const whole = await s.server.store.read(key, range);
          const out = new PassThrough();
          let sent = 0;
          whole.on('data', (chunk: Buffer) => {
            if (sent >= 6 * 1024 * 1024) return;
            sent += chunk.length;
            out.write(chunk);
            if (sent < 6 * 1024 * 1024) return;
            whole.destroy();
            halted.push(out);
          });
          return out;
        };
        return new StoreRegistry([['default', store]]);
      };
      const exporter = (stores: StoreRegistry) =>
        objectExportHandler(
          {
            repos,
            clock: systemClock,
            config: s.config,
            stores,
            ingest: new IngestPipeline(stores, s.config),
            quotas: new QuotaService(repos, systemClock, s.config.defaultQuota),
            userStore,
            leases: null,
          },
          EXPORT_IMAGE,
        );
      const pending = async () => {
        const out: string[] = [];
        for await (const u of userStore.pendingUploads(BUCKET_A, `${prefix}/exp-`)) out.push(u.key);
        return out.sort();
      };
      const recorded = async (jobId: string) => {
        for (let i = 0; i < 1000 && (await repos.userUploads.ofJob(jobId)).length === 0; i++)
          await new Promise((done) => setTimeout(done, 10));
        expect(await repos.userUploads.ofJob(jobId)).toHaveLength(1);
      };
      const newJob = async (key: string) => {
        const payload = { imageId, bucket: BUCKET_A, key: `${prefix}/${key}`, fileFormat: null };
        const job = await repos.jobs.enqueue(
          {
            id: randomBytes(16).toString('hex'),
            kind: EXPORT_IMAGE.name,
            projectId: owner.projectId,
            payload,
            maxAttempts: 5,
            // Run here, by hand, not by the server's worker.
            runAfter: new Date(Date.now() + 3600_000),
          },
          new Date(),
        );
        const run = (stores: StoreRegistry, attempt: number) =>
          exporter(stores)(
            { id: job.id, projectId: owner.projectId, payload, attempt },
            async () => {},
            new AbortController().signal,
          );
        return { job, run };
      };
      try {
        // A read that fails after the upload started: the run aborts its upload and forgets it.
        const failing = await newJob('exp-fail.raw');
        const failed = failing.run(cutAfter(), 1);
        await recorded(failing.job.id);
        expect(await pending()).toEqual([`${prefix}/exp-fail.raw`]);
        halted.pop()!.destroy(new Error('read failed'));
        await expect(failed).rejects.toThrow();
        expect(await pending()).toEqual([]);
        expect(await repos.userUploads.ofJob(failing.job.id)).toEqual([]);

        // A run that dies mid-way: the job's next run aborts its upload, then exports.
        const retried = await newJob('exp-retry.raw');
        void retried.run(cutAfter(), 1).catch(() => {});
        await recorded(retried.job.id);
        expect(await pending()).toEqual([`${prefix}/exp-retry.raw`]);
        const second = await retried.run(new StoreRegistry([['default', s.server.store]]), 2);
        expect(second.size).toBe(big.length);
        expect(await pending()).toEqual([]);
        expect((await get(BUCKET_A, `${prefix}/exp-retry.raw`)).equals(big)).toBe(true);
        expect(await repos.userUploads.ofJob(retried.job.id)).toEqual([]);

        // A job given up after its worker died on every attempt: onAbandoned aborts its upload.
        const abandoned = await newJob('exp-abandoned.raw');
        void abandoned.run(cutAfter(), 1).catch(() => {});
        await recorded(abandoned.job.id);
        const registry = createJobRegistry({
          repos,
          clock: systemClock,
          config: s.config,
          stores: new StoreRegistry([['default', s.server.store]]),
        });
        await registry.get(EXPORT_IMAGE.name)!.onAbandoned!(abandoned.job);
        expect(await pending()).toEqual([]);

        // A dead run of a job that then failed: ims gc aborts its upload, and not the tenant's own.
        const dead = await newJob('exp-dead.raw');
        void dead.run(cutAfter(), 1).catch(() => {});
        await recorded(dead.job.id);
        const tenants = await s3.send(
          new CreateMultipartUploadCommand({ Bucket: BUCKET_A, Key: `${prefix}/exp-tenant.raw` }),
        );
        expect(await runGc(s.config, ['--grace', '1h'])).toBe(0);
        // Its job still runs (as far as the database knows): gc leaves the upload to the job.
        expect(await pending()).toEqual([`${prefix}/exp-dead.raw`, `${prefix}/exp-tenant.raw`]);
        await s.server.db.kysely
          .updateTable('jobs')
          .set({ status: 'FAIL' })
          .where('id', '=', dead.job.id)
          .execute();
        expect(await runGc(s.config, ['--grace', '1h'])).toBe(0);
        expect(await pending()).toEqual([`${prefix}/exp-tenant.raw`]);
        expect(await repos.userUploads.ofJob(dead.job.id)).toEqual([]);
        await userStore.abortUpload(BUCKET_A, `${prefix}/exp-tenant.raw`, tenants.UploadId!);
      } finally {
        for (const stream of halted) stream.destroy(new Error('test over'));
        userStore.close();
      }
    });

    it('an import job taken again finishes once: after its commit, and over what a dead run left', async () => {
      const repos = new Repositories(s.server.db.kysely);
      const registry = createJobRegistry({
        repos,
        clock: systemClock,
        config: s.config,
        stores: new StoreRegistry([['default', s.server.store]]),
      });
      const handler = registry.get('imsImportImageJob')!.handler as JobHandler<Json, Json>;
      const runAgain = (id: string, payload: Json) =>
        handler(
          { id, projectId: owner.projectId, payload, attempt: 2 },
          async () => {},
          new AbortController().signal,
        );

      const done = await jobOf(
        owner,
        await post(owner, '/v2/cloudimages/action', {
          name: 'once',
          image_url: `${BUCKET_A}:${prefix}/disk.raw`,
          min_disk: 1,
        }),
      );
      const imageId = done.entities.image_id as string;
      const payload = {
        imageId,
        owner: owner.projectId,
        bucket: BUCKET_A,
        key: `${prefix}/disk.raw`,
        diskFormat: 'raw',
        minDisk: 1,
      };
      const before = await storedFiles(s.dataDir);
      const blobs = await s.server.db.kysely.selectFrom('blobs').select('id').execute();
      expect(await runAgain(done.job_id as string, payload)).toEqual({ imageId });
      expect(await storedFiles(s.dataDir)).toEqual(before);
      expect(await s.server.db.kysely.selectFrom('blobs').select('id').execute()).toHaveLength(blobs.length);

      // A run that died after writing its object and before its transaction: the image is saving.
      const made = await s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'crashed', disk_format: 'raw', container_format: 'bare' },
      });
      const crashed = ((await made.json()) as Json).id as string;
      await repos.images.transition(crashed, ['queued'], 'saving', new Date().toISOString());
      const jobId = randomBytes(16).toString('hex');
      const leftover = await s.server.store.openWriter(`images/${derivedBlobId(jobId, 'object-file')}`);
      leftover.stream.end(Buffer.from('half of an earlier run'));
      await leftover.commit();
      const withLeftover = await storedFiles(s.dataDir);
      expect(await runAgain(jobId, { ...payload, imageId: crashed })).toEqual({ imageId: crashed });
      const image = await imageOf(owner, crashed);
      expect(image.status).toBe('active');
      expect(await download(owner, crashed)).toEqual(raw);
      expect(await storedFiles(s.dataDir)).toEqual(withLeftover);
    });
  },
);
