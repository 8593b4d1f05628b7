/**
 * The console's jobs panel, export dialog and import from the object store in Debian's
 * chromium, against a server with job workers and the tenants' object store (the S3 server of
 * ../shared/services/s3-up.sh): the jobs come from GET /v1/{project_id}/jobs, so they are
 * there after a reload, with jobs started elsewhere (named by their type) and a failed job's
 * error; the export dialog checks its fields, shows the server's refusal with its request id,
 * then follows its job to the end; a hostile image name and failure reason are shown as text.
 * Skipped only when no S3 server is configured (never in CI). Runs on SQLite or PostgreSQL.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { leaseOf } from '../../src/adapters/db/job-repository.ts';
import { runAdmin } from '../../src/cli/bucket-command.ts';
import { newJobId } from '../../src/services/jobs/service.ts';
import { ensureConsoleBuilt, launchBrowser, signIn, snap, type Browser } from '../helpers/browser.ts';
import { createMember, type TestMember } from '../helpers/keystone-users.ts';
import { s3TestEnv, s3TestServer, tenantS3Client, tenantStoreEnv } from '../helpers/s3.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const server = s3TestServer();
const BUCKET = 'ims-console-tenant';
const prefix = `console-${randomBytes(4).toString('hex')}`;
const NAME = '<img src=x onerror=window.__pwned=1>';
const REASON = '<script>window.__pwned=2</script> disk on fire';

let s: TestServer;
let s3: S3Client;
let browser: Browser;
let owner: TestMember;
let imageId: string;
let tmp: string;

const pwned = (page: Page) => page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned);

async function objectHead(key: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray())
    .subarray(0, 4)
    .toString('latin1');
}

async function openImages(): Promise<Page> {
  const page = await browser.newPage();
  await signIn(page, s.url, { name: owner.user.name, password: owner.password, project: owner.project.name });
  return page;
}

describe.skipIf(!server)(
  'console: jobs panel from the server, export dialog, import from the object store',
  () => {
    beforeAll(async () => {
      ensureConsoleBuilt();
      s = await startTestServer(
        {
          ...(await s3TestEnv()),
          ...tenantStoreEnv(server!),
        },
        { worker: true },
      );
      s3 = await tenantS3Client(server!, [BUCKET]);
      owner = await createMember(s, 'jobs-owner');
      const quiet = { write: () => {} };
      expect(await runAdmin(s.config, ['bucket', 'grant', owner.project.id, BUCKET], quiet, quiet)).toBe(0);
      const image = (await (
        await s.request('POST', '/v2/images', {
          token: owner.token,
          body: { name: NAME, disk_format: 'raw', container_format: 'bare', visibility: 'private' },
        })
      ).json()) as { id: string };
      imageId = image.id;
      const data = await s.request('PUT', `/v2/images/${imageId}/file`, {
        token: owner.token,
        body: Buffer.alloc(1024 * 1024, 1),
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(data.status).toBe(204);
      tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-console-jobs-'));
      browser = await launchBrowser();
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      s3?.destroy();
      await s?.close();
      if (tmp) await fs.rm(tmp, { recursive: true, force: true });
    });

    it('exports from the More menu: fields checked, a refusal with its request id, then the job to its end', async () => {
      const page = await openImages();
      await page
        .locator(`tr[data-image-id="${imageId}"]`)
        .getByRole('button', { name: `More actions for ${NAME}` })
        .click();
      await page.getByRole('menuitem', { name: 'Export' }).click();
      const dialog = page.getByRole('dialog', { name: `Export image ${NAME}` });
      await dialog.waitFor();
      const bucket = dialog.getByLabel('Bucket');
      const object = dialog.getByLabel('Object name');
      const submit = dialog.getByRole('button', { name: 'Export', exact: true });
      // Checked before anything is sent.
      await bucket.fill('Not_A_Bucket');
      await object.fill('');
      await submit.click();
      await dialog.getByText('A bucket name has 3-63 lower-case letters').waitFor();
      await dialog.getByText('Give the object a name.').waitFor();
      await expect(bucket.getAttribute('aria-invalid')).resolves.toBe('true');

      // A bucket not granted to the project: the server's refusal, with its code and request id.
      await bucket.fill('ims-console-not-granted');
      await object.fill(`${prefix}/out.vmdk`);
      await dialog.getByLabel('File format (optional)').selectOption('vmdk');
      await submit.click();
      const refusal = dialog.locator('.error');
      await refusal.waitFor();
      await expect(refusal.locator('.error-meta').textContent()).resolves.toMatch(/IMG\.0069/);
      await expect(refusal.locator('.request-id').textContent()).resolves.toMatch(/^req-[0-9a-f-]{36}$/);

      await bucket.fill(BUCKET);
      await snap(page, 'export-dialog');
      await submit.click();
      const shown = dialog.locator('.export-job');
      await expect
        .poll(() => shown.locator('[data-job-status]').getAttribute('data-job-status'), { timeout: 60_000 })
        .toBe('SUCCESS');
      await dialog.getByText('The export is complete.').waitFor();
      await expect(objectHead(`${prefix}/out.vmdk`)).resolves.toBe('KDMV');
      const jobId = (await shown.getAttribute('data-job-id'))!;
      // The jobs panel follows the same job, under what the user asked for.
      const row = page.locator(`.jobs [data-job-id="${jobId}"]`);
      await expect(row.locator('.job-label').textContent()).resolves.toBe(
        `Export ${NAME} to ${BUCKET}:${prefix}/out.vmdk`,
      );
      await snap(page, 'export-done');
      await dialog.locator('.dialog-actions').getByRole('button', { name: 'Close' }).click();
      await dialog.waitFor({ state: 'hidden' });
      expect(await pwned(page)).toBeUndefined();
      await page.close();
    }, 120_000);

    it('lists the project’s jobs after a reload, with jobs started elsewhere and a failed job’s error, as text', async () => {
      // A job the console did not start: an export through the API, and a failed job with a hostile reason.
      const res = await s.request('POST', `/v1/cloudimages/${imageId}/file`, {
        token: owner.token,
        body: { bucket_url: `${BUCKET}:${prefix}/api.raw`, is_quick_export: true },
      });
      expect(res.status).toBe(200);
      const apiJob = ((await res.json()) as { job_id: string }).job_id;
      const repo = new Repositories(s.server.db.kysely).jobs;
      const failedId = newJobId();
      await repo.enqueue(
        {
          id: failedId,
          kind: 'console-test-failing',
          projectId: owner.project.id,
          payload: {},
          maxAttempts: 1,
          entities: { image_id: imageId, image_name: NAME },
        },
        new Date(),
      );
      const claimed = (await repo.claim('test', ['console-test-failing'], 60_000, new Date()))!;
      await repo.fail(
        leaseOf(claimed),
        { code: 'IMG.0999', reason: REASON, permanent: true },
        new Date(),
        new Date(),
      );

      const page = await openImages();
      const rows = page.locator('.jobs [data-job-id]');
      await expect.poll(() => rows.count()).toBe(3);
      // Newest first: the failed job, the API's export, the console's export.
      const failed = page.locator(`.jobs [data-job-id="${failedId}"]`);
      await expect(failed.locator('.job-label').textContent()).resolves.toBe(`console-test-failing: ${NAME}`);
      await expect(failed.locator('.error-message').textContent()).resolves.toBe(REASON);
      await expect(failed.locator('.error-meta').textContent()).resolves.toBe('IMG.0999');
      const exported = page.locator(`.jobs [data-job-id="${apiJob}"]`);
      await expect
        .poll(() => exported.locator('[data-job-status]').getAttribute('data-job-status'), {
          timeout: 60_000,
        })
        .toBe('SUCCESS');
      await expect(exported.locator('.job-label').textContent()).resolves.toBe(`Export: ${NAME}`);
      await expect(rows.nth(0).getAttribute('data-job-id')).resolves.toBe(failedId);

      // Still there after a reload, as the server lists them; a removed job stays removed.
      await page.reload();
      await expect.poll(() => rows.count()).toBe(3);
      await page.getByRole('button', { name: `Remove console-test-failing: ${NAME} from the list` }).click();
      await failed.waitFor({ state: 'detached' });
      await page.reload();
      await expect.poll(() => rows.count()).toBe(2);
      await snap(page, 'jobs-after-reload');

      // The same in Simplified Chinese.
      await page.getByLabel('Language').selectOption('zh-CN');
      await expect.poll(() => exported.locator('.job-label').textContent()).toBe(`导出：${NAME}`);
      await expect(exported.locator('[data-job-status]').textContent()).resolves.toBe('成功');
      await page.getByLabel('语言').selectOption('en');

      // The image's details list its jobs from the server too, the removed one included, as text.
      await page.locator(`tr[data-image-id="${imageId}"] .image-name`).click();
      const imageJobs = page.getByRole('region', { name: 'Jobs of this image' }).locator('tr[data-job-id]');
      await expect.poll(() => imageJobs.count()).toBe(3);
      await expect(imageJobs.nth(0).getAttribute('data-job-id')).resolves.toBe(failedId);
      await expect(imageJobs.nth(0).locator('.problem').textContent()).resolves.toBe(REASON);
      expect(await pwned(page)).toBeUndefined();
      await page.close();
    }, 120_000);

    it('creates an image from a file in the object store, checking the address and format first', async () => {
      const file = path.join(tmp, 'disk.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '32M']);
      await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/disk.qcow2`, Body: await fs.readFile(file) }),
      );
      const page = await openImages();
      await page.getByRole('link', { name: 'Create image' }).click();
      // A person picks the source by its label; the radio itself is visually hidden.
      await page.locator('label.segment', { hasText: 'Import from object store' }).click();
      await expect(page.getByRole('radio', { name: 'Import from object store' }).isChecked()).resolves.toBe(
        true,
      );
      await page.getByLabel('Name', { exact: true }).fill('from-the-bucket');
      const address = page.getByLabel('File in the object store');
      await address.fill('no-colon-here');
      await page.getByRole('button', { name: 'Create and import' }).click();
      await page.getByText('Enter the file as bucket:object.').waitFor();
      await address.fill(`${BUCKET}:${prefix}/disk.qcow2`);
      await expect(page.getByLabel('Disk format').inputValue()).resolves.toBe('qcow2');
      await page.getByLabel('Disk format').selectOption('vhd');
      await page.getByRole('button', { name: 'Create and import' }).click();
      await page.getByText('The file is qcow2 by its extension, but the disk format says vhd.').waitFor();
      await page.getByLabel('Disk format').selectOption('qcow2');
      await page.getByLabel('OS type').selectOption('Linux');
      await expect(page.getByLabel('Minimum disk (GB)').inputValue()).resolves.toBe('40');
      await snap(page, 'create-from-object');
      await page.getByRole('button', { name: 'Create and import' }).click();
      await page.getByRole('heading', { name: 'Result' }).waitFor({ timeout: 60_000 });
      await expect(page.locator('.result [data-status]').getAttribute('data-status')).resolves.toBe('active');
      await expect(page.locator('[data-field=inspection]').textContent()).resolves.toMatch(/qcow2.*32 MiB/);
      const row = page.locator('.jobs [data-job-id]').first();
      await expect(row.locator('.job-label').textContent()).resolves.toBe('Import from-the-bucket');
      await expect(row.locator('[data-job-status]').getAttribute('data-job-status')).resolves.toBe('SUCCESS');
      expect(browser.problems.filter((p) => !p.includes('status of 4'))).toEqual([]);
      await page.close();
    }, 120_000);
  },
);
