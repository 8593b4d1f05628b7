/**
 * Security hygiene: failed logins and bad signatures are rate-limited per
 * source address (429 with Retry-After, in the caller's dialect), and the real
 * `ims serve` process, logging at trace level, never writes a password, a
 * token or a secret key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempSdkHome } from '../helpers/huawei-sdk.ts';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core';
import { ClientBuilder } from '@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js';
import type { HcClient } from '@huaweicloud/huaweicloud-sdk-core/HcClient.js';
import {
  ADMIN_PASSWORD,
  createTestDatabase,
  startTestServer,
  TEST_DB,
  type TestServer,
} from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const login = (url: string, password: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
  });

describe(`login and signature failures are rate-limited per source (${TEST_DB})`, () => {
  let s: TestServer;
  useTempSdkHome();
  beforeAll(async () => {
    s = await startTestServer({ IMS_AUTH_FAILURE_LIMIT: '3/1h', IMS_TRUSTED_PROXIES: '127.0.0.1' });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers 429 with Retry-After after the limit, even to the right password, per forwarded address', async () => {
    const from = { 'x-forwarded-for': '198.51.100.1' };
    for (let i = 0; i < 3; i++) expect((await login(s.url, 'wrong', from)).status).toBe(401);
    const blocked = await login(s.url, ADMIN_PASSWORD, from);
    expect(blocked.status).toBe(429);
    const retry = Number(blocked.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(3000);
    expect(retry).toBeLessThanOrEqual(3600);
    expect(await blocked.json()).toMatchObject({ error: { code: 429, title: 'Too Many Requests' } });
    // Another source is not held back by that one.
    expect((await login(s.url, ADMIN_PASSWORD, { 'x-forwarded-for': '198.51.100.2' })).status).toBe(201);
    // Successful logins do not count.
    for (let i = 0; i < 5; i++)
      expect((await login(s.url, ADMIN_PASSWORD, { 'x-forwarded-for': '198.51.100.3' })).status).toBe(201);
  });

  it('counts bad AK/SK signatures and answers 429 in the Huawei shape', async () => {
    const user = await s.tokenFor('throttle', 'throttle-user', 'member');
    const key = (
      (await (
        await s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', {
          token: user.token,
          body: { credential: {} },
        })
      ).json()) as Json
    ).credential;
    const client = (sk: string) =>
      new ClientBuilder<HcClient>((c) => c)
        .withEndpoint(s.url)
        .withCredential(new BasicCredentials().withAk(key.access).withSk(sk).withProjectId(user.projectId))
        .withOptions({ customUserAgent: 'ims-tests' })
        .build();
    const call = async (sk: string) => {
      try {
        await client(sk).sendRequest({
          method: 'GET',
          url: '/v2/images',
          contentType: 'application/json',
          queryParams: {},
          pathParams: {},
          headers: {},
        });
        return { status: 200, body: {} as Json };
      } catch (err) {
        const e = err as Json;
        return { status: (e.status ?? e.httpStatusCode) as number, body: e };
      }
    };
    // The test's own address (127.0.0.1) is the source: no X-Forwarded-For from the SDK.
    expect((await call(key.secret)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await call('x'.repeat(40))).status).toBe(401);
    const blocked = await call(key.secret);
    expect(blocked.status).toBe(429);
    expect(blocked.body.errorCode).toBe('APIGW.0308');
  });
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe(`secrets never reach the logs (${TEST_DB})`, () => {
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> | undefined;
  let dataDir: string;
  let drop: (() => Promise<void>) | undefined;
  let output = '';
  let url = '';

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-logs-'));
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      IMS_DATA_DIR: dataDir,
      IMS_LOG_LEVEL: 'trace',
      IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    };
    if (TEST_DB === 'postgres') {
      const db = await createTestDatabase();
      drop = db.drop;
      env.IMS_DATABASE_URL = db.url;
    }
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [path.resolve('bin/ims.js'), 'serve'], {
      env: { ...env, IMS_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((r) => child!.once('exit', r));
    for (let i = 0; i < 1200; i++) {
      if (
        await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`server did not start:\n${output}`);
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await exited;
    await drop?.();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('logs requests at trace level without passwords, tokens or secret keys', async () => {
    const wrong = await login(url, 'wrong-password-Zq81');
    expect(wrong.status).toBe(401);
    const ok = await login(url, ADMIN_PASSWORD);
    expect(ok.status).toBe(201);
    const token = ok.headers.get('x-subject-token')!;
    const req = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
      fetch(`${url}${p}`, {
        method,
        headers: { 'x-auth-token': token, 'content-type': 'application/json', ...headers },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const userPassword = 'New-User-Pass-Q7x2';
    const user = (
      (await (
        await req('POST', '/v3/users', { user: { name: 'logged', password: userPassword } })
      ).json()) as Json
    ).user;
    const newPassword = 'Changed-Pass-W9k4';
    expect(
      (
        await req('POST', `/v3/users/${user.id}/password`, {
          user: { original_password: userPassword, password: newPassword },
        })
      ).status,
    ).toBe(204);
    const key = (
      (await (await req('POST', '/v3.0/OS-CREDENTIAL/credentials', { credential: {} })).json()) as Json
    ).credential;
    const cred = (
      (await (
        await req(
          'POST',
          `/v3/users/${((await (await req('GET', '/v3/auth/tokens', undefined, { 'x-subject-token': token })).json()) as Json).token.user.id}/application_credentials`,
          {
            application_credential: { name: 'logged', secret: 'App-Cred-Secret-M3p8' },
          },
        )
      ).json()) as Json
    ).application_credential;
    expect(cred.secret).toBe('App-Cred-Secret-M3p8');
    expect((await req('DELETE', '/v3/auth/tokens', undefined, { 'x-subject-token': token })).status).toBe(
      204,
    );
    // Let the last log lines flush.
    await new Promise((r) => setTimeout(r, 500));

    expect(output).toContain('"request_id"');
    expect(output).toContain('/v3/auth/tokens');
    for (const secret of [
      ADMIN_PASSWORD,
      'wrong-password-Zq81',
      userPassword,
      newPassword,
      token,
      token.split('.')[2]!,
      key.secret as string,
      'App-Cred-Secret-M3p8',
    ]) {
      expect(output.includes(secret), `the log shows ${secret.slice(0, 6)}...`).toBe(false);
    }
  }, 120_000);
});
