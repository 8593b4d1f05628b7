import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, TEST_DB } from '../helpers/server.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/ims.js');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function environment(extra: Record<string, string> = {}) {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-life-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  delete env.IMS_ADMIN_PASSWORD;
  Object.assign(env, { IMS_DATA_DIR: dataDir, IMS_LOG_LEVEL: 'warn', ...extra });
  if (TEST_DB === 'postgres') {
    const db = await createTestDatabase();
    cleanups.push(db.drop);
    env.IMS_DATABASE_URL = db.url;
  }
  return { dataDir, env };
}

/** Starts `ims serve` and resolves once it listens, with what it printed so far. */
async function serve(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; output: () => string; exited: Promise<number | null> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...env, IMS_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { child, port, output: () => out, exited };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start:\n${out}`);
}

async function adminToken(port: number, password: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { name: 'Default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { name: 'Default' } } },
      },
    }),
  });
  expect(res.status).toBe(201);
  return res.headers.get('x-subject-token')!;
}

describe(`ims command (${TEST_DB})`, () => {
  it('prints help, refuses unknown commands and reports every bad setting at once', async () => {
    const help = await run(process.execPath, [BIN, '--help']);
    expect(help.stdout).toContain('ims serve');
    expect(help.stdout).toContain('IMS_DATABASE_URL');
    const unknown = await run(process.execPath, [BIN, 'frobnicate']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(unknown).toMatchObject({ code: 2 });
    expect((unknown as { stderr: string }).stderr).toContain('unknown command');
    const bad = await run(process.execPath, [BIN, 'serve'], {
      env: { ...process.env, IMS_PORT: 'abc', IMS_TOKEN_TTL: 'forever', IMS_DATABASE_URL: 'mysql://x' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    const stderr = (bad as { stderr: string }).stderr;
    expect(stderr).toContain('IMS_PORT');
    expect(stderr).toContain('IMS_TOKEN_TTL');
    expect(stderr).toContain('IMS_DATABASE_URL');
  });

  it('migrates idempotently', async () => {
    const { env } = await environment();
    const first = await run(process.execPath, [BIN, 'migrate'], { env });
    expect(first.stdout).toContain('applied: 0001-initial');
    const second = await run(process.execPath, [BIN, 'migrate'], { env });
    expect(second.stdout).toContain('up to date');
  });

  it('generates the admin password on first start only, and it works', async () => {
    const { env } = await environment();
    const first = await serve(env);
    const match = /shown only this once: (\S+)/.exec(first.output());
    expect(match).not.toBeNull();
    await adminToken(first.port, match![1]!);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const second = await serve(env);
    expect(second.output()).not.toContain('shown only this once');
    await adminToken(second.port, match![1]!);
  });

  it('on SIGTERM stops accepting but lets an upload in flight finish', async () => {
    const { env } = await environment({ IMS_ADMIN_PASSWORD: 'pw' });
    const srv = await serve(env);
    const token = await adminToken(srv.port, 'pw');
    const base = `http://127.0.0.1:${srv.port}`;
    const created = await fetch(`${base}/v2/images`, {
      method: 'POST',
      headers: { 'x-auth-token': token, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'inflight', disk_format: 'raw', container_format: 'bare' }),
    });
    const { id } = (await created.json()) as { id: string };
    const total = 4 * 1024 * 1024;
    const req = http.request(`${base}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': total },
    });
    const response = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
    });
    req.write(Buffer.alloc(total / 2, 1));
    await new Promise((r) => setTimeout(r, 300));
    srv.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    // new connections are refused while the upload goes on
    const during = await fetch(`${base}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(during === 'refused' || during === 503).toBe(true);
    req.end(Buffer.alloc(total / 2, 2));
    expect(await response).toBe(204);
    expect(await srv.exited).toBe(0);
    // the image is complete after a restart
    const again = await serve(env);
    const t2 = await adminToken(again.port, 'pw');
    const image = (await (
      await fetch(`http://127.0.0.1:${again.port}/v2/images/${id}`, { headers: { 'x-auth-token': t2 } })
    ).json()) as Record<string, unknown>;
    expect(image).toMatchObject({ status: 'active', size: total });
  });
});
