import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, parseDuration, parseSize } from '../../src/config/config.ts';

const TiB = 1024 ** 4;

/** Requires loadConfig to fail and returns the problems it listed. */
function problemsOf(env: NodeJS.ProcessEnv): string[] {
  let thrown: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  return (thrown as ConfigError).problems;
}

describe('loadConfig: defaults', () => {
  it('runs with an empty environment', () => {
    expect(loadConfig({})).toEqual({
      host: '127.0.0.1',
      port: 9292,
      dataDir: path.resolve('./data'),
      databaseUrl: '',
      region: 'RegionOne',
      adminPassword: undefined,
      maxImageSize: TiB,
      publicUrl: 'http://127.0.0.1:9292',
      trustedProxies: [],
      tokenTtlSeconds: 86400,
      logLevel: 'info',
      metricsAllow: [],
      maxVirtualSize: 4n * BigInt(TiB),
      masterKey: undefined,
      defaultQuota: { images: 50, bytes: null },
    });
  });

  it('treats empty and blank variables as unset', () => {
    expect(loadConfig({ IMS_PORT: '', IMS_REGION: '   ', IMS_ADMIN_PASSWORD: '' })).toMatchObject({
      port: 9292,
      region: 'RegionOne',
      adminPassword: undefined,
    });
  });
});

describe('loadConfig: every IMS_* variable', () => {
  it('reads them all', () => {
    const config = loadConfig({
      IMS_HOST: '0.0.0.0',
      IMS_PORT: '8080',
      IMS_DATA_DIR: '/var/lib/ims',
      IMS_DATABASE_URL: 'postgres://ims:secret@db:5432/ims',
      IMS_REGION: 'cn-north-4',
      IMS_ADMIN_PASSWORD: 'hunter2',
      IMS_MAX_IMAGE_SIZE: '512 MiB',
      IMS_PUBLIC_URL: 'https://images.example.com/',
      IMS_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.2,,',
      IMS_TOKEN_TTL: '90m',
      IMS_LOG_LEVEL: 'DEBUG',
      IMS_METRICS_ALLOW: '192.0.2.10',
      IMS_MAX_VIRTUAL_SIZE: '2TiB',
      IMS_MASTER_KEY: 'ab'.repeat(32),
      IMS_DEFAULT_IMAGE_QUOTA: '200',
      IMS_DEFAULT_IMAGE_SIZE_QUOTA: '500GiB',
    });
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 8080,
      dataDir: '/var/lib/ims',
      databaseUrl: 'postgres://ims:secret@db:5432/ims',
      region: 'cn-north-4',
      adminPassword: 'hunter2',
      maxImageSize: 512 * 1024 ** 2,
      publicUrl: 'https://images.example.com',
      trustedProxies: ['10.0.0.1', '10.0.0.2'],
      tokenTtlSeconds: 5400,
      logLevel: 'debug',
      metricsAllow: ['192.0.2.10'],
      maxVirtualSize: 2n * BigInt(TiB),
      masterKey: Buffer.alloc(32, 0xab),
      defaultQuota: { images: 200, bytes: 500 * 1024 ** 3 },
    });
  });

  it('reads image quotas as numbers, sizes or unlimited', () => {
    expect(
      loadConfig({ IMS_DEFAULT_IMAGE_QUOTA: 'unlimited', IMS_DEFAULT_IMAGE_SIZE_QUOTA: '-1' }).defaultQuota,
    ).toEqual({
      images: null,
      bytes: null,
    });
    expect(
      loadConfig({ IMS_DEFAULT_IMAGE_QUOTA: '0', IMS_DEFAULT_IMAGE_SIZE_QUOTA: '0' }).defaultQuota,
    ).toEqual({
      images: 0,
      bytes: 0,
    });
  });

  it('refuses a master key that is not 32 bytes, and a bad virtual size limit', () => {
    expect(() => loadConfig({ IMS_MASTER_KEY: 'c2hvcnQ=', IMS_MAX_VIRTUAL_SIZE: 'lots' })).toThrow(
      /IMS_MASTER_KEY[\s\S]*IMS_MAX_VIRTUAL_SIZE|IMS_MAX_VIRTUAL_SIZE[\s\S]*IMS_MASTER_KEY/,
    );
  });

  it('derives the public URL from host and port, bracketing IPv6', () => {
    expect(loadConfig({ IMS_HOST: '::1', IMS_PORT: '9000' }).publicUrl).toBe('http://[::1]:9000');
    expect(loadConfig({ IMS_HOST: 'ims.local' }).publicUrl).toBe('http://ims.local:9292');
  });

  it('resolves a relative data dir against the working directory', () => {
    expect(loadConfig({ IMS_DATA_DIR: 'store' }).dataDir).toBe(path.resolve('store'));
  });

  it('accepts postgresql:// as well as postgres://', () => {
    expect(loadConfig({ IMS_DATABASE_URL: 'postgresql://h/db' }).databaseUrl).toBe('postgresql://h/db');
  });

  it.each(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])(
    'accepts IMS_LOG_LEVEL=%s',
    (level) => {
      expect(loadConfig({ IMS_LOG_LEVEL: level }).logLevel).toBe(level);
    },
  );

  it('accepts ports 0 and 65535', () => {
    expect(loadConfig({ IMS_PORT: '0' }).port).toBe(0);
    expect(loadConfig({ IMS_PORT: '65535' }).port).toBe(65535);
  });
});

