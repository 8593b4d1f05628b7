/**
 * A resumable upload survives the server: `ims serve` is killed (SIGKILL) in
 * the middle of a chunk, started again on the same data dir and database, and
 * the client resumes from what the session says it holds. Uses dist/: run
 * `npm run build` first. On S3 too under IMS_TEST_STORE=s3.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, TEST_DB, TEST_STORE, passwordTokenAt } from '../helpers/server.ts';

const BIN = path.resolve('bin/ims.js');
const PASSWORD = 'restart-admin-password';
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

async function serve(env: Record<string, string>, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { ...env, IMS_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not start:\n${err}`);
}

describe(`resumable upload across a server restart (${TEST_DB}, ${TEST_STORE})`, () => {
  it('keeps the chunks received before SIGKILL and commits the right bytes after the restart', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-resume-'));
    cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      IMS_DATA_DIR: dataDir,
      IMS_ADMIN_PASSWORD: PASSWORD,
      IMS_LOG_LEVEL: 'warn',
      ...(TEST_STORE === 's3' ? await (await import('../helpers/s3.ts')).s3TestEnv() : {}),
    };
    if (TEST_DB === 'postgres') {
      const db = await createTestDatabase();
      cleanups.push(db.drop);
      env.IMS_DATABASE_URL = db.url;
    }
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let server = await serve(env, port);
    const { token } = await passwordTokenAt(base, 'admin', 'admin', PASSWORD);
    const call = (method: string, p: string, body?: unknown) =>
      fetch(`${base}${p}`, {
        method,
        headers: { 'x-auth-token': token, 'content-type': 'application/json', accept: 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const created = await call('POST', '/v2/images', { disk_format: 'raw', container_format: 'bare' });
    const id = ((await created.json()) as { id: string }).id;
    const MiB = 1024 * 1024;
    const data = randomBytes(6 * MiB + 7);
    const session = (await (
      await call('POST', `/v2/images/${id}/upload-sessions`, { size: data.length })
    ).json()) as {
      id: string;
    };
    const at = `/v2/images/${id}/upload-sessions/${session.id}`;
    const put = (start: number, end: number) =>
      fetch(`${base}${at}`, {
        method: 'PUT',
        headers: {
          'x-auth-token': token,
          'content-type': 'application/octet-stream',
          'content-range': `bytes ${start}-${end - 1}/${data.length}`,
        },
        body: data.subarray(start, end),
      });
    expect((await put(0, 2 * MiB)).status).toBe(200);

    // The second chunk is half sent when the server dies.
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', r));
    socket.on('error', () => {});
    socket.write(
      `PUT ${at} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${token}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Range: bytes ${2 * MiB}-${4 * MiB - 1}/${data.length}\r\n` +
        `Content-Length: ${2 * MiB}\r\n\r\n`,
    );
    socket.write(data.subarray(2 * MiB, 3 * MiB));
    await new Promise((r) => setTimeout(r, 300));
    server.kill('SIGKILL');
    await new Promise((r) => server.once('exit', r));
    socket.destroy();

    server = await serve(env, port);
    const state = (await (await call('GET', at)).json()) as { received: unknown; missing: unknown };
    expect(state.received).toEqual([{ start: 0, end: 2 * MiB - 1 }]);
    expect(state.missing).toEqual([{ start: 2 * MiB, end: data.length - 1 }]);
    expect((await put(4 * MiB, data.length)).status).toBe(200);
    expect((await put(2 * MiB, 4 * MiB)).status).toBe(200);
    const done = await call('POST', `${at}/commit`);
    expect(done.status, await done.clone().text()).toBe(200);
    const image = (await done.json()) as Record<string, unknown>;
    expect(image).toMatchObject({
      status: 'active',
      size: data.length,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    const down = await fetch(`${base}/v2/images/${id}/file`, { headers: { 'x-auth-token': token } });
    expect(Buffer.from(await down.arrayBuffer()).equals(data)).toBe(true);
  }, 60_000);
});
