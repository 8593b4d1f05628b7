import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ADMIN_PASSWORD, type TestServer } from './server.ts';

const BIN = path.resolve('bin/ims.js');

/** A port nobody listens on now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** An `ims` child process: its output, and ways to wait for it and end it. */
export interface ImsProcess {
  child: ChildProcess;
  pid: number;
  dataDir: string;
  output(): string;
  exited: Promise<number | null>;
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGKILL, its own children first (qemu-img): nothing of it runs on. */
  kill(): Promise<void>;
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** Starts `ims <args>` on its own data dir (kept across restarts when `dataDir` is given). */
export async function spawnIms(
  args: string[],
  env: Record<string, string>,
  dataDir?: string,
): Promise<ImsProcess> {
  const dir = dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'ims-node-')));
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...(process.env as Record<string, string>), IMS_LOG_LEVEL: 'info', IMS_DATA_DIR: dir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const p: ImsProcess = {
    child,
    pid: child.pid!,
    dataDir: dir,
    output: () => out,
    exited,
    async waitFor(text, timeoutMs = 90_000) {
      const until = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`ims ${args.join(' ')} exited while waiting for "${text}":\n${out.slice(-4000)}`);
        if (Date.now() > until)
          throw new Error(`waiting for "${text}" from ims ${args[0]}:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const kids = await childrenOf(child.pid!);
      child.kill('SIGKILL');
      for (const k of kids) {
        try {
          process.kill(k, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
  return p;
}

/** `ims serve` (by default without workers) on a free port, once /healthz answers. */
export async function startApi(
  env: Record<string, string>,
  options: { worker?: boolean; dataDir?: string } = {},
): Promise<ImsProcess & { url: string }> {
  const port = await freePort();
  const proc = await spawnIms(
    options.worker ? ['serve'] : ['serve', '--no-worker'],
    { ...env, IMS_PORT: String(port), IMS_HOST: '127.0.0.1' },
    options.dataDir,
  );
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 120_000;
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { ...proc, url };
    if (proc.child.exitCode !== null || Date.now() > until) {
      await proc.kill();
      throw new Error(`ims serve did not start:\n${proc.output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `ims worker`, once it says it started. */
export async function startWorker(env: Record<string, string>, concurrency = 2): Promise<ImsProcess> {
  const proc = await spawnIms(['worker', '--concurrency', String(concurrency)], env);
  await proc.waitFor('worker started');
  return proc;
}

/** A client of one node: fetch with a token, JSON in and out. */
export function client(url: string, token: string | null = null) {
  return (
    method: string,
    p: string,
    opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { accept: 'application/json', ...(opts.headers ?? {}) };
    const t = opts.token === undefined ? token : opts.token;
    if (t) headers['x-auth-token'] = t;
    let body: string | Buffer | undefined;
    if (Buffer.isBuffer(opts.body)) {
      body = opts.body;
      headers['content-type'] ??= 'application/octet-stream';
    } else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    return fetch(`${url}${p}`, { method, headers, body });
  };
}

/** A password login at a node; the project-scoped token. */
export async function login(
  url: string,
  user: string,
  project: string,
  password = ADMIN_PASSWORD,
  headers: Record<string, string> = {},
) {
  return fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
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
}

/** Just enough of a TestServer for the Keystone helpers (createMember) to talk to a node. */
export function asTestServer(url: string, adminToken: string): TestServer {
  const request = client(url, adminToken);
  return { url, adminToken, request } as unknown as TestServer;
}

/** Polls until check returns a value (not undefined), or fails with the last error after timeoutMs. */
export async function poll<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 120_000,
  intervalMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(`timed out after ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
