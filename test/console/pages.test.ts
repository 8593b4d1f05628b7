/**
 * The console in Debian's chromium against hostile data and failures: HTML and
 * script in names, tags and properties shown as text and never run; the server's
 * refusal of an upload shown with its request id; and the language switch.
 * Runs on SQLite or PostgreSQL (IMS_TEST_DB).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ensureConsoleBuilt, launchBrowser, signIn, snap, type Browser } from '../helpers/browser.ts';
import { createMember, type TestMember } from '../helpers/keystone-users.ts';

let s: TestServer;
let browser: Browser;
let owner: TestMember;
let recipient: TestMember;
let tmp: string;

beforeAll(async () => {
  ensureConsoleBuilt();
  s = await startTestServer();
  owner = await createMember(s, 'hostile-owner');
  recipient = await createMember(s, 'hostile-recipient');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-console-'));
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

async function asOwner(method: string, p: string, body?: unknown, contentType?: string): Promise<Response> {
  const res = await s.request(method, p, {
    token: owner.token,
    ...(body !== undefined ? { body } : {}),
    ...(contentType ? { headers: { 'content-type': contentType } } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
  return res;
}

const pwned = (page: Page) => page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned);

describe('hostile names, tags and properties', () => {
  const NAME = '<img src=x onerror=window.__pwned=1>';
  // Simple tags may not contain '=' (reserved for key/value tags): the payloads do without it.
  const TAGS = [
    '<script>Object.assign(window,{__pwned:2})</script>',
    '"><svg><script>Object.assign(window,{__pwned:3})</script></svg>',
  ];
  const PROPERTY = '<b onmouseover=window.__pwned=4>bold</b><iframe src=javascript:window.__pwned=5>';

  it('shows them as text in the list, the details, the dialogs and the recipient list, and runs none', async () => {
    const image = (await (
      await asOwner('POST', '/v2/images', {
        name: NAME,
        disk_format: 'raw',
        container_format: 'bare',
        visibility: 'shared',
        x_note: PROPERTY,
        tags: TAGS,
      })
    ).json()) as { id: string };
    await asOwner('POST', `/v2/images/${image.id}/members`, { member: recipient.project.id });

    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    const row = page.locator(`tr[data-image-id="${image.id}"]`);
    await expect.poll(() => row.locator('.image-name').textContent()).toBe(NAME);
    expect(await row.locator('.tag').allTextContents()).toEqual([...TAGS].sort());
    await snap(page, 'hostile-list');

    // A tag typed into the editor is text too.
    await row.locator('.image-name').click();
    await page.getByRole('heading', { name: 'Tags' }).waitFor();
    const typed = '<b><script>Object.assign(window,{__pwned:6})</script></b>';
    await page.getByLabel('New tag').fill(typed);
    await page.getByRole('button', { name: 'Add tag' }).click();
    await page.getByRole('button', { name: `Remove tag ${typed}` }).waitFor();
    await expect.poll(() => page.locator('.image-title').textContent()).toBe(NAME);
    await expect.poll(() => page.locator('dd', { hasText: 'bold' }).textContent()).toBe(PROPERTY);
    await snap(page, 'hostile-details');

    await page.getByRole('button', { name: `More actions for ${NAME}` }).click();
    await page.getByRole('menuitem', { name: 'Delete' }).click();
    await page.getByRole('heading', { name: `Delete image ${NAME}?` }).waitFor();
    await page.keyboard.press('Escape');

    const other = await browser.newPage();
    await signIn(other, s.url, {
      name: recipient.user.name,
      password: recipient.password,
      project: recipient.project.name,
    });
    await other.getByRole('tab', { name: 'Shared with me' }).click();
    await expect
      .poll(() => other.locator(`tr[data-image-id="${image.id}"] .image-name`).textContent())
      .toBe(NAME);

    for (const p of [page, other]) {
      expect(await pwned(p)).toBeUndefined();
      expect(await p.locator('img, svg, iframe, b, script:not([src])').count()).toBe(0);
    }
    expect(browser.problems).toEqual([]);
    await Promise.all([page.close(), other.close()]);
  }, 120_000);
});

describe('errors', () => {
  it("shows the server's refusal of an upload with its request id, and deletes the empty image", async () => {
    const file = path.join(tmp, 'not-really.qcow2');
    await fs.writeFile(file, randomBytes(256 * 1024));
    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    await page.getByRole('link', { name: 'Create image' }).click();
    const name = `refused-${randomBytes(3).toString('hex')}`;
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Image file').setInputFiles(file);
    await page.getByLabel('Disk format').selectOption('qcow2');
    await page.getByRole('button', { name: 'Create and upload' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const requestId = (await alert.locator('.request-id').textContent())!;
    expect(requestId).toMatch(/^req-[0-9a-f-]{36}$/);
    const message = (await alert.locator('.error-message').textContent())!;
    expect(message.toLowerCase()).toContain('qcow2');
    await snap(page, 'upload-refused');

    const listed = (await (await asOwner('GET', `/v2/images?name=${name}`)).json()) as {
      images: { id: string; status: string }[];
    };
    expect(listed.images).toHaveLength(1);
    expect(listed.images[0]!.status).toBe('queued');
    await page.getByRole('button', { name: 'Delete the empty image' }).click();
    await page.getByRole('button', { name: 'Create and upload' }).waitFor();
    const after = (await (await asOwner('GET', `/v2/images?name=${name}`)).json()) as { images: unknown[] };
    expect(after.images).toEqual([]);
    // The refused PUT is the one failed request the page made.
    expect(browser.problems.filter((p) => !p.includes('status of 400'))).toEqual([]);
    browser.problems.length = 0;
    await page.close();
  }, 120_000);

  it('says so when the password is wrong, with the request id', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/console/`);
    await page.getByLabel('User name').fill(owner.user.name);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.locator('.error-meta').textContent()).toMatch(/HTTP 401.*Request ID: req-/);
    browser.problems.length = 0;
    await page.close();
  }, 60_000);
});

describe('language', () => {
  it('switches between English and Simplified Chinese and keeps the choice', async () => {
    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await page.getByLabel('Language').selectOption('zh-CN');
    await page.getByRole('heading', { name: '镜像', level: 1 }).waitFor();
    expect(await page.getByRole('tab').allTextContents()).toEqual(['私有镜像', '共享给我的镜像', '公共镜像']);
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await snap(page, 'language-zh');

    // Kept across a reload (and the session too: sessionStorage).
    await page.reload();
    await page.getByRole('link', { name: '创建镜像' }).waitFor();
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor();
    expect(await page.getByRole('tab').allTextContents()).toEqual([
      'Private images',
      'Shared with me',
      'Public images',
    ]);
    expect(browser.problems).toEqual([]);
    await page.close();
  }, 60_000);
});

describe('keyboard and small screens', () => {
  it('works the More menu, the share dialog and the tabs from the keyboard, focus kept and returned', async () => {
    await asOwner('POST', '/v2/images', { name: 'keyboard', disk_format: 'raw', container_format: 'bare' });
    const page = await browser.newPage();
    await signIn(page, s.url, {
      name: owner.user.name,
      password: owner.password,
      project: owner.project.name,
    });
    const focused = page.locator(':focus');
    const more = page.getByRole('button', { name: 'More actions for keyboard' });
    await more.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => focused.textContent()).toBe('Share');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => focused.textContent()).toBe('Copy');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => focused.textContent()).toBe('Export');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => focused.textContent()).toBe('Edit');
    await page.keyboard.press('Escape');
    await page.getByRole('menu').waitFor({ state: 'detached' });
    await expect.poll(() => focused.getAttribute('aria-haspopup')).toBe('menu');

    await page.keyboard.press('Enter');
    await expect.poll(() => focused.textContent()).toBe('Share');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    for (let i = 0; i < 12; i++) {
      expect(await page.locator('dialog :focus').count(), `tab ${i}`).toBe(1);
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => focused.getAttribute('aria-haspopup')).toBe('menu');

    await page.getByRole('tab', { name: 'Private images' }).focus();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => focused.textContent()).toBe('Shared with me');
    await page.getByRole('radio', { name: 'Pending' }).waitFor();

    await page.setViewportSize({ width: 390, height: 800 });
    await page.keyboard.press('ArrowLeft');
    await snap(page, 'mobile-list');
    expect(browser.problems).toEqual([]);
    await page.close();
  }, 60_000);
});
