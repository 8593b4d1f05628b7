/**
 * The console's create page and jobs panel in Debian's chromium, against a server
 * with job workers: the quota shown against its use (and a warning when full), an
 * import from a URL whose inspection result is shown once active, a refused import
 * and a failed copy job shown with their errors, a copy refused by the server
 * shown with its request id, and the share dialog's account and organization
 * members (checked, then sent to IMS's batch sharing route). Runs on SQLite or PostgreSQL (IMS_TEST_DB).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ensureConsoleBuilt, launchBrowser, signIn, snap, type Browser } from '../helpers/browser.ts';
import { createMember, type TestMember } from '../helpers/keystone-users.ts';

// The web server web-download reaches: an address the service's allow-list names.
const WEB_HOST = '127.0.0.7';
let s: TestServer;
let browser: Browser;
let owner: TestMember;
let tmp: string;
let web: http.Server;
let webBase: string;
let qcow2: Buffer;

beforeAll(async () => {
  ensureConsoleBuilt();
  s = await startTestServer({ IMS_WEB_DOWNLOAD_ALLOW: WEB_HOST }, { worker: true });
  owner = await createMember(s, 'creator');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-console-'));
  const file = path.join(tmp, 'small.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '48M']);
  qcow2 = await fs.readFile(file);
  web = http.createServer((req, res) => {
    if (req.url === '/small.qcow2') return res.writeHead(200, { 'content-length': qcow2.length }).end(qcow2);
    if (req.url === '/notes.txt') return res.end('plain text, not a disk image\n'.repeat(200));
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(0, WEB_HOST, r));
  webBase = `http://${WEB_HOST}:${(web.address() as AddressInfo).port}`;
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((r) => web?.close(r));
  await s?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function setQuota(images: number | null): Promise<void> {
  const res = await s.request('PUT', '/v1/cloudimages/quota', {
    body: { project_id: owner.project.id, quotas: { image: images, image_size_total: 1024 } },
  });
  if (!res.ok) throw new Error(`quota: ${res.status} ${await res.text()}`);
}

async function openCreate(): Promise<Page> {
  const page = await browser.newPage();
  await signIn(page, s.url, { name: owner.user.name, password: owner.password, project: owner.project.name });
  await page.getByRole('link', { name: 'Create image' }).click();
  await page.getByRole('heading', { name: 'Create image' }).waitFor();
  return page;
}

describe('console: create page, import from URL, jobs panel', () => {
  it('shows the quota against its use, and warns when it is full', async () => {
    await setQuota(10);
    const page = await openCreate();
    const quota = page.getByRole('region', { name: 'Quota' });
    await expect
      .poll(() => quota.locator('[data-quota=image] .quota-value').textContent())
      .toBe('0 of 10 used');
    await expect(quota.locator('[data-quota=image_size_total] .quota-value').textContent()).resolves.toBe(
      '0 B of 1 GiB used',
    );
    await expect(quota.getByRole('meter', { name: 'Images' }).getAttribute('max')).resolves.toBe('10');
    await snap(page, 'create-quota');
    await setQuota(0);
    await page.reload();
    await page.getByText('The image quota is full: a new image will be refused.').waitFor();
    await setQuota(10);
    await page.close();
  }, 60_000);

  it('imports from a URL: the job in the panel, then the inspection result once active', async () => {
    const page = await openCreate();
    await page.getByRole('radio', { name: 'Import from URL' }).check();
    await page.getByLabel('Name', { exact: true }).fill('from-the-web');
    // Checked before anything is sent.
    await page.getByLabel('Image URL').fill('ftp://example.com/disk.img');
    await page.getByRole('button', { name: 'Create and import' }).click();
    await page.getByText('Enter an http or https URL.').waitFor();
    await page.getByLabel('Image URL').fill(`${webBase}/small.qcow2`);
    await page.getByLabel('Disk format').selectOption('qcow2');
    await page.getByRole('button', { name: 'Create and import' }).click();
    await page.getByRole('heading', { name: 'Result' }).waitFor({ timeout: 30_000 });
    await expect(page.locator('[data-field=inspection]').textContent()).resolves.toBe(
      'The server inspected the data: it is qcow2, as declared, with a virtual size of 48 MiB.',
    );
    await expect(page.locator('.result [data-status]').getAttribute('data-status')).resolves.toBe('active');
    const job = page.locator('.jobs [data-job-id]');
    await expect.poll(() => job.locator('[data-job-status]').getAttribute('data-job-status')).toBe('SUCCESS');
    await expect(job.locator('.job-label').textContent()).resolves.toBe('Import from-the-web');
    await expect(job.getByRole('progressbar').getAttribute('value')).resolves.toBe('100');
    await expect(job.getByRole('link').textContent()).resolves.toBe('Open the image');
    await snap(page, 'import-done');
    // The details page lists the image's import among its jobs.
    await page.getByRole('link', { name: 'Open image', exact: true }).click();
    const jobs = page.getByRole('region', { name: 'Jobs of this image' });
    const importRow = jobs.locator('tr[data-job-id]');
    await expect.poll(() => importRow.count()).toBe(1);
    await expect(importRow.locator('[data-job-status]').getAttribute('data-job-status')).resolves.toBe(
      'SUCCESS',
    );
    await expect(importRow.getAttribute('data-job-id')).resolves.toBe(await job.getAttribute('data-job-id'));
    await jobs.waitFor();
    await page.setViewportSize({ width: 1180, height: 1100 });
    await snap(page, 'import-details');
    const listed = (await (
      await s.request('GET', '/v2/images?name=from-the-web', { token: owner.token })
    ).json()) as { images: { status: string; size: number; virtual_size: number }[] };
    expect(listed.images).toEqual([
      expect.objectContaining({ status: 'active', size: qcow2.length, virtual_size: 48 * 1024 * 1024 }),
    ]);
    await page.close();
  }, 90_000);

  it('shows a refused import with its reason and request id, and the failed job with its error', async () => {
    const page = await openCreate();
    await page.getByRole('radio', { name: 'Import from URL' }).check();
    await page.getByLabel('Name', { exact: true }).fill('not-an-image');
    await page.getByLabel('Image URL').fill(`${webBase}/notes.txt`);
    await page.getByLabel('Disk format').selectOption('qcow2');
    await page.getByRole('button', { name: 'Create and import' }).click();
    const failure = page.locator('.error').filter({ hasText: 'The import failed.' });
    await failure.waitFor({ timeout: 30_000 });
    expect((await failure.locator('.error-message').textContent())!.toLowerCase()).toContain('qcow2');
    await expect(failure.locator('.request-id').textContent()).resolves.toMatch(/^req-[0-9a-f-]{36}$/);
    // The panel lists the project's jobs, newest first: this import above the first test's.
    const job = page.locator('.jobs [data-job-id]').first();
    await expect(job.locator('.job-label').textContent()).resolves.toBe('Import not-an-image');
    await expect.poll(() => job.locator('[data-job-status]').getAttribute('data-job-status')).toBe('FAIL');
    await job.getByText('The job failed').waitFor();
    expect((await job.locator('.error-message').textContent())!.toLowerCase()).toContain('qcow2');
    await snap(page, 'import-refused');
    // The jobs come from the server, so they survive a reload; a job leaves the panel by its
    // button, for the session. The first test's import, never started in this tab, is named by its type.
    const failedId = (await job.getAttribute('data-job-id'))!;
    await page.reload();
    const rows = page.locator('.jobs [data-job-id]');
    await expect.poll(() => rows.count()).toBe(2);
    const failed = page.locator(`.jobs [data-job-id="${failedId}"]`);
    await failed.getByText('The job failed').waitFor();
    await expect(rows.nth(1).locator('.job-label').textContent()).resolves.toBe('Import: from-the-web');
    await page.getByRole('button', { name: 'Remove Import not-an-image from the list' }).click();
    await failed.waitFor({ state: 'detached' });
    await page.reload();
    await expect.poll(() => rows.count()).toBe(1);
    await page.close();
  }, 90_000);

  it("shows the server's refusal of a copy with its request id; the dialog works from the keyboard", async () => {
    const queued = (await (
      await s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'still-empty', disk_format: 'raw', container_format: 'bare' },
      })
    ).json()) as { id: string };
    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    const more = page
      .locator(`tr[data-image-id="${queued.id}"]`)
      .getByRole('button', { name: 'More actions for still-empty' });
    await more.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('menuitem', { name: 'Copy' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Copy image still-empty' });
    const name = dialog.getByLabel('Name of the copy');
    const focused = page.locator(':focus');
    await expect.poll(() => focused.getAttribute('id')).toBe(await name.getAttribute('id'));
    await expect(name.inputValue()).resolves.toBe('still-empty-copy');
    await dialog.getByLabel('Description (optional)').fill('line one <b>');
    await name.focus();
    await page.keyboard.press('Enter');
    await dialog.getByText('A description may not contain line breaks, "<" or ">".').waitFor();
    await expect(dialog.getByLabel('Description (optional)').getAttribute('aria-invalid')).resolves.toBe(
      'true',
    );
    await dialog.getByLabel('Description (optional)').fill('');
    await dialog.getByRole('button', { name: 'Copy', exact: true }).click();
    const alert = dialog.locator('.error');
    await alert.waitFor();
    await expect(alert.locator('.error-message').textContent()).resolves.toMatch(
      /only active images can be copied/,
    );
    await expect(alert.locator('.error-meta').textContent()).resolves.toMatch(/IMG\.\d{4}/);
    await expect(alert.locator('.request-id').textContent()).resolves.toMatch(/^req-[0-9a-f-]{36}$/);
    await snap(page, 'copy-refused');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => focused.getAttribute('aria-label')).toBe('More actions for still-empty');
    expect(browser.problems.filter((p) => !p.includes('status of 4'))).toEqual([]);
    await page.close();
  }, 60_000);

  it('shares with accounts and organizations: each entry checked, then one batch request', async () => {
    const image = (await (
      await s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'for-the-org', disk_format: 'raw', container_format: 'bare', visibility: 'private' },
      })
    ).json()) as { id: string };
    // IMS shares only active private images.
    const data = await s.request('PUT', `/v2/images/${image.id}/file`, {
      token: owner.token,
      body: Buffer.alloc(4096),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(data.status).toBe(204);
    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    await page
      .locator(`tr[data-image-id="${image.id}"]`)
      .getByRole('button', { name: 'More actions for for-the-org' })
      .click();
    await page.getByRole('menuitem', { name: 'Share' }).click();
    const dialog = page.getByRole('dialog', { name: 'Share image for-the-org' });
    const share = dialog.getByRole('button', { name: 'Share', exact: true });

    await dialog.getByRole('radio', { name: 'Accounts' }).check();
    const accounts = dialog.getByLabel('Account IDs');
    await accounts.fill('acme, 0123456789abcdef0123456789ABCDEF,0123456789abcdef0123456789abcdef');
    await share.click();
    await dialog.getByText('"acme" is not an account ID (32 hexadecimal characters).').waitFor();
    await dialog.getByText('0123456789abcdef0123456789abcdef is listed twice.').waitFor();
    await expect(accounts.getAttribute('aria-invalid')).resolves.toBe('true');

    await dialog.getByRole('radio', { name: 'Organizations' }).check();
    const urns = dialog.getByLabel('Organization URNs');
    await urns.fill('');
    await share.click();
    await dialog.getByText('Enter at least one organization URN.').waitFor();
    await urns.fill('organizations::acct-1:ou:o-abc, organizations::acct-1:ou:o-abc/ou-x1');
    await share.click();
    await dialog
      .getByText('"organizations::acct-1:ou:o-abc" is not an organization URN or an o-, r- or ou- id.')
      .waitFor();

    const sent: unknown[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/v1/cloudimages/members') && r.method() === 'POST') sent.push(r.postDataJSON());
    });
    const good = [
      'organizations::acct-1:organization:o-abc',
      'organizations::acct-1:ou:o-abc/ou-x1',
      'r-root1',
    ];
    await urns.fill(good.join(' , '));
    await share.click();
    await expect.poll(() => sent).toEqual([{ images: [image.id], organizations: good }]);
    // Organizations of another account are refused before any job, with IMS's code and the request id.
    const refusal = dialog.locator('.error').first();
    await refusal.waitFor();
    await expect(refusal.locator('.request-id').textContent()).resolves.toMatch(/^req-[0-9a-f-]{36}$/);

    // An account that exists: one batch request, and the job that shares the image.
    const created = await s.request('POST', '/v3/domains', {
      body: { domain: { name: `acct-${Date.now()}` } },
    });
    const account = ((await created.json()) as { domain: { id: string } }).domain.id;
    await dialog.getByRole('radio', { name: 'Accounts' }).check();
    await dialog.getByLabel('Account IDs').fill(account);
    await share.click();
    await expect.poll(() => sent.length).toBe(2);
    expect(sent[1]).toEqual({ images: [image.id], domains: [account] });
    await expect(dialog.locator('.notice').first().textContent()).resolves.toMatch(
      /^Sharing with .* \(job \S+\)/,
    );
    await snap(page, 'share-organizations');
    await page.close();
  }, 60_000);
});
