/**
 * The built `ims` against a server with the tenants' object store (the S3 server of
 * ../shared/services/s3-up.sh) and job workers: image import --object, image export with and
 * without conversion, job list of the image, and the refusals (bucket not granted, object
 * already there, bad arguments) with their exit codes; cross-region copy to an unknown region.
 * Skipped only when no S3 server is configured (never in CI).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/cli/bucket-command.ts';
import { cliRunner, hasTerminalControl, type CliRunner } from '../helpers/cli.ts';
import { s3TestEnv, s3TestServer, tenantS3Client, tenantStoreEnv } from '../helpers/s3.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const server = s3TestServer();
const BUCKET = 'ims-cli-tenant';
const FOREIGN_BUCKET = 'ims-cli-foreign';
const prefix = `cli-${randomBytes(4).toString('hex')}`;
const FAST = { env: { IMS_PROGRESS_INTERVAL: '0.000001' } };

let s: TestServer;
let s3: S3Client;
let owner: CliRunner;
let token: string;

async function object(key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

describe.skipIf(!server)(
  `ims image import --object, image export, job list (${TEST_DB}; needs S3_ENDPOINT from s3-up.sh)`,
  { timeout: 240_000 },
  () => {
    let imageId: string;

    beforeAll(async () => {
      s = await startTestServer(
        {
          ...(await s3TestEnv()),
          ...tenantStoreEnv(server!),
        },
        { worker: true },
      );
      s3 = await tenantS3Client(server!, [BUCKET, FOREIGN_BUCKET]);
      const user = await s.tokenFor('cli-objects', 'otto', 'member');
      token = user.token;
      owner = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: user.token, IMS_PROJECT_ID: user.projectId });
      const quiet = { write: () => {} };
      expect(await runAdmin(s.config, ['bucket', 'grant', user.projectId, BUCKET], quiet, quiet)).toBe(0);
      const file = path.join(owner.home, 'disk.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M']);
      await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/disk.qcow2`, Body: await fs.readFile(file) }),
      );
    }, 120_000);
    afterAll(async () => {
      s3?.destroy();
      await owner?.cleanup();
      await s?.close();
    });

    it('imports from the object store and waits: plain progress lines, then the active image as JSON', async () => {
      const r = await owner.run(
        [
          'image',
          'import',
          'from-bucket',
          '--object',
          `${BUCKET}:${prefix}/disk.qcow2`,
          '--min-disk',
          '1',
          '--os-type',
          'Linux',
          '--description',
          'made by the CLI',
          '--wait',
          '--interval',
          '0.2',
          '-o',
          'json',
        ],
        FAST,
      );
      expect(r.code, r.stderr).toBe(0);
      const image = JSON.parse(r.stdout) as Json;
      expect(image).toMatchObject({ name: 'from-bucket', status: 'active', disk_format: 'qcow2' });
      expect(hasTerminalControl(r.stderr)).toBe(false);
      expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^import [0-9a-f]{32}: SUCCESS$/);
      imageId = image.id as string;
    });

    it('registers the file into a queued image with --image (IMS RegisterImage)', async () => {
      const queued = (await (
        await s.request('POST', '/v2/images', {
          token: token,
          body: { name: 'registered', disk_format: 'qcow2', container_format: 'bare' },
        })
      ).json()) as Json;
      const r = await owner.run(
        [
          'image',
          'import',
          '--image',
          queued.id,
          '--object',
          `${BUCKET}:${prefix}/disk.qcow2`,
          '--wait',
          '-o',
          'json',
        ],
        FAST,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ id: queued.id, status: 'active', disk_format: 'qcow2' });
      const mixed = await owner.run([
        'image',
        'import',
        '--image',
        queued.id,
        '--object',
        'b:o.qcow2',
        '--min-disk',
        '1',
      ]);
      expect(mixed.code).toBe(2);
      expect(mixed.stderr).toMatch(/no other options/);
    });

    it('exports with conversion (--wait) and unchanged (no --format), then lists the image’s jobs', async () => {
      const vmdk = await owner.run(
        [
          'image',
          'export',
          imageId,
          '--bucket',
          BUCKET,
          '--object',
          `${prefix}/out.vmdk`,
          '--format',
          'vmdk',
          '--wait',
          '--interval',
          '0.2',
          '-o',
          'json',
        ],
        FAST,
      );
      expect(vmdk.code, vmdk.stderr).toBe(0);
      expect(JSON.parse(vmdk.stdout)).toMatchObject({
        status: 'SUCCESS',
        job_type: 'imsNativeExportImageJob',
      });
      expect((await object(`${prefix}/out.vmdk`)).subarray(0, 4).toString('latin1')).toBe('KDMV');

      const quick = await owner.json<Json>([
        'image',
        'export',
        'from-bucket',
        '--bucket',
        BUCKET,
        '--object',
        `${prefix}/same.qcow2`,
        '-o',
        'json',
      ]);
      expect(quick.job_id).toMatch(/^[0-9a-f]{32}$/);
      const waited = await owner.json<Json>(['job', 'wait', quick.job_id, '--interval', '0.2', '-o', 'json']);
      expect(waited.status).toBe('SUCCESS');
      expect((await object(`${prefix}/same.qcow2`)).subarray(0, 4).toString('latin1')).toBe('QFI\u00fb');

      const jobs = await owner.json<Json[]>(['job', 'list', '--image', imageId, '-o', 'json']);
      expect(jobs.map((j) => j.job_type)).toEqual([
        'imsNativeExportImageJob',
        'imsNativeExportImageJob',
        'imsImportImageJob',
      ]);
      expect(jobs[0]!.job_id).toBe(quick.job_id);
    });

    it('refuses what the server refuses (exit 1 or 5) and bad arguments before any request (exit 2)', async () => {
      const foreign = await owner.run([
        'image',
        'export',
        imageId,
        '--bucket',
        FOREIGN_BUCKET,
        '--object',
        'x.qcow2',
        '--format',
        'qcow2',
      ]);
      expect(foreign.code).toBe(1);
      expect(foreign.stderr).toMatch(/IMG\.0069/);
      const again = await owner.run([
        'image',
        'export',
        imageId,
        '--bucket',
        BUCKET,
        '--object',
        `${prefix}/out.vmdk`,
        '--format',
        'vmdk',
        '--wait',
      ]);
      expect([1, 5]).toContain(again.code);
      expect(again.stderr).toMatch(/IMG\.0070|exists/);
      const notGranted = await owner.run([
        'image',
        'import',
        'nope',
        '--object',
        `${FOREIGN_BUCKET}:disk.qcow2`,
      ]);
      expect(notGranted.code).toBe(1);
      expect(notGranted.stderr).toMatch(/IMG\.0069/);

      for (const [args, message] of [
        [['image', 'export', imageId, '--object', 'o'], /--bucket is required/],
        [['image', 'export', imageId, '--bucket', BUCKET], /--object is required/],
        [
          ['image', 'export', imageId, '--bucket', BUCKET, '--object', 'o', '--format', 'raw'],
          /--format must be/,
        ],
        [['image', 'import', 'x', '--object', 'no-colon'], /BUCKET:OBJECT/],
        [['image', 'import', 'x', '--object', 'b:o', '--url', 'https://example.com/a'], /not both/],
        [['image', 'import', 'x', '--object', 'b:o', '--os-type', 'BeOS'], /--os-type must be/],
        [['image', 'import', 'x', '--url', 'https://example.com/a', '--min-disk', '1'], /goes with --object/],
        [['image', 'copy', imageId, 'c', '--region', 'r2'], /--project-name and --agency/],
        [['image', 'copy', imageId, 'c', '--agency', 'a'], /go with --region/],
      ] as const) {
        const r = await owner.run([...args]);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stdout).toBe('');
      }
    });

    it('sends a cross-region copy to the server, which names its peers', async () => {
      const r = await owner.run([
        'image',
        'copy',
        imageId,
        'far-copy',
        '--region',
        'nowhere-1',
        '--project-name',
        'nowhere-1',
        '--agency',
        'ims_agency',
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/nowhere-1 is not a peer/);
    });

    it('documents the new options in --help', async () => {
      const help = async (...args: string[]) => (await owner.run([...args, '--help'])).stdout;
      expect(await help('image', 'export')).toMatch(/--bucket[\s\S]*--object[\s\S]*--format[\s\S]*--wait/);
      expect(await help('image', 'import')).toMatch(/--object BUCKET:OBJECT/);
      expect(await help('image', 'copy')).toMatch(/--region[\s\S]*--project-name[\s\S]*--agency/);
    });
  },
);