describe('loadConfig: bad values', () => {
  it.each([
    [{ IMS_PORT: 'http' }, 'IMS_PORT must be a port number 0-65535, got "http"'],
    [{ IMS_PORT: '65536' }, 'IMS_PORT must be a port number 0-65535, got "65536"'],
    [{ IMS_PORT: '-1' }, 'IMS_PORT must be a port number 0-65535, got "-1"'],
    [
      { IMS_DATABASE_URL: 'mysql://h/db' },
      'IMS_DATABASE_URL must be empty (SQLite in the data dir) or a postgres:// URL',
    ],
    [{ IMS_REGION: 'eu west' }, 'IMS_REGION "eu west" is not a valid region id'],
    [{ IMS_REGION: '-eu' }, 'IMS_REGION "-eu" is not a valid region id'],
    [{ IMS_MAX_IMAGE_SIZE: 'huge' }, 'IMS_MAX_IMAGE_SIZE must be a size such as 1TiB, got "huge"'],
    [{ IMS_MAX_IMAGE_SIZE: '0' }, 'IMS_MAX_IMAGE_SIZE must be a size such as 1TiB, got "0"'],
    [{ IMS_TOKEN_TTL: 'forever' }, 'IMS_TOKEN_TTL must be a duration such as 24h, got "forever"'],
    [{ IMS_TOKEN_TTL: '0s' }, 'IMS_TOKEN_TTL must be a duration such as 24h, got "0s"'],
    [
      { IMS_LOG_LEVEL: 'loud' },
      'IMS_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [{ IMS_PUBLIC_URL: 'ftp://x' }, 'IMS_PUBLIC_URL must be an http(s) URL, got "ftp://x"'],
    [{ IMS_PUBLIC_URL: 'not a url' }, 'IMS_PUBLIC_URL must be an http(s) URL, got "not a url"'],
    [
      { IMS_DEFAULT_IMAGE_QUOTA: 'many' },
      'IMS_DEFAULT_IMAGE_QUOTA must be a number of images or "unlimited", got "many"',
    ],
    [
      { IMS_DEFAULT_IMAGE_SIZE_QUOTA: '2.5G' },
      'IMS_DEFAULT_IMAGE_SIZE_QUOTA must be a size such as 500GiB or "unlimited", got "2.5G"',
    ],
  ])('reports %j', (env, problem) => {
    expect(problemsOf(env)).toEqual([problem]);
  });

  it('reports several problems together in one ConfigError', () => {
    const env = {
      IMS_PORT: 'x',
      IMS_REGION: 'a b',
      IMS_MAX_IMAGE_SIZE: '1EiB',
      IMS_TOKEN_TTL: '1y',
      IMS_LOG_LEVEL: 'loud',
    };
    let thrown: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const err = thrown as ConfigError;
    expect(err.name).toBe('ConfigError');
    expect(err.problems).toEqual([
      'IMS_PORT must be a port number 0-65535, got "x"',
      'IMS_REGION "a b" is not a valid region id',
      'IMS_MAX_IMAGE_SIZE must be a size such as 1TiB, got "1EiB"',
      'IMS_TOKEN_TTL must be a duration such as 24h, got "1y"',
      'IMS_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
    expect(err.message.split('\n')).toEqual([
      'invalid configuration:',
      ...err.problems.map((p) => `  - ${p}`),
    ]);
  });

  it('does not blame IMS_PUBLIC_URL for a bad IMS_PORT when it was not set', () => {
    expect(problemsOf({ IMS_PORT: '70000' })).toEqual([
      'IMS_PORT must be a port number 0-65535, got "70000"',
    ]);
    expect(problemsOf({ IMS_PORT: '70000', IMS_PUBLIC_URL: 'gopher://x' })).toHaveLength(2);
  });
});

describe('parseSize', () => {
  it.each([
    ['1099511627776', TiB],
    ['0', 0],
    ['1TiB', TiB],
    ['1 TiB', TiB],
    ['512 MiB', 512 * 1024 ** 2],
    ['2G', 2 * 1024 ** 3],
    ['2gb', 2 * 1024 ** 3],
    ['10K', 10 * 1024],
    ['3P', 3 * 1024 ** 5],
    ['100B', 100],
    ['  7 M  ', 7 * 1024 ** 2],
  ])('reads %j', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'big', '1.5G', '-1', '1 X', '1E', '9999999P'])('refuses %j', (text) => {
    expect(parseSize(text)).toBeNull();
  });
});

describe('parseDuration', () => {
  it.each([
    ['3600', 3600],
    ['3600s', 3600],
    ['90m', 5400],
    ['24h', 86400],
    ['2d', 172800],
    [' 5 m ', 300],
    ['0', 0],
  ])('reads %j', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', 'soon', '1.5h', '-5s', '1w', '1h30m', '24H'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});
