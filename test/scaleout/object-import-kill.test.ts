/**
 * Done-when of issue 5: an IMS job whose worker process is SIGKILLed mid-way is
 * finished by another worker with attempts = 2 and correct data. The job is a
 * real one (an image from a file of the tenants' object store, S3 on both
 * sides), run by `ims worker` processes on the test server's database; the API
 * runs no worker. Needs S3_ENDPOINT (s3-up.sh) and the built binary.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { runAdmin } from '../../src/cli/bucket-command.ts';
import { poll, startWorker, type ImsProcess } from '../helpers/processes.ts';
import { s3TestEnv, s3TestServer, tenantS3Client, tenantStoreEnv } from '../helpers/s3.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const server = s3TestServer();
const BUCKET = 'ims-tenant-kill';
const SIZE = 96 * 1024 * 1024;

let s: TestServer;
let env: Record<string, string>;
const workers: ImsProcess[] = [];

describe.skipIf(!server)(
  `an IMS import job survives its worker's SIGKILL (${TEST_DB}; needs S3_ENDPOINT)`,
  () => {
    beforeAll(async () => {
      env = {
        ...(await s3TestEnv()),
        ...tenantStoreEnv(server!),
        IMS_LEASE: '2s',
      };
      s = await startTestServer(env);
    }, 60_000);
    afterAll(async () => {
      for (const w of workers) await w.kill();
      await s?.close();
    });

    it(
      'is taken again after the kill and finishes with attempts = 2 and the file’s bytes',
      { timeout: 180_000 },
      async () => {
        const s3 = await tenantS3Client(server!, [BUCKET]);
        const file = randomBytes(SIZE);
        const key = `kill-${randomBytes(4).toString('hex')}/disk.raw`;
        try {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: file }));
        } finally {
          s3.destroy();
        }
        const who = await s.tokenFor('kill-project', 'kim', 'member');
        const quiet = { write: () => 0 };
        expect(await runAdmin(s.config, ['bucket', 'grant', who.projectId, BUCKET], quiet, quiet)).toBe(0);
        const res = await s.request('POST', '/v2/cloudimages/action', {
          token: who.token,
          body: { name: 'killed-mid-way', image_url: `${BUCKET}:${key}`, min_disk: 1 },
        });
        expect(res.status, await res.clone().text()).toBe(200);
        const jobId = ((await res.json()) as Json).job_id as string;
        const repos = new Repositories(s.server.db.kysely);

        const workerEnv = { ...env, IMS_DATABASE_URL: s.config.databaseUrl };
        const first = await startWorker({ ...workerEnv, IMS_DATA_DIR: s.dataDir }, 1);
        workers.push(first);
        // Mid-way: the job is reading the file (progress 10 is reported once the source is open).
        await poll(
          async () => {
            const job = await repos.jobs.find(jobId);
            return job?.status === 'RUNNING' && job.progress >= 10 ? job : undefined;
          },
          60_000,
          10,
        );
        await first.kill();
        const afterKill = await repos.jobs.find(jobId);
        expect(afterKill).toMatchObject({ status: 'RUNNING', attempts: 1 });

        const second = await startWorker({ ...workerEnv, IMS_DATA_DIR: s.dataDir }, 1);
        workers.push(second);
        const done = await poll(
          async () => {
            const job = await repos.jobs.find(jobId);
            return job?.status === 'SUCCESS' || job?.status === 'FAIL' ? job : undefined;
          },
          150_000,
          100,
        );
        expect(done, JSON.stringify(done)).toMatchObject({ status: 'SUCCESS', attempts: 2 });

        const shown = (await (
          await s.request('GET', `/v1/${who.projectId}/jobs/${jobId}`, { token: who.token })
        ).json()) as Json;
        expect(shown.status).toBe('SUCCESS');
        const imageId = shown.entities.image_id as string;
        const image = (await (
          await s.request('GET', `/v2/images/${imageId}`, { token: who.token })
        ).json()) as Json;
        expect([image.status, image.size]).toEqual(['active', SIZE]);
        expect(image.checksum).toBe(createHash('md5').update(file).digest('hex'));
        const download = await fetch(`${s.url}/v2/images/${imageId}/file`, {
          headers: { 'x-auth-token': who.token },
        });
        const md5 = createHash('md5');
        for await (const chunk of download.body!) md5.update(chunk as Uint8Array);
        expect(md5.digest('hex')).toBe(image.checksum);
        // One blob, no copy of the data from the killed run.
        const blobs = await s.server.db.kysely.selectFrom('blobs').select('id').execute();
        expect(blobs).toHaveLength(1);
      },
    );
  },
);
