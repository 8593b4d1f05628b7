/**
 * The web console end to end, in Debian's chromium: sign in, upload an image and
 * watch it become active, tag it, share it with a second project, sign in as that
 * project and accept (then reject and accept again), copy it (a job the jobs
 * panel follows), and the owner deletes the original; the copy stays. Screenshots of each step go to test-artifacts/console/.
 * Runs on SQLite or PostgreSQL (IMS_TEST_DB).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  ensureConsoleBuilt,
  launchBrowser,
  signIn,
  snap,
  snapElement,
  type Browser,
} from '../helpers/browser.ts';
import { createMember, type TestMember } from '../helpers/keystone-users.ts';

let s: TestServer;
let browser: Browser;
let owner: TestMember;
let recipient: TestMember;
let tmp: string;
let imageFile: string;

beforeAll(async () => {
  ensureConsoleBuilt();
  s = await startTestServer({}, { worker: true });
  owner = await createMember(s, 'owner');
  recipient = await createMember(s, 'recipient');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-console-'));
  imageFile = path.join(tmp, 'cirros-like.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', imageFile, '64M']);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const imageName = `web-server-${Date.now().toString(36)}`;

async function ownerCall(method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await s.request(method, p, { token: owner.token, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

describe('console: the owner and the recipient of a shared image', () => {
  it('signs in, uploads, tags, shares, the recipient accepts, the owner deletes', async () => {
    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    await expect(page.locator('[data-project-id]').textContent()).resolves.toBe(owner.project.id);
    await page.getByText('No images here yet.').waitFor();
    await snap(page, '01-signed-in');

    // Upload with a progress bar; the result shows what the server stored.
    await page.getByRole('link', { name: 'Create image' }).click();
    await page.getByLabel('Name', { exact: true }).fill(imageName);
    await page.getByLabel('Image file').setInputFiles(imageFile);
    await page.getByLabel('Disk format').selectOption('qcow2');
    await page.getByRole('button', { name: 'Create and upload' }).click();
    await page.getByRole('heading', { name: 'Result' }).waitFor();
    const result = page.locator('.result');
    await expect(result.locator('[data-status]').getAttribute('data-status')).resolves.toBe('active');
    const md5 = createHash('md5')
      .update(await fs.readFile(imageFile))
      .digest('hex');
    await expect(result.locator('[data-field=checksum]').textContent()).resolves.toBe(md5);
    await expect(result.locator('[data-field=virtual_size]').textContent()).resolves.toBe('64 MiB');
    await snap(page, '02-uploaded');

    // Tag it on the details page.
    await page.getByRole('link', { name: 'Open image' }).click();
    await page.getByRole('heading', { name: 'Tags' }).waitFor();
    await page.getByLabel('New tag').fill('web-tier');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.getByRole('button', { name: 'Remove tag web-tier' }).waitFor();
    await snap(page, '03-tagged');
    const imageId = (await page.locator('dd.mono').first().textContent())!;
    const stored: unknown = await (await s.request('GET', `/v2/images/${imageId}`)).json();
    expect(stored).toMatchObject({ name: imageName, status: 'active', tags: ['web-tier'], checksum: md5 });

    // Two more images of the project, made through the API, for the list to sort and filter.
    for (const [name, format, tag] of [
      ['debian-12-base', 'raw', 'base'],
      ['alpine-3.20', 'raw', 'edge'],
    ] as const) {
      const created = (await ownerCall('POST', '/v2/images', {
        name,
        disk_format: format,
        container_format: 'bare',
        tags: [tag],
      })) as { id: string };
      const put = await fetch(`${s.url}/v2/images/${created.id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
        body: new Uint8Array(1024 * 1024),
      });
      expect(put.status).toBe(204);
    }

    // The list: the row, its badge and its tag; sorting and the tag filter.
    await page.getByRole('link', { name: 'Back to images' }).click();
    const row = page.locator(`tr[data-image-id="${imageId}"]`);
    await expect(row.locator('[data-status]').getAttribute('data-status')).resolves.toBe('active');
    await expect(row.locator('.tag').textContent()).resolves.toBe('web-tier');
    const names = () => page.locator('tbody .image-name').allTextContents();
    await expect.poll(names).toEqual(['alpine-3.20', 'debian-12-base', imageName]);
    await page.getByRole('button', { name: 'Name', exact: true }).click();
    await expect.poll(names).toEqual(['alpine-3.20', 'debian-12-base', imageName]);
    await page.getByRole('button', { name: 'Name', exact: true }).click();
    await expect.poll(names).toEqual([imageName, 'debian-12-base', 'alpine-3.20']);
    await snap(page, '04-image-list');
    await snap(page, 'readme-image-list', { x: 0, y: 0, width: 1180, height: 475 });
    await page.getByLabel('Tag').fill('web-tier');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(names).toEqual([imageName]);
    await page.getByRole('button', { name: 'Reset' }).click();
    await expect.poll(names).toHaveLength(3);

    // Share: the image is private, so the dialog first allows sharing.
    await row.getByRole('button', { name: `More actions for ${imageName}` }).click();
    await page.getByRole('menuitem', { name: 'Share' }).click();
    const dialog = page.getByRole('dialog', { name: `Share image ${imageName}` });
    await dialog.getByRole('button', { name: 'Allow sharing (set visibility to shared)' }).click();
    const ids = dialog.getByLabel('Project IDs');
    await expect.poll(() => ids.isEnabled()).toBe(true);
    // Validation happens before anything is sent.
    await ids.fill(`not-a-project, ${owner.project.id}`);
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    await dialog.getByText('"not-a-project" is not a project ID (32 hexadecimal characters).').waitFor();
    await dialog.getByText(`Your own project ${owner.project.id} cannot be a member.`).waitFor();
    await snapElement(dialog, 'readme-share-dialog');
    const members0 = (await (await s.request('GET', `/v2/images/${imageId}/members`)).json()) as {
      members: unknown[];
    };
    expect(members0.members).toEqual([]);
    await ids.fill(recipient.project.id);
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    await expect
      .poll(() => dialog.locator('.results .result-ok').textContent())
      .toBe(`Shared with ${recipient.project.id}.`);
    await dialog.getByRole('tab', { name: 'Cancel sharing' }).click();
    await expect.poll(() => dialog.locator('tbody tr').count()).toBe(1);
    await expect.poll(() => dialog.locator('tbody td.mono').textContent()).toBe(recipient.project.id);
    await snap(page, '05-share-dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    // The recipient, in another tab (its own sessionStorage): pending, accept, reject, accept again.
    const other = await browser.newPage();
    await signIn(other, s.url, {
      name: recipient.user.name,
      password: recipient.password,
      project: recipient.project.name,
    });
    await other.getByRole('tab', { name: 'Shared with me' }).click();
    const shared = other.locator(`tr[data-image-id="${imageId}"]`);
    await expect
      .poll(() => shared.locator('[data-member-status]').getAttribute('data-member-status'))
      .toBe('pending');
    await snap(other, '06-recipient-pending');
    await shared.getByRole('button', { name: 'Accept' }).click();
    await other.getByText(`You accepted ${imageName}.`).waitFor();
    await expect.poll(() => shared.count()).toBe(0);
    const memberStatus = async () => {
      const res = await s.request('GET', `/v2/images/${imageId}/members/${recipient.project.id}`);
      return ((await res.json()) as { status: string }).status;
    };
    await expect.poll(memberStatus).toBe('accepted');

    await other.getByRole('radio', { name: 'Accepted' }).check();
    await expect
      .poll(() => shared.locator('[data-member-status]').getAttribute('data-member-status'))
      .toBe('accepted');
    await snap(other, '07-recipient-accepted');
    await shared.getByRole('button', { name: 'Reject' }).click();
    await expect.poll(() => shared.count()).toBe(0);
    await expect.poll(memberStatus).toBe('rejected');
    await other.getByRole('radio', { name: 'Rejected' }).check();
    await shared.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => shared.count()).toBe(0);
    await expect.poll(memberStatus).toBe('accepted');

    // The recipient copies the accepted image: a job, followed in the jobs panel to its end.
    await other.getByRole('radio', { name: 'Accepted' }).check();
    await shared.getByRole('button', { name: `More actions for ${imageName}` }).click();
    await other.getByRole('menuitem', { name: 'Copy' }).click();
    const copyDialog = other.getByRole('dialog', { name: `Copy image ${imageName}` });
    const copyName = copyDialog.getByLabel('Name of the copy');
    await expect(copyName.inputValue()).resolves.toBe(`${imageName}-copy`);
    // IMS's name rules are checked before anything is sent.
    await copyName.fill(' <bad> ');
    await copyDialog.getByRole('button', { name: 'Copy', exact: true }).click();
    await copyDialog.getByText('Use only letters, digits, spaces').waitFor();
    await copyName.fill(`${imageName} copy`);
    await copyDialog.getByLabel('Description (optional)').fill('made by the recipient');
    await snap(other, '08-copy-dialog');
    await copyDialog.getByRole('button', { name: 'Copy', exact: true }).click();
    await copyDialog.waitFor({ state: 'hidden' });
    await other.getByText(`Copying to ${imageName} copy`).waitFor();
    const job = other.locator('.jobs [data-job-id]');
    // The copy job runs on the test server's worker; on a loaded machine with PostgreSQL it takes seconds.
    await expect
      .poll(() => job.locator('[data-job-status]').getAttribute('data-job-status'), { timeout: 60_000 })
      .toBe('SUCCESS');
    await expect(job.locator('.job-label').textContent()).resolves.toBe(
      `Copy ${imageName} to ${imageName} copy`,
    );
    await snap(other, '09-copy-done');
    await job.getByRole('link', { name: 'Open the new image' }).click();
    await other.getByRole('heading', { name: 'Tags' }).waitFor();
    const copyId = (await other.locator('dd.mono').first().textContent())!;
    expect(copyId).not.toBe(imageId);
    const copyRes = await s.request('GET', `/v2/images/${copyId}`, { token: recipient.token });
    expect(await copyRes.json()).toMatchObject({
      name: `${imageName} copy`,
      owner: recipient.project.id,
      status: 'active',
      checksum: md5,
    });
    await other.getByRole('link', { name: 'Back to images' }).click();
    await other.getByRole('tab', { name: 'Shared with me' }).click();

    // The owner deletes the original; it leaves both lists.
    await page.getByRole('button', { name: 'Refresh' }).click();
    await row.getByRole('button', { name: `More actions for ${imageName}` }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog', { name: `Delete image ${imageName}?` });
    await snap(page, '10-delete-confirm');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await page.getByText(`Image ${imageName} deleted.`).waitFor();
    await expect.poll(() => row.count()).toBe(0);
    expect((await s.request('GET', `/v2/images/${imageId}`)).status).toBe(404);
    await other.getByRole('radio', { name: 'Accepted' }).check();
    await other.getByRole('button', { name: 'Refresh' }).click();
    await other.getByText('No image is shared with your project in this status.').waitFor();
    await snap(page, '11-deleted');
    // The copy is the recipient's own image: the original's deletion leaves it.
    expect((await s.request('GET', `/v2/images/${copyId}`, { token: recipient.token })).status).toBe(200);

    expect(browser.problems).toEqual([]);
  }, 120_000);
});
