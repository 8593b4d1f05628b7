/**
 * The IMS routes of images from and to the tenants' object store, driven by the
 * real Huawei Cloud SDK core with AK/SK signatures, as code written for Huawei
 * IMS calls them: CreateImage (with data_images), CreateDataImageInSafeMode, ImportImageQuick,
 * CreateWholeImage (refused: IMG.0105), ShowJob and ShowJobProgress,
 * GlanceCreateImageMetadata + RegisterImage, ExportImage, CopyImageInRegion,
 * ShowImageQuota, ListOsVersions and GlanceDeleteImage, and a signed hostile
 * request answered in the Huawei error shape. Needs S3_ENDPOINT (s3-up.sh).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { sdkCall, signedUser, type HttpRequestOptions, type SignedUser } from '../helpers/huawei-sdk.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/cli/bucket-command.ts';
import { s3TestEnv, s3TestServer, tenantS3Client, tenantStoreEnv } from '../helpers/s3.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const server = s3TestServer();
const BUCKET = 'ims-tenant-sdk';
const prefix = `sdk-${randomBytes(4).toString('hex')}`;
const disk = Buffer.concat([Buffer.from('not a header'), randomBytes(48 * 1024)]);

let s: TestServer;
let s3: S3Client;
let home: string;
let savedHome: string | undefined;

type Signed = SignedUser;

/** Sends an async request and follows its job with ShowJob; ShowJobProgress must agree at the end. */
async function job(who: Signed, request: Partial<HttpRequestOptions>): Promise<Json> {
  const res = await sdkCall(who.client, request);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const jobId = res.body.job_id as string;
  for (let i = 0; i < 800; i++) {
    const shown = await sdkCall(who.client, { url: `/v1/${who.projectId}/jobs/${jobId}` });
    expect(shown.status).toBe(200);
    if (shown.body.status === 'SUCCESS' || shown.body.status === 'FAIL') {
      const progress = await sdkCall(who.client, { url: `/v1/cloudimages/job/${jobId}` });
      expect(progress.status).toBe(200);
      expect(progress.body.status).toBe(shown.body.status);
      return shown.body;
    }
    await new Promise((done) => setTimeout(done, 25));
  }
  throw new Error(`job ${jobId} did not end`);
}

async function image(who: Signed, id: string): Promise<Json> {
  const res = await sdkCall(who.client, { url: '/v2/cloudimages', queryParams: { id } });
  expect(res.status).toBe(200);
  return (res.body.images as Json[])[0]!;
}

