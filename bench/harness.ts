/**
 * What the API benchmarks share: a minimal keep-alive HTTP client (one socket, so that request
 * timings are not queueing), Keystone helpers, and a server under test started as `ims serve`
 * on a fresh data dir and database (SQLite, or a PostgreSQL database dropped afterwards).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PG_ADMIN = process.env.IMS_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const ADMIN_PASSWORD = 'bench-admin-password';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function call(
  port: number,
  method: string,
  p: string,
  token?: string,
  json?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: p,
        agent,
        headers: {
          accept: 'application/json',
          ...(token ? { 'x-auth-token': token } : {}),
          ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** PUTs a file's bytes, streamed from disk on a connection of its own. */
export function putFile(port: number, p: string, token: string, file: string, size: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: p,
        headers: {
          'x-auth-token': token,
          'content-type': 'application/octet-stream',
          'content-length': size,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    createReadStream(file).on('error', reject).pipe(req);
  });
}

export function must(a: Answer, status: number, what: string): Answer {
  if (a.status !== status) throw new Error(`${what}: ${a.status} ${a.body.toString().slice(0, 300)}`);
  return a;
}

export const json = (a: Answer) => JSON.parse(a.body.toString()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });

/** A project-scoped token of a user of the default account. */
export async function passwordToken(
  port: number,
  user: string,
  project: string,
  password: string,
): Promise<string> {
  const a = must(
    await call(port, 'POST', '/v3/auth/tokens', undefined, {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: 'default' }, password } },
        },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
    201,
    'token',
  );
  return a.headers['x-subject-token'] as string;
}

/** The admin's token (project admin). */
export const adminToken = (port: number) => passwordToken(port, 'admin', 'admin', ADMIN_PASSWORD);

/** A member of a fresh project in the default account, made through the Keystone admin API. */
export async function memberOf(port: number, admin: string): Promise<{ token: string; projectId: string }> {
  const project = json(
    must(
      await call(port, 'POST', '/v3/projects', admin, { project: { name: 'bench', domain_id: 'default' } }),
      201,
      'project',
    ),
  ).project.id as string;
  const user = json(
    must(
      await call(port, 'POST', '/v3/users', admin, {
        user: { name: 'bench-user', domain_id: 'default', password: 'pw-bench-user' },
      }),
      201,
      'user',
    ),
  ).user.id as string;
  const roles = json(must(await call(port, 'GET', '/v3/roles?name=member', admin), 200, 'roles')).roles;
  must(
    await call(port, 'PUT', `/v3/projects/${project}/users/${user}/roles/${roles[0].id}`, admin),
    204,
    'grant',
  );
  return { token: await passwordToken(port, 'bench-user', 'bench', 'pw-bench-user'), projectId: project };
}

export interface BenchServer {
  port: number;
  dataDir: string;
  /** Empty for SQLite in the data dir. */
  databaseUrl: string;
  /** The running server process (after start()). */
  child(): ChildProcess;
  /** Starts `ims serve` (with `env` over its settings) and waits for /healthz. */
  start(env?: Record<string, string>): Promise<void>;
  /** Stops it (SIGTERM) and waits for the exit. */
  stop(): Promise<void>;
  /** Stops it and removes the data dir and the PostgreSQL database. */
  cleanup(): Promise<void>;
}

/**
 * A server under test: a fresh data dir (and database on PostgreSQL), none of the caller's
 * IMS_* settings, `env` over them. IMS_BENCH_NODE_ARGS (e.g. "--cpu-prof") goes to the
 * server's node, to profile what is measured.
 */
export async function benchServer(options: {
  label: string;
  postgres: boolean;
  worker: boolean;
  env?: Record<string, string>;
  /** Another checkout of IMS to run (a baseline measured in the same run); default this one. */
  repo?: string;
  /** Serve another bench server's data dir and database (left to that server's cleanup). */
  sharing?: BenchServer;
}): Promise<BenchServer> {
  const repo = options.repo ?? REPO;
  const dataDir =
    options.sharing?.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), `ims-bench-${options.label}-`)));
  const dbName = `ims_bench_${options.label.replace(/\W/g, '_')}_${process.pid}`;
  const pgAdmin = async (text: string) => {
    const c = new pg.Client({ connectionString: PG_ADMIN });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  let databaseUrl = options.sharing?.databaseUrl ?? '';
  if (options.postgres && !options.sharing) {
    await pgAdmin(`CREATE DATABASE "${dbName}"`);
    const u = new URL(PG_ADMIN);
    u.pathname = `/${dbName}`;
    databaseUrl = u.toString();
  }
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('IMS_')) delete env[k];
  Object.assign(env, {
    IMS_HOST: '127.0.0.1',
    IMS_PORT: String(port),
    IMS_DATA_DIR: dataDir,
    IMS_DATABASE_URL: databaseUrl,
    IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    IMS_LOG_LEVEL: 'warn',
    ...options.env,
  });
  const nodeArgs = (process.env.IMS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  let child: ChildProcess | null = null;
  const stop = async () => {
    // Keep-alive sockets to this process die with it; the next call opens a fresh one.
    agent.destroy();
    if (child && child.exitCode === null) {
      const running = child;
      running.kill('SIGTERM');
      await new Promise((r) => running.once('exit', r));
    }
  };
  return {
    port,
    dataDir,
    databaseUrl,
    child: () => child!,
    async start(more = {}) {
      const args = [
        ...nodeArgs,
        path.join(repo, 'bin/ims.js'),
        'serve',
        ...(options.worker ? [] : ['--no-worker']),
      ];
      child = spawn(process.execPath, args, {
        cwd: repo,
        env: { ...env, ...more },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      for (let i = 0; ; i++) {
        try {
          if ((await call(port, 'GET', '/healthz')).status === 200) break;
        } catch {
          // not listening yet
        }
        if (i > 600) throw new Error('the server did not start in 60 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop,
    async cleanup() {
      await stop();
      if (options.sharing) return;
      if (options.postgres)
        await pgAdmin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => undefined);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (Linux); 0 once it is gone. */
export function cpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // Fields after the command name: state is the first, utime the 12th and stime the 13th (in ticks).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
/** Linux's USER_HZ, what /proc counts CPU time in on every architecture Node runs on. */
const CLOCK_TICKS = 100;

/** The value at quantile q (0-1) of the samples. */
export function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** A stored active image row for seeding a benchmark's database directly (no data behind it). */
export function seededImageRow(
  i: number,
  fields: { id: string; owner: string; visibility: string; createdAt: string; enterpriseProjectId?: string },
) {
  return {
    id: fields.id,
    name: `image-${i}`,
    status: 'active',
    visibility: fields.visibility,
    owner: fields.owner,
    protected: 0,
    os_hidden: 0,
    container_format: 'bare',
    disk_format: 'qcow2',
    size: 1024 * 1024 * (1 + (i % 50)),
    virtual_size: 1024 * 1024 * 1024,
    checksum: randomBytes(16).toString('hex'),
    os_hash_algo: 'sha512',
    os_hash_value: randomBytes(64).toString('hex'),
    min_disk: 40,
    min_ram: 0,
    blob_id: null,
    created_at: fields.createdAt,
    updated_at: fields.createdAt,
    deleted_at: null,
    enterprise_project_id: fields.enterpriseProjectId ?? '0',
  };
}
