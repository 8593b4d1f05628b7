/**
 * `ims migrate --to-database … --to-store …` moves a deployment from SQLite + files to
 * PostgreSQL + S3 and back without losing an image: every image's data is downloaded
 * after each move and compared by sha512, users and the audit chain (master key) move
 * too. Runs bin/ims.js: `npm run build` first. Without the S3 env (S3_ENDPOINT) the
 * middle deployment keeps files; CI runs it on S3 (IMS_TEST_STORE=s3).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { createServer } from '../../src/server.ts';
import { createTestDatabase, passwordTokenAt } from '../helpers/server.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/ims.js');
const PASSWORD = 'move-admin-password';
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

const s3 = Boolean(process.env.S3_ENDPOINT);

/** A deployment's IMS_* settings, as an operator would export them. */
type Env = Record<string, string>;

async function dataDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-move-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs IMS in-process on those settings for the duration of `work`, with an admin token. */
async function withServer<T>(
  env: Env,
  work: (call: (m: string, p: string, body?: unknown) => Promise<Response>) => Promise<T>,
): Promise<T> {
  const server = await createServer(
    loadConfig({ ...env, IMS_PORT: '0', IMS_LOG_LEVEL: 'silent', IMS_ADMIN_PASSWORD: PASSWORD }),
    { logger: false },
  );
  try {
    await server.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (server.app.server.address() as { port: number }).port;
    const base = `http://127.0.0.1:${port}`;
    const { token } = await passwordTokenAt(base, 'admin', 'admin', PASSWORD);
    return await work((method, p, body) =>
      fetch(`${base}${p}`, {
        method,
        headers: {
          'x-auth-token': token,
          accept: 'application/json',
          'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json',
        },
        ...(body === undefined ? {} : { body: Buffer.isBuffer(body) ? body : JSON.stringify(body) }),
      }),
    );
  } finally {
    await server.close();
  }
}

/** Every image's name and the sha512 of the data it serves. */
async function contents(env: Env): Promise<Record<string, string>> {
  return withServer(env, async (call) => {
    const list = (await (await call('GET', '/v2/images?limit=100')).json()) as {
      images: { id: string; name: string; os_hash_value: string | null }[];
    };
    const out: Record<string, string> = {};
    for (const image of list.images) {
      if (!image.os_hash_value) {
        out[image.name] = 'no data';
        continue;
      }
      const data = Buffer.from(await (await call('GET', `/v2/images/${image.id}/file`)).arrayBuffer());
      const sha = createHash('sha512').update(data).digest('hex');
      expect(sha, image.name).toBe(image.os_hash_value);
      out[image.name] = sha;
    }
    return out;
  });
}

const migrate = (env: Env, args: string[]) =>
  run(process.execPath, [BIN, 'migrate', ...args], { env: { PATH: process.env.PATH ?? '', ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

describe(`ims migrate moves a deployment (SQLite + files → PostgreSQL + ${s3 ? 'S3' : 'files'} → SQLite + files)`, () => {
  it('keeps every image, verified by sha512, the users and the audit chain', async () => {
    const first: Env = { IMS_DATA_DIR: await dataDir() };
    const expected: Record<string, string> = {};
    await withServer(first, async (call) => {
      for (const [name, size] of [
        ['small', 1000],
        ['medium', 3 * 1024 * 1024 + 3],
        ['large', 9 * 1024 * 1024],
      ] as const) {
        const created = await call('POST', '/v2/images', {
          name,
          disk_format: 'raw',
          container_format: 'bare',
        });
        const id = ((await created.json()) as { id: string }).id;
        const data = randomBytes(size);
        expect((await call('PUT', `/v2/images/${id}/file`, data)).status).toBe(204);
        expect((await call('PUT', `/v2/images/${id}/tags/moved`)).status).toBe(204);
        expected[name] = createHash('sha512').update(data).digest('hex');
      }
      // An image without data moves too.
      expect((await call('POST', '/v2/images', { name: 'empty' })).status).toBe(201);
    });

    const pg = await createTestDatabase();
    cleanups.push(pg.drop);
    const s3Env: Env = s3 ? await (await import('../helpers/s3.ts')).s3TestEnv() : {};
    const toS3: Env = Object.fromEntries(
      Object.entries(s3Env)
        .filter(([k]) => k.startsWith('IMS_S3_'))
        .map(([k, v]) => [`IMS_TO_S3_${k.slice('IMS_S3_'.length)}`, v]),
    );
    const secondDir = await dataDir();
    const up = await migrate({ ...first, ...toS3 }, [
      '--to-database',
      pg.url,
      '--to-store',
      s3 ? 's3' : 'file',
      '--to-data-dir',
      secondDir,
    ]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain("3 images' data verified by md5 and sha512");
    const second: Env = { IMS_DATA_DIR: secondDir, IMS_DATABASE_URL: pg.url, ...s3Env };
    const afterUp = await contents(second);
    expect(afterUp).toMatchObject(expected);
    expect(Object.keys(afterUp).sort()).toEqual(['empty', 'large', 'medium', 'small']);
    // The master key moved with the data dir: the audit chain still verifies.
    const verify = await run(process.execPath, [BIN, 'audit', 'verify'], {
      env: { PATH: process.env.PATH ?? '', ...second },
    });
    expect(verify.stdout).toContain('audit trail intact');

    // A target that already holds a deployment is refused, and left as it was.
    const again = await migrate({ ...first, ...toS3 }, [
      '--to-database',
      pg.url,
      '--to-store',
      s3 ? 's3' : 'file',
      '--to-data-dir',
      secondDir,
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not empty');

    const thirdDir = await dataDir();
    const down = await migrate(second, [
      '--to-database',
      'sqlite',
      '--to-store',
      'file',
      '--to-data-dir',
      thirdDir,
    ]);
    expect(down.code, down.stderr).toBe(0);
    const afterDown = await contents({ IMS_DATA_DIR: thirdDir });
    expect(afterDown).toEqual(afterUp);
    if (s3) {
      const { S3BlobStore } = await import('../../src/adapters/storage/s3-blob-store.ts');
      const { emptyTestStore } = await import('../helpers/s3.ts');
      const store = new S3BlobStore({
        bucket: s3Env.IMS_S3_BUCKET!,
        region: s3Env.IMS_S3_REGION!,
        endpoint: s3Env.IMS_S3_ENDPOINT!,
        forcePathStyle: true,
        credentials: {
          accessKeyId: s3Env.IMS_S3_ACCESS_KEY_ID!,
          secretAccessKey: s3Env.IMS_S3_SECRET_ACCESS_KEY!,
        },
        keyPrefix: s3Env.IMS_S3_KEY_PREFIX!,
      });
      await emptyTestStore(store);
      store.client.destroy();
    }
  }, 180_000);

  it('refuses a move without a target database, and keeps plain `ims migrate`', async () => {
    const env: Env = { IMS_DATA_DIR: await dataDir() };
    const bad = await migrate(env, ['--to-store', 's3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--to-database');
    const same = await migrate(env, ['--to-database', 'sqlite']);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain('the target database is the source database');
    const plain = await migrate(env, []);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('applied: 0001-initial');
  });
});
