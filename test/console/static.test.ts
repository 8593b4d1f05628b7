/**
 * How the server serves the console's build at /console: anonymously, with the
 * right types, caching, compression, a strict CSP, the single-page fallback, and
 * no way out of the build folder. Also a missing build (503) and a rebuild picked
 * up without a restart. Runs on SQLite or PostgreSQL (IMS_TEST_DB).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, registerConsoleRoutes } from '../../src/api/console/console-routes.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ensureConsoleBuilt } from '../helpers/browser.ts';

let s: TestServer;
let index: string;
let script: string;
let style: string;

beforeAll(async () => {
  ensureConsoleBuilt();
  s = await startTestServer();
  index = await (await s.request('GET', '/console', { token: null })).text();
  script = /<script type="module" crossorigin src="([^"]+)"/.exec(index)![1]!;
  style = /<link rel="stylesheet" crossorigin href="([^"]+)"/.exec(index)![1]!;
}, 180_000);
afterAll(async () => s?.close());

/** A request with the path sent exactly as written (fetch would normalize `..`). */
function rawGet(p: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(s.url);
  return new Promise((resolve, reject) => {
    http
      .get({ host: url.hostname, port: url.port, path: p }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

describe('GET /console', () => {
  it('serves the page anonymously with a strict CSP and no caching of the page itself', async () => {
    for (const p of ['/console', '/console/']) {
      const res = await s.request('GET', p, { token: null, headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-request-id')).toMatch(/^req-/);
      expect(await res.text()).toBe(index);
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe');
    expect(index).toContain('<div id="root"></div>');
    // Every script is a file from this origin: the CSP allows nothing inline.
    expect(index.match(/<script/g)).toHaveLength(1);
    expect(index).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(index).not.toMatch(/\sstyle=/);
  });

  it('answers app routes with the page (single-page app fallback)', async () => {
    for (const p of [
      '/console/create',
      '/console/images/2f9c7e0e-1111-4222-8333-444455556666',
      '/console/x?tab=shared',
    ]) {
      const res = await s.request('GET', p, { token: null });
      expect(res.status, p).toBe(200);
      expect(await res.text()).toBe(index);
    }
  });

  it('serves assets with their type, an ETag, long immutable caching and gzip', async () => {
    const js = await s.request('GET', script, { token: null, headers: { 'accept-encoding': 'identity' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-encoding')).toBeNull();
    const plain = Buffer.from(await js.arrayBuffer());
    const etag = js.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);

    const again = await s.request('GET', script, { token: null, headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');

    // Node's fetch would unpack gzip itself: read the bytes as sent.
    const url = new URL(s.url);
    const packed = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      http
        .get(
          { host: url.hostname, port: url.port, path: script, headers: { 'accept-encoding': 'gzip, br' } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }),
            );
          },
        )
        .on('error', reject);
    });
    expect(packed.encoding).toBe('gzip');
    expect(packed.body.length).toBeLessThan(plain.length / 2);
    expect(gunzipSync(packed.body).equals(plain)).toBe(true);

    const css = await s.request('GET', style, { token: null });
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const head = await s.request('HEAD', script, { token: null });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers 404 for files that are not in the build, and never leaves the build folder', async () => {
    for (const p of ['/console/assets/missing.js', '/console/favicon.ico', '/console/.build-hash']) {
      const res = await s.request('GET', p, { token: null });
      expect(res.status, p).toBe(404);
      expect(res.headers.get('content-type')).toMatch(/json/);
    }
    for (const p of [
      '/console/../package.json',
      '/console/..%2f..%2fpackage.json',
      '/console/%2e%2e/%2e%2e/package.json',
      '/console/assets/..%2f..%2f..%2fpackage.json',
      '/console/%2e%2e%2f%2e%2e%2fsrc%2fserver.ts',
      '/console//etc/passwd',
    ]) {
      const res = await rawGet(p);
      expect(res.body, p).not.toContain('"name": "ims"');
      expect(res.body, p).not.toContain('createServer');
      expect(res.body, p).not.toContain('root:');
      expect([200, 400, 404], p).toContain(res.status);
    }
  });

  it('is read-only', async () => {
    const res = await s.request('POST', '/console', { token: null, body: {} });
    expect(res.status).toBe(404);
    const del = await s.request('DELETE', script, { token: null });
    expect(del.status).toBe(404);
  });
});

describe('the console route on its own', () => {
  it('answers 503 while there is no build, and picks up a build without a restart', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-console-build-'));
    const app = Fastify();
    registerConsoleRoutes(app, dir);
    try {
      const missing = await app.inject({ method: 'GET', url: '/console' });
      expect(missing.statusCode).toBe(503);
      expect(missing.body).toContain('The web console is not built');

      await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><p>one</p>');
      await fs.writeFile(path.join(dir, '.build-hash'), 'a\n');
      expect((await app.inject({ method: 'GET', url: '/console/anything' })).body).toContain('one');

      await fs.writeFile(path.join(dir, 'index.html'), '<!doctype html><p>two</p>');
      const later = new Date(Date.now() + 5000);
      await fs.writeFile(path.join(dir, '.build-hash'), 'b\n');
      await fs.utimes(path.join(dir, '.build-hash'), later, later);
      expect((await app.inject({ method: 'GET', url: '/console' })).body).toContain('two');
    } finally {
      await app.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
