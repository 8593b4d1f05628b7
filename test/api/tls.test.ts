/**
 * Built-in HTTPS: a certificate made by openssl for this test, the service answering
 * over TLS only, links in the version document on https, and the settings checked.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { createServer, type Server } from '../../src/server.ts';

const run = promisify(execFile);
let dir: string;
let server: Server;
let port: number;
let cert: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-tls-'));
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    path.join(dir, 'key.pem'),
    '-out',
    path.join(dir, 'cert.pem'),
  ]);
  cert = await fs.readFile(path.join(dir, 'cert.pem'));
  const config = loadConfig({
    IMS_DATA_DIR: path.join(dir, 'data'),
    IMS_PORT: '0',
    IMS_ADMIN_PASSWORD: 'tls-admin-password',
    IMS_LOG_LEVEL: 'silent',
    IMS_TLS_CERT: path.join(dir, 'cert.pem'),
    IMS_TLS_KEY: path.join(dir, 'key.pem'),
  });
  expect(config.publicUrl).toMatch(/^https:\/\//);
  server = await createServer(config, { logger: false });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  port = (server.app.server.address() as { port: number }).port;
  config.publicUrl = `https://127.0.0.1:${port}`;
});
afterAll(async () => {
  await server?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const get = (p: string, ca?: Buffer) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
  });

describe('built-in TLS (on SQLite: the database plays no part)', () => {
  it('answers over HTTPS with the configured certificate, and links on https', async () => {
    expect((await get('/healthz', cert)).status).toBe(200);
    const versions = await get('/v2/', cert);
    expect(versions.body).toContain(`https://127.0.0.1:${port}/v2/`);
    // A client that does not trust the certificate refuses it.
    await expect(get('/healthz')).rejects.toThrow(/self[- ]signed|certificate/i);
    // Plain HTTP on the TLS port gets no HTTP answer.
    const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain === 'refused' || plain === 400).toBe(true);
  });

  it('refuses half a TLS setting and missing files', () => {
    const bad = (env: Record<string, string>) => {
      try {
        loadConfig({ IMS_DATA_DIR: dir, ...env });
      } catch (err) {
        return (err as ConfigError).message;
      }
      return 'accepted';
    };
    expect(bad({ IMS_TLS_CERT: path.join(dir, 'cert.pem') })).toContain('IMS_TLS_KEY');
    expect(
      bad({ IMS_TLS_CERT: path.join(dir, 'nope.pem'), IMS_TLS_KEY: path.join(dir, 'key.pem') }),
    ).toContain('does not exist');
  });
});
