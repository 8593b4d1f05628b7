/**
 * Images from and to the tenants' object store, end to end through the API:
 * `eval "$(../shared/services/s3-up.sh)"; npx tsx bench/ims-object-file.ts [--mib 256]`.
 * Not part of CI; prints figures.
 *
 * An in-process server (API and worker, SQLite, images on files under a temp dir) with the S3
 * server from the environment as the tenants' store. Puts a raw file of MIB MiB (random bytes,
 * so nothing compresses) into bucket ims-bench, then times until the job says SUCCESS:
 * `POST /v2/cloudimages/action` (object → inspector → image store), a quick export
 * (image store → object) and an export converted to qcow2 by qemu-img.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { migrate, openDatabase } from '../src/adapters/db/database.ts';
import { Repositories } from '../src/adapters/db/repositories.ts';
import { createS3Client } from '../src/adapters/storage/s3-client.ts';
import { loadConfig } from '../src/config/config.ts';
import { createServer } from '../src/server.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '256' } } });
const MIB = Number(values.mib);
const BUCKET = 'ims-bench';
const env = process.env;
if (!env.S3_ENDPOINT) throw new Error('needs S3_ENDPOINT: eval "$(../shared/services/s3-up.sh)" first');

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ims-bench-obj-'));
const config = loadConfig({
  IMS_DATA_DIR: dataDir,
  IMS_PORT: '0',
  IMS_ADMIN_PASSWORD: 'bench-admin-password',
  IMS_LOG_LEVEL: 'silent',
  IMS_USER_S3_ENDPOINT: env.S3_ENDPOINT,
  IMS_USER_S3_REGION: env.S3_REGION ?? 'us-east-1',
  IMS_USER_S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY_ID ?? '',
  IMS_USER_S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY ?? '',
  IMS_USER_S3_FORCE_PATH_STYLE: 'true',
});
const server = await createServer(config, { logger: false, worker: true });
await server.app.listen({ host: '127.0.0.1', port: 0 });
const address = server.app.server.address();
const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const s3 = createS3Client({
  endpoint: env.S3_ENDPOINT,
  region: env.S3_REGION ?? 'us-east-1',
  forcePathStyle: true,
  credentials: { accessKeyId: env.S3_ACCESS_KEY_ID ?? '', secretAccessKey: env.S3_SECRET_ACCESS_KEY ?? '' },
});

try {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch((err: { name?: string }) => {
    if (err.name !== 'BucketAlreadyOwnedByYou') throw err;
  });
  const key = `bench-${randomBytes(4).toString('hex')}`;
  const chunk = randomBytes(1024 * 1024);
  await new Upload({
    client: s3,
    params: {
      Bucket: BUCKET,
      Key: `${key}/disk.raw`,
      Body: Readable.from(
        (function* () {
          for (let i = 0; i < MIB; i++) yield chunk;
        })(),
      ),
    },
    partSize: 16 * 1024 * 1024,
  }).done();

  const tokenRes = await fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: 'bench-admin-password' } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
  });
  const token = tokenRes.headers.get('x-subject-token')!;
  const projectId = ((await tokenRes.json()) as { token: { project: { id: string } } }).token.project.id;
  const db = openDatabase(config.databaseUrl, config.dataDir);
  await migrate(db);
  await new Repositories(db.kysely).buckets.grant(projectId, BUCKET, new Date().toISOString());
  await db.close();

  const timed = async (label: string, p: string, body: unknown): Promise<string> => {
    const start = performance.now();
    const res = await fetch(`${url}${p}`, {
      method: 'POST',
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const { job_id } = (await res.json()) as { job_id: string };
    for (;;) {
      const job = (await (
        await fetch(`${url}/v1/${projectId}/jobs/${job_id}`, { headers: { 'x-auth-token': token } })
      ).json()) as { status: string; entities: { image_id: string }; fail_reason?: string };
      if (job.status === 'FAIL') throw new Error(`${label}: ${job.fail_reason}`);
      if (job.status === 'SUCCESS') {
        const s = (performance.now() - start) / 1000;
        console.log(`${label.padEnd(34)} ${s.toFixed(2)} s  ${(MIB / s).toFixed(0)} MiB/s`);
        return job.entities.image_id;
      }
      await new Promise((done) => setTimeout(done, 20));
    }
  };
  console.log(`${MIB} MiB raw file, tenants' store ${env.S3_ENDPOINT}, image store on files`);
  // Baseline: the same bytes through the Glance upload, the pipeline without the object store.
  const made = await fetch(`${url}/v2/images`, {
    method: 'POST',
    headers: { 'x-auth-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'baseline', disk_format: 'raw', container_format: 'bare' }),
  });
  const baseline = ((await made.json()) as { id: string }).id;
  const start = performance.now();
  const up = await fetch(`${url}/v2/images/${baseline}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' },
    body: Readable.toWeb(
      Readable.from(
        (function* () {
          for (let i = 0; i < MIB; i++) yield chunk;
        })(),
      ),
    ) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  if (up.status !== 204) throw new Error(`baseline upload: ${up.status}`);
  const up_s = (performance.now() - start) / 1000;
  console.log(
    `${'baseline: Glance PUT /file'.padEnd(34)} ${up_s.toFixed(2)} s  ${(MIB / up_s).toFixed(0)} MiB/s`,
  );
  const id = await timed('import (POST /v2/cloudimages/action)', '/v2/cloudimages/action', {
    name: 'bench',
    image_url: `${BUCKET}:${key}/disk.raw`,
    min_disk: 1,
  });
  await timed('quick export', `/v1/cloudimages/${id}/file`, {
    bucket_url: `${BUCKET}:${key}/out.raw`,
    is_quick_export: true,
  });
  await timed('export converted to qcow2', `/v1/cloudimages/${id}/file`, {
    bucket_url: `${BUCKET}:${key}/out.qcow2`,
    file_format: 'qcow2',
  });
} finally {
  s3.destroy();
  await server.close();
  await rm(dataDir, { recursive: true, force: true });
}
