import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, parseBoolean, parseDuration, parseSize } from '../../src/config/config.ts';

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
      uploadSessionTtlSeconds: 86400,
      tls: undefined,
      logLevel: 'info',
      metricsAllow: [],
      osVersionsFile: '',
      flavorsFile: '',
      maxVirtualSize: 4n * BigInt(TiB),
      masterKey: undefined,
      store: 'file',
      s3: undefined,
      stores: [{ name: 'default', driver: 'file' }],
      convertTo: null,
      convertRateLimit: null,
      webDownloadAllow: [],
      defaultQuota: { images: 50, bytes: null },
      policyFile: undefined,
      authFailureLimit: { failures: 20, windowSeconds: 60 },
      userS3: undefined,
      leaseSeconds: 30,
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

describe('loadConfig: IMS_UPLOAD_SESSION_TTL', () => {
  it('refuses what is not a duration of at least a minute', () => {
    expect(problemsOf({ IMS_UPLOAD_SESSION_TTL: '30s' }).join()).toContain('IMS_UPLOAD_SESSION_TTL');
    expect(problemsOf({ IMS_UPLOAD_SESSION_TTL: 'soon' }).join()).toContain('IMS_UPLOAD_SESSION_TTL');
    expect(loadConfig({ IMS_UPLOAD_SESSION_TTL: '1m' }).uploadSessionTtlSeconds).toBe(60);
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
      IMS_STORES: 'fast:file, bulk:file',
      IMS_CONVERT_TO: 'QCOW2',
      IMS_CONVERT_RATE_LIMIT: '200MiB',
      IMS_WEB_DOWNLOAD_ALLOW: 'mirror.internal, 10.1.0.0/16,[fd00::1]',
      IMS_OS_VERSIONS_FILE: '/etc/ims/os-versions.json',
      IMS_FLAVORS_FILE: '/etc/ims/flavors.json',
      IMS_DEFAULT_IMAGE_QUOTA: '200',
      IMS_DEFAULT_IMAGE_SIZE_QUOTA: '500GiB',
      IMS_POLICY_FILE: '/etc/ims/policy.json',
      IMS_AUTH_FAILURE_LIMIT: '5/5m',
      IMS_UPLOAD_SESSION_TTL: '2h',
      IMS_LEASE: '45s',
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
      uploadSessionTtlSeconds: 7200,
      tls: undefined,
      logLevel: 'debug',
      metricsAllow: ['192.0.2.10'],
      maxVirtualSize: 2n * BigInt(TiB),
      masterKey: Buffer.alloc(32, 0xab),
      store: 'file',
      s3: undefined,
      stores: [
        { name: 'fast', driver: 'file' },
        { name: 'bulk', driver: 'file' },
      ],
      convertTo: 'qcow2',
      convertRateLimit: 200 * 1024 * 1024,
      webDownloadAllow: ['mirror.internal', '10.1.0.0/16', '[fd00::1]'],
      osVersionsFile: '/etc/ims/os-versions.json',
      flavorsFile: '/etc/ims/flavors.json',
      defaultQuota: { images: 200, bytes: 500 * 1024 ** 3 },
      policyFile: '/etc/ims/policy.json',
      authFailureLimit: { failures: 5, windowSeconds: 300 },
      leaseSeconds: 45,
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

  it('refuses bad stores, closed or unknown conversion formats, and bad allow-list entries', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    };
    expect(problems({ IMS_STORES: 'fast:file,fast:file' })).toMatch(/named twice/);
    expect(problems({ IMS_STORES: 'fast:s4' })).toMatch(/unknown driver "s4"/);
    expect(problems({ IMS_STORES: 'fast' })).toMatch(/name:driver/);
    expect(problems({ IMS_STORES: ',' })).toMatch(/names no store/);
    expect(problems({ IMS_CONVERT_TO: 'zvhd2' })).toMatch(/format not supported by this deployment/);
    expect(problems({ IMS_CONVERT_TO: 'iso' })).toMatch(/IMS_CONVERT_TO must be off or one of/);
    expect(problems({ IMS_CONVERT_TO: 'off' })).toBe('');
    expect(problems({ IMS_CONVERT_RATE_LIMIT: '512K' })).toMatch(/IMS_CONVERT_RATE_LIMIT .* at least 1MiB/);
    expect(problems({ IMS_CONVERT_RATE_LIMIT: 'fast' })).toMatch(/IMS_CONVERT_RATE_LIMIT/);
    expect(problems({ IMS_CONVERT_RATE_LIMIT: 'off' })).toBe('');
    expect(problems({ IMS_WEB_DOWNLOAD_ALLOW: 'http://x/' })).toMatch(/IMS_WEB_DOWNLOAD_ALLOW/);
    expect(problems({ IMS_LEASE: '1s' })).toMatch(/IMS_LEASE must be a duration from 2s to 1h/);
    expect(problems({ IMS_LEASE: 'soon' })).toMatch(/IMS_LEASE/);
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

describe('loadConfig: the S3 store', () => {
  const MiB = 1024 ** 2;
  const GiB = 1024 ** 3;

  it('reads every IMS_S3_* setting', () => {
    const config = loadConfig({
      IMS_STORE: 'S3',
      IMS_S3_ENDPOINT: 'http://127.0.0.1:8080/',
      IMS_S3_BUCKET: 'images',
      IMS_S3_REGION: 'eu-west-1',
      IMS_S3_ACCESS_KEY_ID: 'ims:admin',
      IMS_S3_SECRET_ACCESS_KEY: 'secret',
      IMS_S3_FORCE_PATH_STYLE: 'true',
      IMS_S3_KEY_PREFIX: 'region-a/ims/',
      IMS_S3_PART_SIZE: '64MiB',
      IMS_S3_CONCURRENCY: '8',
      IMS_S3_MULTIPART_COPY_THRESHOLD: '1GiB',
      IMS_S3_PRESIGNED_DOWNLOADS: 'yes',
      IMS_S3_PRESIGNED_TTL: '15m',
    });
    expect(config.store).toBe('s3');
    expect(config.s3).toEqual({
      endpoint: 'http://127.0.0.1:8080',
      bucket: 'images',
      region: 'eu-west-1',
      accessKeyId: 'ims:admin',
      secretAccessKey: 'secret',
      forcePathStyle: true,
      keyPrefix: 'region-a/ims/',
      partSize: 64 * MiB,
      concurrency: 8,
      multipartCopyThreshold: GiB,
      presignedDownloadTtlSeconds: 900,
    });
  });

  it('needs only a bucket; downloads are not offloaded unless asked', () => {
    expect(loadConfig({ IMS_STORE: 's3', IMS_S3_BUCKET: 'images' }).s3).toEqual({
      endpoint: undefined,
      bucket: 'images',
      region: 'us-east-1',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      forcePathStyle: false,
      keyPrefix: '',
      partSize: 16 * MiB,
      concurrency: 4,
      multipartCopyThreshold: 5 * GiB,
      presignedDownloadTtlSeconds: null,
    });
    const offloaded = { IMS_STORE: 's3', IMS_S3_BUCKET: 'img', IMS_S3_PRESIGNED_DOWNLOADS: 'on' };
    expect(loadConfig(offloaded).s3?.presignedDownloadTtlSeconds).toBe(300);
    expect(
      loadConfig({ ...offloaded, IMS_S3_PRESIGNED_DOWNLOADS: 'off' }).s3?.presignedDownloadTtlSeconds,
    ).toBe(null);
  });

  it('reports every bad S3 setting at once', () => {
    expect(
      problemsOf({
        IMS_STORE: 's3',
        IMS_S3_ENDPOINT: 'ftp://x/y',
        IMS_S3_REGION: 'eu west',
        IMS_S3_ACCESS_KEY_ID: 'only-the-id',
        IMS_S3_FORCE_PATH_STYLE: 'maybe',
        IMS_S3_KEY_PREFIX: 'no-slash',
        IMS_S3_PART_SIZE: '1MiB',
        IMS_S3_CONCURRENCY: '0',
        IMS_S3_MULTIPART_COPY_THRESHOLD: '6GiB',
        IMS_S3_PRESIGNED_DOWNLOADS: '2',
        IMS_S3_PRESIGNED_TTL: '8d',
      }),
    ).toEqual([
      'IMS_S3_ENDPOINT must be an http(s) URL without a path, got "ftp://x/y"',
      'IMS_S3_BUCKET must name a bucket (a store uses s3), got ""',
      'IMS_S3_REGION "eu west" is not a valid region name',
      'IMS_S3_ACCESS_KEY_ID and IMS_S3_SECRET_ACCESS_KEY must be set together (or neither)',
      'IMS_S3_FORCE_PATH_STYLE must be true or false, got "maybe"',
      'IMS_S3_KEY_PREFIX must be empty or segments ending in "/" such as "ims/", got "no-slash"',
      'IMS_S3_PART_SIZE must be a size from 5MiB to 5GiB, got "1MiB"',
      'IMS_S3_MULTIPART_COPY_THRESHOLD must be a size from 5MiB to 5GiB, got "6GiB"',
      'IMS_S3_CONCURRENCY must be a number from 1 to 64, got "0"',
      'IMS_S3_PRESIGNED_DOWNLOADS must be true or false, got "2"',
      'IMS_S3_PRESIGNED_TTL must be a duration from 1s to 7d, got "8d"',
    ]);
  });

  it.each([
    [{ IMS_STORE: 'swift' }, 'IMS_STORE must be file or s3, got "swift"'],
    [{ IMS_S3_BUCKET: 'images' }, 'IMS_S3_BUCKET set, but no store uses s3 (IMS_STORE, IMS_STORES)'],
    [
      { IMS_STORE: 'file', IMS_S3_PRESIGNED_DOWNLOADS: 'true', IMS_S3_BUCKET: 'ims', IMS_S3_REGION: ' ' },
      'IMS_S3_BUCKET, IMS_S3_PRESIGNED_DOWNLOADS set, but no store uses s3 (IMS_STORE, IMS_STORES)',
    ],
    [
      { IMS_STORE: 's3', IMS_S3_BUCKET: 'a/b' },
      'IMS_S3_BUCKET must name a bucket (a store uses s3), got "a/b"',
    ],
    [
      { IMS_STORE: 's3', IMS_S3_BUCKET: 'ims', IMS_S3_KEY_PREFIX: '../x/' },
      'IMS_S3_KEY_PREFIX must be empty or segments ending in "/" such as "ims/", got "../x/"',
    ],
    [
      { IMS_STORE: 's3', IMS_S3_BUCKET: 'ims', IMS_S3_ENDPOINT: 'http://s3.local/bucket' },
      'IMS_S3_ENDPOINT must be an http(s) URL without a path, got "http://s3.local/bucket"',
    ],
    [
      { IMS_STORE: 's3', IMS_S3_BUCKET: 'ims', IMS_S3_CONCURRENCY: '2.5' },
      'IMS_S3_CONCURRENCY must be a number from 1 to 64, got "2.5"',
    ],
    [
      { IMS_STORE: 's3', IMS_S3_BUCKET: 'ims', IMS_S3_PRESIGNED_TTL: '0s' },
      'IMS_S3_PRESIGNED_TTL must be a duration from 1s to 7d, got "0s"',
    ],
  ])('reports %j', (env, problem) => {
    expect(problemsOf(env)).toEqual([problem]);
  });

  it('an s3 entry of IMS_STORES needs the IMS_S3_* settings, and uses them', () => {
    expect(problemsOf({ IMS_STORES: 'fast:file,bulk:s3' })).toEqual([
      'IMS_S3_BUCKET must name a bucket (a store uses s3), got ""',
    ]);
    const config = loadConfig({ IMS_STORES: 'fast:file,bulk:s3', IMS_S3_BUCKET: 'ims' });
    expect(config.stores).toEqual([
      { name: 'fast', driver: 'file' },
      { name: 'bulk', driver: 's3' },
    ]);
    expect(config.s3?.bucket).toBe('ims');
  });

  it('IMS_STORE=s3 without IMS_STORES makes the default store an s3 store', () => {
    expect(loadConfig({ IMS_STORE: 's3', IMS_S3_BUCKET: 'ims' }).stores).toEqual([
      { name: 'default', driver: 's3' },
    ]);
  });
});

describe('parseBoolean', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['on', true],
    ['false', false],
    ['0', false],
    [' No ', false],
    ['off', false],
  ])('reads %j', (text, value) => {
    expect(parseBoolean(text)).toBe(value);
  });

  it.each(['', 'y', '2', 'enabled'])('refuses %j', (text) => {
    expect(parseBoolean(text)).toBeNull();
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

describe("loadConfig: the tenants' object store (IMS_USER_S3_*)", () => {
  it('is off unless set, and read apart from the image store', () => {
    expect(loadConfig({}).userS3).toBeUndefined();
    const config = loadConfig({
      IMS_USER_S3_ENDPOINT: 'http://127.0.0.1:8080/',
      IMS_USER_S3_ACCESS_KEY_ID: 'tenant:user',
      IMS_USER_S3_SECRET_ACCESS_KEY: 'secret',
      IMS_USER_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config.userS3).toEqual({
      endpoint: 'http://127.0.0.1:8080',
      region: 'us-east-1',
      accessKeyId: 'tenant:user',
      secretAccessKey: 'secret',
      forcePathStyle: true,
    });
    // The image store stays on files: IMS_USER_S3_* is not an IMS_S3_* setting.
    expect(config.stores).toEqual([{ name: 'default', driver: 'file' }]);
    expect(config.s3).toBeUndefined();
  });

  it('lists every problem', () => {
    expect(
      problemsOf({
        IMS_USER_S3_REGION: 'eu west',
        IMS_USER_S3_ACCESS_KEY_ID: 'only-one',
        IMS_USER_S3_FORCE_PATH_STYLE: 'maybe',
      }),
    ).toEqual([
      'IMS_USER_S3_ENDPOINT must be an http(s) URL without a path when IMS_USER_S3_* is set, got ""',
      'IMS_USER_S3_REGION "eu west" is not a valid region name',
      'IMS_USER_S3_ACCESS_KEY_ID and IMS_USER_S3_SECRET_ACCESS_KEY must be set together (or neither)',
      'IMS_USER_S3_FORCE_PATH_STYLE must be true or false, got "maybe"',
    ]);
    expect(problemsOf({ IMS_USER_S3_ENDPOINT: 'http://host/bucket' })).toEqual([
      'IMS_USER_S3_ENDPOINT must be an http(s) URL without a path when IMS_USER_S3_* is set, got "http://host/bucket"',
    ]);
  });
});
