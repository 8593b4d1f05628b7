import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, type CliRunner } from '../helpers/cli.ts';
import { ADMIN_PASSWORD, startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let cli: CliRunner;

beforeAll(async () => {
  s = await startTestServer();
  cli = await cliRunner();
});
afterAll(async () => {
  await cli?.cleanup();
  await s?.close();
});

const readConfig = async () =>
  JSON.parse(await fs.readFile(cli.configFile, 'utf8')) as {
    current?: string;
    profiles: Record<string, Json>;
  };

describe(`ims login and profiles (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('logs in with a password from stdin and keeps the token, never the password, in a 0600 file', async () => {
    const r = await cli.run(
      [
        'login',
        '--endpoint',
        s.url,
        '--user',
        'admin',
        '--project',
        'admin',
        '--password-stdin',
        '-o',
        'json',
      ],
      { input: `${ADMIN_PASSWORD}\n` },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ profile: 'default', user: 'admin' });
    const text = await fs.readFile(cli.configFile, 'utf8');
    expect(text).not.toContain(ADMIN_PASSWORD);
    expect((await fs.stat(cli.configFile)).mode & 0o777).toBe(0o600);
    const config = await readConfig();
    expect(config.current).toBe('default');
    expect(config.profiles.default).toMatchObject({ endpoint: s.url, auth: 'password', user: 'admin' });
    expect(config.profiles.default!.token).toEqual(expect.any(String));

    const list = await cli.json<Json[]>(['image', 'list']);
    expect(list).toEqual([]);
    const profiles = await cli.json<Json[]>(['profile', 'list']);
    expect(profiles).toMatchObject([{ name: 'default', current: true, auth: 'password' }]);
    expect(JSON.stringify(profiles)).not.toContain(config.profiles.default!.token as string);
  });

  it('refuses a wrong password with exit 1 and keeps the old profile', async () => {
    const before = await fs.readFile(cli.configFile, 'utf8');
    const r = await cli.run(['login', '--user', 'admin', '--project', 'admin', '--password-stdin'], {
      input: 'wrong-password',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/HTTP 401/);
    expect(await fs.readFile(cli.configFile, 'utf8')).toBe(before);
  });

  it('an expired token: exit 4 without IMS_PASSWORD, renewed and saved with it', async () => {
    const config = await readConfig();
    config.profiles.default!.token_expires_at = '2000-01-01T00:00:00.000000Z';
    await fs.writeFile(cli.configFile, JSON.stringify(config));
    const expired = await cli.run(['image', 'list']);
    expect(expired.code).toBe(4);
    expect(expired.stderr).toMatch(
      /token of profile "default" has expired: run `ims login --profile default`/,
    );

    const renewed = await cli.run(['image', 'list'], { env: { IMS_PASSWORD: ADMIN_PASSWORD } });
    expect(renewed.code, renewed.stderr).toBe(0);
    const after = await readConfig();
    expect(Date.parse(after.profiles.default!.token_expires_at as string)).toBeGreaterThan(Date.now());
  });

  it('uses an AK/SK profile: requests are signed, image data streams', async () => {
    const key = await cli.json<Json>(['key', 'create', '--description', 'cli test']);
    expect(key.secret).toEqual(expect.any(String));
    const projectId = (await readConfig()).profiles.default!.project_id as string;
    const set = await cli.run(
      [
        'profile',
        'set',
        'signed',
        '--endpoint',
        s.url,
        '--access-key',
        key.access as string,
        '--project-id',
        projectId,
        '--secret-key-stdin',
      ],
      { input: `${key.secret as string}\n` },
    );
    expect(set.code, set.stderr).toBe(0);
    const image = await cli.json<Json>(
      ['-p', 'signed', 'image', 'create', 'signed-image', '--disk-format', 'raw', '--file', '-'],
      {
        input: Buffer.alloc(65536, 7),
      },
    );
    expect(image).toMatchObject({ status: 'active', size: 65536, owner: projectId });
    const keys = await cli.json<Json[]>(['key', 'list']);
    expect(keys.find((k) => k.access === key.access)?.last_use_time).toEqual(expect.any(String));

    // A wrong secret: the server's 401 in the Huawei dialect, exit 1.
    const config = await readConfig();
    config.profiles.signed!.secret_key = 'not-the-secret';
    await fs.writeFile(cli.configFile, JSON.stringify(config));
    const bad = await cli.run(['-p', 'signed', 'image', 'list']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 401 APIGW\./);
    expect((await cli.run(['key', 'delete', key.access as string])).code).toBe(0);
  });

  it('switches, shows and deletes profiles', async () => {
    expect(await cli.json(['profile', 'use', 'signed'])).toEqual({ current: 'signed' });
    const shown = await cli.json<Json>(['profile', 'show']);
    expect(shown).toMatchObject({ name: 'signed', current: true, auth: 'aksk' });
    expect(shown.secret_key).toMatch(/^not-…\(14 chars\)$/);
    expect(await cli.json(['profile', 'delete', 'signed'])).toEqual({ deleted: 'signed' });
    expect((await readConfig()).current).toBeUndefined();
    expect((await cli.run(['profile', 'use', 'nope'])).code).toBe(4);
  });

  it('takes a token from the environment; exit 4 with no profile, 3 with no server', async () => {
    const other = await cliRunner();
    try {
      const none = await other.run(['image', 'list']);
      expect(none.code).toBe(4);
      expect(none.stderr).toMatch(/no profile "default".*run `ims login`/);
      const viaEnv = await other.run(['image', 'list', '-o', 'json'], {
        env: { IMS_ENDPOINT: s.url, IMS_TOKEN: s.adminToken },
      });
      expect(viaEnv.code, viaEnv.stderr).toBe(0);
      expect(JSON.parse(viaEnv.stdout)).toEqual(expect.any(Array));
      const down = await other.run(['image', 'list'], {
        env: { IMS_ENDPOINT: 'http://127.0.0.1:9', IMS_TOKEN: 'x' },
      });
      expect(down.code).toBe(3);
      expect(down.stderr).toMatch(/cannot reach the server/);
    } finally {
      await other.cleanup();
    }
  });

  it('a corrupt config file is exit 4, not a crash', async () => {
    await fs.writeFile(cli.configFile, '{not json');
    const r = await cli.run(['image', 'list']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/is not valid JSON/);
  });
});
