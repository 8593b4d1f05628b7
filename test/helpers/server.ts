import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createServer, type Server } from '../../src/server.ts';
import type { Clock } from '../../src/adapters/clock.ts';
import type { Role } from '../../src/domain/context.ts';
import type { S3BlobStore } from '../../src/adapters/storage/s3-blob-store.ts';

/** Which database the API and repository tests run on: IMS_TEST_DB=sqlite (default) or postgres. */
export const TEST_DB = (process.env.IMS_TEST_DB ?? 'sqlite') as 'sqlite' | 'postgres';
const PG_ADMIN_URL = process.env.IMS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Where the API tests keep image data: IMS_TEST_STORE=file (default) or s3 (the server from s3-up.sh). */
export const TEST_STORE = (process.env.IMS_TEST_STORE ?? 'file') as 'file' | 's3';

export const ADMIN_PASSWORD = 'test-admin-password';

/** Test servers on S3, by data dir, so that storedFiles can list their objects and uploads. */
const s3Stores = new Map<string, S3BlobStore>();

/** A project-scoped token of a user of the default account, from the server at `url`. */
export async function passwordTokenAt(
  url: string,
  user: string,
  project: string,
  password: string,
): Promise<{ token: string; projectId: string; userId: string }> {
  const res = await fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: 'default' }, password } },
        },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
  });
  if (res.status !== 201) throw new Error(`token for ${user}: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: { project: { id: string }; user: { id: string } } };
  return {
    token: res.headers.get('x-subject-token')!,
    projectId: body.token.project.id,
    userId: body.token.user.id,
  };
}

/** A fresh PostgreSQL database for one test file; the machine's server keeps what others left. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ims_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export interface TestServer {
  url: string;
  config: Config;
  server: Server;
  dataDir: string;
  adminToken: string;
  /** A user with the role on the project (created on first use); returns a project-scoped token. */
  tokenFor(
    project: string,
    user: string,
    role?: Role,
  ): Promise<{ token: string; projectId: string; userId: string }>;
  /** fetch against the server with a token. */
  request(
    method: string,
    p: string,
    options?: { token?: string | null; body?: unknown; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Starts a real server on a random loopback port, on a temp data dir and a
 * fresh database; `databaseUrl` instead shares a PostgreSQL database with
 * other servers (several processes of one deployment), left to its creator to drop.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { clock?: Clock; worker?: boolean; databaseUrl?: string } = {},
): Promise<TestServer> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-test-'));
  const database =
    TEST_DB === 'postgres' && options.databaseUrl === undefined ? await createTestDatabase() : null;
  const config = loadConfig({
    IMS_DATA_DIR: dataDir,
    IMS_PORT: '0',
    IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    IMS_DATABASE_URL: options.databaseUrl ?? database?.url ?? '',
    IMS_LOG_LEVEL: 'silent',
    // Each server gets its own key prefix in the test bucket.
    ...(TEST_STORE === 's3' && !env.IMS_STORE ? await (await import('./s3.ts')).s3TestEnv() : {}),
    // Tests refuse many logins on purpose from one address; auth-throttle.test.ts tests the limit.
    IMS_AUTH_FAILURE_LIMIT: '100000/60s',
    ...env,
  });
  const server = await createServer(config, {
    logger: false,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.worker ? { worker: true } : {}),
  });
  if (server.store.kind === 's3') s3Stores.set(dataDir, server.store as S3BlobStore);
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const address = server.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  if (!env.IMS_PUBLIC_URL) config.publicUrl = url;

  const passwordToken = (user: string, project: string, password: string) =>
    passwordTokenAt(url, user, project, password);
  const admin = await passwordToken('admin', 'admin', ADMIN_PASSWORD);

  const ts: TestServer = {
    url,
    config,
    server,
    dataDir,
    adminToken: admin.token,
    async tokenFor(project, user, role = 'member') {
      await server.identity.ensureUser({
        projectName: project,
        userName: user,
        password: `pw-${user}`,
        role,
      });
      return passwordToken(user, project, `pw-${user}`);
    },
    async request(method, p, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const token = opts.token === undefined ? admin.token : opts.token;
      if (token) headers['x-auth-token'] = token;
      // As openstacksdk does; glanceclient's Accept: */* gets plain-text errors (see protocol.test.ts).
      headers.accept ??= 'application/json';
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      return fetch(`${url}${p}`, { method, headers, body });
    },
    async close() {
      await server.close();
      const s3Store = s3Stores.get(dataDir);
      if (s3Store) {
        s3Stores.delete(dataDir);
        await (await import('./s3.ts')).emptyTestStore(s3Store);
        s3Store.client.destroy();
      }
      await database?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
  return ts;
}

/**
 * Every file left in the store's object and temp folders (to prove nothing leaked). On S3, the
 * objects as `images/objects/<key>` and the unfinished multipart uploads as `images/tmp/<key>`.
 */
export async function storedFiles(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  const s3Store = s3Stores.get(dataDir);
  if (s3Store) {
    for await (const { key } of s3Store.list('')) out.push(`images/objects/${key}`);
    for await (const { key } of s3Store.pendingUploads()) out.push(`images/tmp/${key}`);
    return out.sort();
  }
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(path.relative(dataDir, p));
    }
  };
  await walk(path.join(dataDir, 'images'));
  return out.sort();
}
