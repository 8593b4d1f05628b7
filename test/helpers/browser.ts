import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Screenshots of the browser tests (git-ignored; CI keeps them as artifacts). */
export const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'console');
export const CHROMIUM = '/usr/bin/chromium';

/** Builds the console when its sources changed since the last build (locked against parallel runs). */
export function ensureConsoleBuilt(): void {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-console.mjs')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

export interface Browser {
  context: BrowserContext;
  /** A new tab; each has its own sessionStorage, so each is its own signed-in user. */
  newPage(): Promise<Page>;
  /** Problems the pages reported: uncaught errors, console errors, CSP violations. */
  problems: string[];
  close(): Promise<void>;
}

/** Debian's chromium, headless, with a fresh profile. */
export async function launchBrowser(): Promise<Browser> {
  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1180, height: 720 },
    locale: 'en-US',
  });
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context,
    problems,
    async newPage() {
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      return page;
    },
    async close() {
      await context.close();
      await fs.rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot (of the page, or a part of it) as a test artifact; returns its path. */
export async function snap(
  page: Page,
  name: string,
  clip?: { x: number; y: number; width: number; height: number },
): Promise<string> {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, ...(clip ? { clip } : {}) });
  return file;
}

/** Saves a screenshot of one element (a dialog) as a test artifact. */
export async function snapElement(locator: Locator, name: string): Promise<string> {
  await fs.mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await locator.screenshot({ path: file });
  return file;
}

/** Signs in through the console's form. */
export async function signIn(
  page: Page,
  baseUrl: string,
  user: { name: string; password: string; project?: string },
): Promise<void> {
  await page.goto(`${baseUrl}/console/`);
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  if (user.project) await page.getByLabel('Project name').fill(user.project);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Images', level: 1 }).waitFor();
}