describe.skipIf(!server)(
  `IMS object-store routes with the Huawei SDK (${TEST_DB}; needs S3_ENDPOINT)`,
  () => {
    beforeAll(async () => {
      savedHome = process.env.HOME;
      home = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-sdk-home-'));
      process.env.HOME = home;
      s = await startTestServer(
        {
          ...(await s3TestEnv()),
          ...tenantStoreEnv(server!),
        },
        { worker: true },
      );
      s3 = await tenantS3Client(server!, [BUCKET]);
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/disk.raw`, Body: disk }));
    }, 60_000);
    afterAll(async () => {
      s3?.destroy();
      await s?.close();
      process.env.HOME = savedHome;
      if (home) await fs.rm(home, { recursive: true, force: true });
    });

    it('creates, registers, exports, copies and deletes images with signed requests', async () => {
      const who = await signedUser(s, 'sdk-files', 'sdk-fiona');
      const quiet = { write: () => 0 };
      expect(await runAdmin(s.config, ['bucket', 'grant', who.projectId, BUCKET], quiet, quiet)).toBe(0);
      const url = `${BUCKET}:${prefix}/disk.raw`;

      const versions = await sdkCall(who.client, {
        url: '/v1/cloudimages/os_version',
        queryParams: { tag: 'x86' },
      });
      expect(versions.status).toBe(200);
      const quota = await sdkCall(who.client, { url: '/v1/cloudimages/quota' });
      expect(quota.body.quotas.resources).toEqual(
        expect.arrayContaining([expect.objectContaining({ type: 'image', used: 0 })]),
      );

      // CreateImage: a system image and a data-disk image from files, one job.
      const created = await job(who, {
        method: 'POST',
        url: '/v2/cloudimages/action',
        data: {
          name: 'sdk-system',
          image_url: url,
          min_disk: 1,
          os_version: 'CentOS 7.6 64bit',
          data_images: [{ name: 'sdk-data', image_url: url, min_disk: 1 }],
        },
      });
      expect(created).toMatchObject({ status: 'SUCCESS', job_type: 'imsImportImageJob' });
      const [sys, data] = (created.entities.sub_jobs_result as Json[]).map(
        (r) => r.entities.image_id as string,
      );
      expect((await image(who, sys!)).virtual_env_type).toBe('FusionCompute');
      expect((await image(who, data!)).virtual_env_type).toBe('DataImage');
      const safeMode = await job(who, {
        method: 'POST',
        url: '/v2.1/cloudimages/dataimages/action',
        data: { name: 'sdk-data-v21', image_url: url, min_disk: 40, os_type: 'Linux' },
      });
      expect(safeMode).toMatchObject({ status: 'SUCCESS', job_type: 'imsImportDataImageJob' });
      expect((await image(who, safeMode.entities.image_id as string)).virtual_env_type).toBe('DataImage');

      // ImportImageQuick (a RAW file), and CreateWholeImage refused: no server or backup here.
      const quick = await job(who, {
        method: 'POST',
        url: '/v2/cloudimages/quickimport/action',
        data: { name: 'sdk-quick', image_url: url, min_disk: 1, os_version: 'CentOS 7.6 64bit' },
      });
      expect(quick).toMatchObject({ status: 'SUCCESS', job_type: 'imsImportImageJob' });
      const whole = await sdkCall(who.client, {
        method: 'POST',
        url: '/v1/cloudimages/wholeimages/action',
        data: { name: 'sdk-whole', instance_id: 'b0a3e9b4-0d3f-4f43-9a5f-5e0f5b1a2c3d' },
      });
      expect([whole.status, whole.body.errorCode ?? whole.body.error_code]).toEqual([400, 'IMG.0105']);

      // GlanceCreateImageMetadata, then RegisterImage.
      const meta = await sdkCall(who.client, {
        method: 'POST',
        url: '/v2/images',
        data: { name: 'sdk-registered', disk_format: 'raw', container_format: 'bare', visibility: 'private' },
      });
      expect(meta.status, JSON.stringify(meta.body)).toBe(201);
      const registered = await job(who, {
        method: 'PUT',
        url: `/v1/cloudimages/${meta.body.id}/upload`,
        data: { image_url: url },
      });
      expect(registered).toMatchObject({ status: 'SUCCESS', job_type: 'imsNativeImportImageJob' });
      expect((await image(who, meta.body.id as string)).status).toBe('active');

      // ExportImage, then the file is the image's bytes.
      const exported = await job(who, {
        method: 'POST',
        url: `/v1/cloudimages/${sys}/file`,
        data: { bucket_url: `${BUCKET}:${prefix}/out.raw`, is_quick_export: true },
      });
      expect(exported).toMatchObject({ status: 'SUCCESS', job_type: 'imsNativeExportImageJob' });
      const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}/out.raw` }));
      expect(Buffer.from(await out.Body!.transformToByteArray()).equals(disk)).toBe(true);

      // CopyImageInRegion, then GlanceDeleteImage of the source keeps the copy.
      const copied = await job(who, {
        method: 'POST',
        url: `/v1/cloudimages/${sys}/copy`,
        data: { name: 'sdk-copy', description: 'copied by the SDK' },
      });
      expect(copied).toMatchObject({ status: 'SUCCESS', job_type: 'imsCopyImageInRegionJob' });
      const copyId = copied.entities.image_id as string;
      // IMS's GlanceDeleteImage may carry {"delete_backup": bool}: there are no backups here to delete.
      const deleted = await sdkCall(who.client, {
        method: 'DELETE',
        url: `/v2/images/${sys}`,
        data: { delete_backup: false },
      });
      expect(deleted.status).toBe(204);
      expect((await image(who, copyId)).status).toBe('active');
      const after = await sdkCall(who.client, { url: '/v1/cloudimages/quota' });
      expect(after.body.quotas.resources).toEqual(
        expect.arrayContaining([expect.objectContaining({ type: 'image', used: 5 })]),
      );

      // Hostile, signed: a bucket never granted, and a boolean where IMS wants a string.
      const notGranted = await sdkCall(who.client, {
        method: 'POST',
        url: '/v2/cloudimages/action',
        data: { name: 'x', image_url: 'someone-elses:disk.raw', min_disk: 1 },
      });
      expect(notGranted.status).toBe(403);
      expect(notGranted.body.errorCode ?? notGranted.body.error_code).toBe('IMG.0069');
      const wrongType = await sdkCall(who.client, {
        method: 'POST',
        url: '/v2/cloudimages/action',
        data: { name: 'x', image_url: url, min_disk: 1, is_quick_import: 'true' },
      });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.errorCode ?? wrongType.body.error_code).toBe('IMG.0001');
    });
  },
);
