/**
 * IMS data-path and metadata benchmark: `npm run bench` (= `tsx bench/run.ts`). Not part of CI.
 *
 * One run starts `node bin/ims.js serve` as a child process on a free loopback port with a temporary
 * IMS_DATA_DIR, and measures, each against a baseline taken in the same run:
 *   1. upload of a generated file through PUT /v2/images/{id}/file   vs `sha512sum FILE`
 *      (streamed from disk with node:http; `dd ... conv=fsync` is printed as a disk-write reference)
 *   2. download of that image through GET /v2/images/{id}/file        vs `cat FILE > /dev/null`
 *      (read on a raw socket and dropped; best of 3 for both)
 *   3. GET /v2/images/{id} req/s over N stored images, from a load generator in a separate process
 *   4. the server's peak RSS while it receives a 4 GiB generated upload
 * and prints a summary table with targets and PASS/MISS. The temp dir and the child processes are
 * removed on every exit path (success, failure, Ctrl-C, watchdog).
 *
 * The same file is also the load generator: `run.ts --loadgen CONFIG.json` (started by the bench
 * itself) drives GET requests over raw keep-alive sockets and prints its result as one JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const MiB = 1024 * 1024;
const HOST = '127.0.0.1';
const ADMIN_PASSWORD = 'bench-admin-password';
const BLOCK = 16 * MiB;
const SELF = fileURLToPath(import.meta.url);
const REPO = path.resolve(path.dirname(SELF), '..');

// ---------------------------------------------------------------------------------------------
// Load generator (child process mode)
// ---------------------------------------------------------------------------------------------

interface LoadgenConfig {
  host: string;
  port: number;
  token: string;
  ids: string[];
  connections: number;
  warmupMs: number;
  durationMs: number;
}

interface LoadgenResult {
  seconds: number;
  requests: number;
  ok: number;
  non2xx: number;
  statuses: Record<string, number>;
  errors: number;
  errorSamples: string[];
  non2xxSamples: string[];
  reconnects: number;
  bytes: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/**
 * A minimal HTTP/1.1 keep-alive client on raw sockets (as autocannon does): one request in flight per
 * connection, ids taken round-robin from a shared cursor, responses framed by Content-Length.
 * Requests sent during the warm-up are not counted.
 */
async function runLoadgen(cfg: LoadgenConfig): Promise<LoadgenResult> {
  const requests = cfg.ids.map((id) =>
    Buffer.from(
      `GET /v2/images/${id} HTTP/1.1\r\nHost: ${cfg.host}:${cfg.port}\r\nX-Auth-Token: ${cfg.token}\r\n` +
        'Accept: application/json\r\nConnection: keep-alive\r\n\r\n',
      'latin1',
    ),
  );
  let cursor = 0;
  let latencies = new Float64Array(1 << 20);
  let count = 0;
  const statuses: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let reconnects = 0;
  let bytes = 0;
  const errorSamples: string[] = [];
  const non2xxSamples: string[] = [];
  const sockets = new Set<net.Socket>();
  const start = performance.now();
  const measureFrom = start + cfg.warmupMs;
  const end = measureFrom + cfg.durationMs;
  const noteError = (what: string) => {
    errors++;
    if (errorSamples.length < 5) errorSamples.push(what);
  };

  const connection = () =>
    new Promise<void>((resolve) => {
      let buf: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      let inFlight = false;
      const open = () => {
        const socket = net.connect({ host: cfg.host, port: cfg.port });
        sockets.add(socket);
        socket.setNoDelay(true);
        buf = Buffer.alloc(0);
        const send = () => {
          const now = performance.now();
          if (now >= end) {
            socket.end();
            return;
          }
          sentAt = now;
          inFlight = true;
          socket.write(requests[cursor++ % requests.length]!);
        };
        socket.on('connect', send);
        socket.on('error', (err) => noteError(`socket: ${err.message}`));
        socket.on('close', () => {
          sockets.delete(socket);
          if (inFlight) noteError('connection closed with a request in flight');
          inFlight = false;
          if (performance.now() < end) {
            reconnects++;
            setTimeout(open, 5);
          } else resolve();
        });
        socket.on('data', (chunk: Buffer) => {
          buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
          for (;;) {
            const headEnd = buf.indexOf('\r\n\r\n');
            if (headEnd < 0) return;
            const head = buf.toString('latin1', 0, headEnd);
            const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
            if (!length) {
              noteError(`response without Content-Length: ${head.split('\r\n')[0]}`);
              inFlight = false;
              socket.destroy();
              return;
            }
            const total = headEnd + 4 + Number(length[1]);
            if (buf.length < total) return;
            const status = Number(head.slice(9, 12));
            const body = buf.subarray(headEnd + 4, total);
            buf = buf.subarray(total);
            inFlight = false;
            if (sentAt >= measureFrom) {
              if (count === latencies.length) {
                const grown = new Float64Array(latencies.length * 2);
                grown.set(latencies);
                latencies = grown;
              }
              latencies[count++] = performance.now() - sentAt;
              statuses[status] = (statuses[status] ?? 0) + 1;
              bytes += total;
              if (status >= 200 && status < 300) ok++;
              else {
                non2xx++;
                if (non2xxSamples.length < 3)
                  non2xxSamples.push(`${status} ${body.toString('utf8', 0, 300)}`);
              }
            }
            if (/\r\nconnection:[ \t]*close/i.test(head)) {
              socket.end();
              return;
            }
            send();
          }
        });
      };
      open();
    });

  // A server that stops answering must not hang the bench: cut everything 15 s after the end.
  const hardStop = setTimeout(
    () => {
      for (const s of sockets) {
        noteError('request still unanswered 15 s after the end of the run');
        s.destroy();
      }
    },
    end - performance.now() + 15_000,
  );
  await Promise.all(Array.from({ length: cfg.connections }, connection));
  clearTimeout(hardStop);

  const sorted = latencies.subarray(0, count).sort();
  const pct = (p: number) => (count ? sorted[Math.min(count - 1, Math.floor((p / 100) * count))]! : 0);
  let sum = 0;
  for (let i = 0; i < count; i++) sum += sorted[i]!;
  return {
    seconds: cfg.durationMs / 1000,
    requests: count,
    ok,
    non2xx,
    statuses,
    errors,
    errorSamples,
    non2xxSamples,
    reconnects,
    bytes,
    latencyMs: {
      p50: pct(50),
      p90: pct(90),
      p99: pct(99),
      max: count ? sorted[count - 1]! : 0,
      mean: count ? sum / count : 0,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface Options {
  sizeMiB: number;
  skipMemory: boolean;
  images: number;
  durationS: number;
  connections: number;
  memoryMiB: number;
}

const HELP = `Usage: npm run bench -- [options]
  --size-mib N      size of the upload/download file in MiB (default 1024)
  --images N        images stored for the GET benchmark (default 2000)
  --duration S      seconds of the GET load (default 10; a 1 s warm-up comes before)
  --connections N   keep-alive connections of the load generator (default 50)
  --memory-mib N    size of the generated upload watched for RSS (default 4096)
  --skip-memory     skip the RSS test
`;

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      'size-mib': { type: 'string' },
      'skip-memory': { type: 'boolean' },
      images: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      'memory-mib': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return null;
  const positive = (name: string, text: string | undefined, dflt: number) => {
    if (text === undefined) return dflt;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${text}"`);
    return n;
  };
  return {
    sizeMiB: Math.floor(positive('size-mib', values['size-mib'], 1024)),
    skipMemory: values['skip-memory'] === true,
    images: Math.floor(positive('images', values.images, 2000)),
    durationS: positive('duration', values.duration, 10),
    connections: Math.floor(positive('connections', values.connections, 50)),
    memoryMiB: Math.floor(positive('memory-mib', values['memory-mib'], 4096)),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number, digits = 1) => n.toFixed(digits);
const log = (msg: string) => process.stdout.write(`${msg}\n`);

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A small-body request (metadata): the whole response is buffered. */
function request(
  port: number,
  method: string,
  urlPath: string,
  opts: { token?: string; json?: unknown; agent?: http.Agent | false; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.token) headers['x-auth-token'] = opts.token;
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const req = http.request(
      { host: HOST, port, method, path: urlPath, headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function expectStatus(r: Reply, status: number, what: string): void {
  if (r.status !== status) {
    throw new Error(`${what}: expected HTTP ${status}, got ${r.status}: ${r.body.toString('utf8', 0, 500)}`);
  }
}

/** Streams `source` as the image data; times the body send and the final answer separately. */
function uploadImage(
  port: number,
  token: string,
  id: string,
  source: Readable,
  length: number,
): Promise<{ status: number; body: string; sentS: number; totalS: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let sentAt = 0;
    let answered = false;
    const req = http.request(
      {
        host: HOST,
        port,
        method: 'PUT',
        path: `/v2/images/${id}/file`,
        agent: false,
        headers: {
          'x-auth-token': token,
          'content-type': 'application/octet-stream',
          'content-length': String(length),
        },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const totalS = (performance.now() - t0) / 1000;
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8', 0, 500),
            sentS: sentAt ? (sentAt - t0) / 1000 : totalS,
            totalS,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('finish', () => (sentAt = performance.now()));
    // Idle for 5 minutes (fsync of a big file included) means the server is stuck.
    req.setTimeout(300_000, () => req.destroy(new Error('upload: no progress for 300 s')));
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    pipeline(source, req).catch((err: unknown) => {
      // The server may answer (e.g. 4xx) and close before the body is sent: prefer its answer.
      setTimeout(() => {
        if (!answered) reject(err instanceof Error ? err : new Error(String(err)));
      }, 2000);
    });
  });
}

/** The test data: a random 16 MiB block, each 4 KiB page stamped with a block counter (no dedup, no compression). */
function stampedBlock(block: Buffer, index: number, out: Buffer): Buffer {
  block.copy(out);
  for (let off = 0; off + 8 <= out.length; off += 4096)
    out.writeBigUInt64LE(BigInt(index) ^ block.readBigUInt64LE(off), off);
  return out;
}

async function writeTestFile(file: string, size: number): Promise<void> {
  const block = randomBytes(BLOCK);
  const out = Buffer.allocUnsafe(BLOCK);
  const fh = await fs.promises.open(file, 'w');
  try {
    for (let i = 0, written = 0; written < size; i++) {
      const n = Math.min(BLOCK, size - written);
      await fh.write(stampedBlock(block, i + 1, out), 0, n);
      written += n;
    }
    // On disk before anything is timed: else the kernel writes this file back during the upload,
    // and the upload's own fsyncs wait behind a gigabyte that the baselines never had to wait for.
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The same data as a stream, never on disk (for the 4 GiB RSS test). */
function generatedStream(size: number): Readable {
  const block = randomBytes(BLOCK);
  let produced = 0;
  let i = 0;
  return new Readable({
    highWaterMark: BLOCK,
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(BLOCK, size - produced);
      const chunk = stampedBlock(block, ++i, Buffer.allocUnsafe(BLOCK));
      produced += n;
      this.push(n === BLOCK ? chunk : chunk.subarray(0, n));
    },
  });
}

/** Runs a command to completion; returns wall seconds and stdout. */
function timeCommand(cmd: string, args: string[]): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      const seconds = (performance.now() - t0) / 1000;
      if (code === 0) resolve({ seconds, stdout });
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/**
 * utime + stime of a process in ms (Linux /proc, 100 ticks a second): the server's CPU cost per
 * request, which a shared machine's load inflates far less than it does wall-clock rates.
 */
function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * The platform's own ceiling for a download: a bare node:http server in a child process streaming
 * FILE with fs.createReadStream (1 MiB reads) to the same raw-socket reader, best of 3. What IMS
 * adds to a download is the gap between this and its own figure.
 */
async function plainNodeDownload(file: string, size: number): Promise<number> {
  const port = await freePort();
  const source = `
    const http = require('node:http'); const fs = require('node:fs'); const { pipeline } = require('node:stream');
    http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': ${size} });
      pipeline(fs.createReadStream(${JSON.stringify(file)}, { highWaterMark: 1 << 20 }), res, () => {});
    }).listen(${port}, ${JSON.stringify(HOST)}, () => process.stdout.write('ready'));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`plain node server exited with ${code}`)));
    });
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const d = await downloadImage(port, '', 'plain');
      if (d.bytes !== size) throw new Error(`plain download returned ${d.bytes} bytes, expected ${size}`);
      best = Math.min(best, d.seconds);
    }
    return best;
  } finally {
    child.kill('SIGTERM');
    children.delete(child);
  }
}

function dirBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping and cleanup
// ---------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();
let tmpDir: string | null = null;

/** Last resort, synchronous: used on exit, signals and the watchdog. */
function cleanupSync(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  if (tmpDir) {
    fs.rmSync(tmpDir, { recursive: true, force: true });
    tmpDir = null;
  }
}

/** Asks a child to stop (SIGTERM), then kills it after `graceMs`. Returns how it ended. */
async function stopChild(child: ChildProcess, graceMs: number): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return `had already exited (code ${child.exitCode}, signal ${child.signalCode})`;
  }
  const t0 = performance.now();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
  if (!inTime) {
    child.kill('SIGKILL');
    await exited;
  }
  children.delete(child);
  const ms = performance.now() - t0;
  return inTime
    ? `ended ${child.exitCode === null ? `by ${child.signalCode}` : `with code ${child.exitCode}`} ${fmt(ms, 0)} ms after the bench sent SIGTERM`
    : `did not exit within ${graceMs} ms of SIGTERM; killed`;
}

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

interface ServerHandle {
  child: ChildProcess;
  pid: number;
  port: number;
  logLines: string[];
  logCount: { n: number };
}

async function startServer(dataDir: string): Promise<ServerHandle> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('IMS_')) delete env[k];
  Object.assign(env, {
    IMS_HOST: HOST,
    IMS_PORT: String(port),
    IMS_DATA_DIR: dataDir,
    IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
    IMS_LOG_LEVEL: 'warn',
    IMS_MAX_IMAGE_SIZE: '1TiB',
    // The GET benchmark stores thousands of images in one project; the default quota is 50.
    IMS_DEFAULT_IMAGE_QUOTA: 'unlimited',
  });
  // IMS_BENCH_NODE_ARGS (e.g. "--cpu-prof") goes to the server's node, to profile what is measured.
  const nodeArgs = (process.env.IMS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, path.join(REPO, 'bin/ims.js'), 'serve'], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const logLines: string[] = [];
  const logCount = { n: 0 };
  const collect = (stream: NodeJS.ReadableStream) => {
    let rest = '';
    stream.on('data', (c: Buffer) => {
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        logCount.n++;
        if (logLines.length < 20) logLines.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
      }
    });
  };
  collect(child.stdout!);
  collect(child.stderr!);
  if (child.pid === undefined) throw new Error('could not start the server');

  const deadline = performance.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the server exited during start-up (code ${child.exitCode}):\n${logLines.join('\n')}`);
    }
    try {
      const r = await request(port, 'GET', '/healthz', { timeoutMs: 2000 });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline)
      throw new Error(`the server did not become healthy in 60 s:\n${logLines.join('\n')}`);
    await sleep(100);
  }
  return { child, pid: child.pid, port, logLines, logCount };
}

async function getToken(port: number): Promise<string> {
  const r = await request(port, 'POST', '/v3/auth/tokens', {
    json: {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: ADMIN_PASSWORD } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    },
  });
  expectStatus(r, 201, 'POST /v3/auth/tokens');
  const token = r.headers['x-subject-token'];
  if (typeof token !== 'string') throw new Error('no X-Subject-Token in the token response');
  return token;
}

async function createImage(
  port: number,
  token: string,
  body: Record<string, unknown>,
  agent: http.Agent | false = false,
): Promise<string> {
  const r = await request(port, 'POST', '/v2/images', { token, json: body, agent });
  expectStatus(r, 201, 'POST /v2/images');
  return (JSON.parse(r.body.toString()) as { id: string }).id;
}

async function showImage(port: number, token: string, id: string): Promise<Record<string, unknown>> {
  const r = await request(port, 'GET', `/v2/images/${id}`, { token });
  expectStatus(r, 200, `GET /v2/images/${id}`);
  return JSON.parse(r.body.toString()) as Record<string, unknown>;
}

async function deleteImage(port: number, token: string, id: string): Promise<void> {
  expectStatus(await request(port, 'DELETE', `/v2/images/${id}`, { token }), 204, `DELETE /v2/images/${id}`);
}

/** VmRSS of the server every 100 ms, the maximum kept per phase. */
class RssSampler {
  readonly maxKiB = new Map<string, number>();
  phase = 'start';
  #timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.#timer = setInterval(() => this.sample(), 100);
  }
  sample(): number {
    let kib = 0;
    try {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      kib = m ? Number(m[1]) : 0;
    } catch {
      return 0; // the process is gone
    }
    if (kib > (this.maxKiB.get(this.phase) ?? 0)) this.maxKiB.set(this.phase, kib);
    return kib;
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}
const kibToMB = (kib: number) => (kib * 1024) / 1e6;

// ---------------------------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------------------------

interface Row {
  metric: string;
  value: string;
  baseline: string;
  target: string;
  pass: boolean | null;
}

async function bench(opts: Options): Promise<Row[]> {
  const rows: Row[] = [];
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ims-bench-'));
  const dataDir = path.join(tmpDir, 'data');
  const file = path.join(tmpDir, 'payload.bin');
  const size = opts.sizeMiB * MiB;
  log(
    `temp dir ${tmpDir}; node ${process.version}; ${os.cpus().length} CPUs; load average ${os
      .loadavg()
      .map((l) => fmt(l, 2))
      .join(' ')}`,
  );

  const server = await startServer(dataDir);
  log(`server pid ${server.pid} listening on ${HOST}:${server.port}`);
  const rss = new RssSampler(server.pid);
  rss.phase = 'idle';
  try {
    const readyKiB = rss.sample();
    const token = await getToken(server.port);
    await sleep(200);
    log(
      `server RSS: ${fmt(kibToMB(readyKiB))} MB when ready, ${fmt(kibToMB(rss.sample()))} MB after issuing one token`,
    );
    rss.phase = 'baselines';

    // -- 1. upload vs sha512sum ---------------------------------------------------------------
    const t0 = performance.now();
    await writeTestFile(file, size);
    log(`generated ${opts.sizeMiB} MiB test file in ${fmt((performance.now() - t0) / 1000, 2)} s`);

    // Not a target: what this disk takes to write (and fsync) the same bytes, which an upload must do too.
    const ddOut = path.join(tmpDir, 'dd.out');
    const dd = await timeCommand('dd', [`if=${file}`, `of=${ddOut}`, 'bs=1M', 'conv=fsync', 'status=none']);
    fs.rmSync(ddOut, { force: true });
    const ddMiBs = opts.sizeMiB / dd.seconds;
    log(`disk write reference (dd bs=1M conv=fsync): ${fmt(dd.seconds, 2)} s, ${fmt(ddMiBs)} MiB/s`);

    // Best of 3 each, alternating: this machine's speed changes from one second to the next, and a
    // single run of either measured the moment as much as the work.
    let shaBest = Infinity;
    let upBest: { totalS: number; sentS: number } = { totalS: Infinity, sentS: 0 };
    let imageId = '';
    for (let round = 0; round < 3; round++) {
      const sha = await timeCommand('sha512sum', [file]);
      const shaHex = sha.stdout.split(/\s+/)[0]!;
      shaBest = Math.min(shaBest, sha.seconds);
      if (imageId) await deleteImage(server.port, token, imageId);
      imageId = await createImage(server.port, token, {
        name: 'bench-payload',
        disk_format: 'raw',
        container_format: 'bare',
      });
      rss.phase = 'upload';
      const up = await uploadFileRaw(server.port, token, imageId, file, size);
      rss.phase = 'after-upload';
      if (up.status !== 204) throw new Error(`upload: expected HTTP 204, got ${up.status}: ${up.body}`);
      if (up.totalS < upBest.totalS) upBest = up;
      const shown = await showImage(server.port, token, imageId);
      const integrity = shown.status === 'active' && shown.size === size && shown.os_hash_value === shaHex;
      log(
        `round ${round + 1}: sha512sum ${fmt(sha.seconds, 2)} s; upload ${fmt(up.totalS, 2)} s (body sent after ` +
          `${fmt(up.sentS, 2)} s); image ${String(shown.status)}, size ${String(shown.size)}, sha512 ` +
          `${integrity ? 'matches' : 'DIFFERS from'} sha512sum`,
      );
      if (!integrity) throw new Error(`uploaded image is not what was sent: ${JSON.stringify(shown)}`);
    }
    const shaMiBs = opts.sizeMiB / shaBest;
    const upMiBs = opts.sizeMiB / upBest.totalS;
    log(
      `sha512sum: ${fmt(shaBest, 2)} s, ${fmt(shaMiBs)} MiB/s; upload: ${fmt(upBest.totalS, 2)} s, ` +
        `${fmt(upMiBs)} MiB/s, the 204 ${fmt(upBest.totalS - upBest.sentS, 2)} s after the body (best of 3)`,
    );
    const upRatio = upMiBs / shaMiBs;
    rows.push({
      metric: `upload ${opts.sizeMiB} MiB (MiB/s)`,
      value: `${fmt(upMiBs)}`,
      baseline: `sha512sum ${fmt(shaMiBs)}`,
      target: 'ratio >= 0.80',
      pass: null,
    });
    rows.push({
      metric: 'disk write reference (MiB/s)',
      value: fmt(ddMiBs),
      baseline: 'dd conv=fsync',
      target: 'info',
      pass: null,
    });
    rows.push({
      metric: 'upload / sha512sum ratio',
      value: fmt(upRatio, 2),
      baseline: '',
      target: '>= 0.80',
      pass: upRatio >= 0.8,
    });

    // -- 2. download vs cat ------------------------------------------------------------------
    // Both are best of 3 (each takes well under a second on a warm page cache, so one run is noisy).
    let catBest = Infinity;
    for (let i = 0; i < 3; i++) {
      const c = await timeCommand('sh', ['-c', 'cat "$1" > /dev/null', 'sh', file]);
      catBest = Math.min(catBest, c.seconds);
    }
    const catMiBs = opts.sizeMiB / catBest;
    rss.phase = 'download';
    let dlBest = Infinity;
    for (let i = 0; i < 3; i++) {
      const d = await downloadImage(server.port, token, imageId);
      if (d.bytes !== size) throw new Error(`download returned ${d.bytes} bytes, expected ${size}`);
      dlBest = Math.min(dlBest, d.seconds);
    }
    rss.phase = 'after-download';
    const plainBest = await plainNodeDownload(file, size);
    const plainMiBs = opts.sizeMiB / plainBest;
    log(
      `plain node:http + fs.createReadStream on the same file: ${fmt(plainBest, 3)} s, ${fmt(plainMiBs)} MiB/s (best of 3)`,
    );
    const dlMiBs = opts.sizeMiB / dlBest;
    log(
      `cat > /dev/null: ${fmt(catBest, 3)} s, ${fmt(catMiBs)} MiB/s; download: ${fmt(dlBest, 3)} s, ${fmt(dlMiBs)} MiB/s (best of 3)`,
    );
    fs.rmSync(file, { force: true }); // the source file is no longer needed
    const dlRatio = dlMiBs / catMiBs;
    rows.push({
      metric: `download ${opts.sizeMiB} MiB (MiB/s)`,
      value: fmt(dlMiBs),
      baseline: `cat ${fmt(catMiBs)}`,
      target: 'ratio >= 0.70',
      pass: null,
    });
    rows.push({
      metric: 'download / cat ratio',
      value: fmt(dlRatio, 2),
      baseline: '',
      target: '>= 0.70',
      pass: dlRatio >= 0.7,
    });
    rows.push({
      metric: 'download / plain node:http ratio',
      value: fmt(dlMiBs / plainMiBs, 2),
      baseline: `node ${fmt(plainMiBs)}`,
      target: 'info',
      pass: null,
    });

    // -- 3. GET /v2/images/{id} under load ---------------------------------------------------
    rss.phase = 'create-images';
    const ids = await createManyImages(server.port, token, opts.images);
    rss.phase = 'get-load';
    log(
      `running the load generator: ${opts.connections} connections, 1 s warm-up + ${opts.durationS} s, round-robin over ${ids.length} ids`,
    );
    const cpuBefore = cpuMsOf(server.pid);
    const load = await runLoadgenChild(tmpDir, {
      host: HOST,
      port: server.port,
      token,
      ids,
      connections: opts.connections,
      warmupMs: 1000,
      durationMs: opts.durationS * 1000,
    });
    rss.phase = 'after-get-load';
    // Warm-up requests included: the load generator counts only the measured ones, so this errs high.
    const cpuUsPerRequest = ((cpuMsOf(server.pid) - cpuBefore) * 1000) / Math.max(1, load.requests);
    const rps = load.requests / load.seconds;
    log(
      `GET /v2/images/{id}: ${load.requests} requests in ${load.seconds} s = ${fmt(rps, 0)} req/s; ` +
        `latency p50 ${fmt(load.latencyMs.p50, 2)} ms, p90 ${fmt(load.latencyMs.p90, 2)} ms, p99 ${fmt(load.latencyMs.p99, 2)} ms, ` +
        `max ${fmt(load.latencyMs.max, 2)} ms; statuses ${JSON.stringify(load.statuses)}; socket errors ${load.errors}; ` +
        `reconnects ${load.reconnects}; ${fmt(load.bytes / load.requests || 0, 0)} bytes/response`,
    );
    for (const s of load.errorSamples) log(`  load error: ${s}`);
    for (const s of load.non2xxSamples) log(`  non-2xx: ${s}`);
    rows.push({
      metric: `GET image req/s (${ids.length} images, ${opts.connections} conns)`,
      value: fmt(rps, 0),
      baseline: '',
      target: '>= 5000',
      pass: rps >= 5000,
    });
    rows.push({
      metric: 'GET image server CPU per request (µs)',
      value: fmt(cpuUsPerRequest, 0),
      baseline: `load ${fmt(os.loadavg()[0]!, 1)}`,
      target: '<= 200 (5,000/s on a core)',
      pass: null,
    });
    rows.push({
      metric: 'GET image latency p50 / p99 (ms)',
      value: `${fmt(load.latencyMs.p50, 2)} / ${fmt(load.latencyMs.p99, 2)}`,
      baseline: '',
      target: '',
      pass: null,
    });
    rows.push({
      metric: 'GET image non-2xx + socket errors',
      value: `${load.non2xx} + ${load.errors}`,
      baseline: '',
      target: '0',
      pass: load.non2xx === 0 && load.errors === 0 && load.requests > 0,
    });

    // -- 4. RSS while receiving a big upload --------------------------------------------------
    if (!opts.skipMemory) {
      const bigSize = opts.memoryMiB * MiB;
      const bigId = await createImage(server.port, token, {
        name: 'bench-rss',
        disk_format: 'raw',
        container_format: 'bare',
      });
      const before = rss.sample();
      rss.phase = 'big-upload';
      log(
        `uploading a ${opts.memoryMiB} MiB generated stream while sampling VmRSS of pid ${server.pid} every 100 ms (RSS now ${fmt(kibToMB(before))} MB)`,
      );
      const big = await uploadImage(server.port, token, bigId, generatedStream(bigSize), bigSize);
      rss.phase = 'after-big-upload';
      if (big.status !== 204)
        throw new Error(`${opts.memoryMiB} MiB upload: expected HTTP 204, got ${big.status}: ${big.body}`);
      const maxKiB = rss.maxKiB.get('big-upload') ?? 0;
      log(
        `${opts.memoryMiB} MiB upload: ${fmt(big.totalS, 2)} s, ${fmt(opts.memoryMiB / big.totalS)} MiB/s ` +
          `(204 came ${fmt(big.totalS - big.sentS, 2)} s after the last byte); max RSS ${fmt(kibToMB(maxKiB))} MB (${fmt(maxKiB / 1024)} MiB)`,
      );
      const bigShown = await showImage(server.port, token, bigId);
      if (bigShown.status !== 'active' || bigShown.size !== bigSize)
        throw new Error(`big image not active: ${JSON.stringify(bigShown)}`);
      const storeDir = path.join(dataDir, 'images');
      const storedBefore = dirBytes(storeDir);
      const del = await request(server.port, 'DELETE', `/v2/images/${bigId}`, { token });
      expectStatus(del, 204, 'DELETE big image');
      const storedAfter = dirBytes(storeDir);
      log(
        `deleted the ${opts.memoryMiB} MiB image: image store ${fmt(storedBefore / MiB, 0)} MiB -> ${fmt(storedAfter / MiB, 0)} MiB`,
      );
      rows.push({
        metric: `server max RSS during ${opts.memoryMiB} MiB upload (MB)`,
        value: fmt(kibToMB(maxKiB)),
        baseline: `before ${fmt(kibToMB(before))}`,
        target: '< 200',
        pass: kibToMB(maxKiB) < 200,
      });
    }
  } finally {
    rss.stop();
    log(
      `server RSS max per phase (MB): ${[...rss.maxKiB].map(([p, k]) => `${p} ${fmt(kibToMB(k))}`).join(', ')}`,
    );
    log(`server ${await stopChild(server.child, 15_000)}`);
    log(
      `server printed ${server.logCount.n} log line(s) at level warn or above` +
        (server.logLines.length
          ? `; first ${server.logLines.length}:\n  ${server.logLines.join('\n  ')}`
          : ''),
    );
  }
  return rows;
}

/**
 * PUT .../file of a file on disk from a raw socket: the file is read into two reused 1 MiB buffers,
 * each written once the socket is done with it. Node's http client with a read stream cost a
 * third more CPU than curl here, CPU the server's threads then lacked on this 2-core machine, so it
 * measured the client as much as the server (as `downloadImage` says of the reading side).
 */
async function uploadFileRaw(
  port: number,
  token: string,
  id: string,
  file: string,
  length: number,
): Promise<{ status: number; body: string; sentS: number; totalS: number }> {
  const t0 = performance.now();
  const socket = net.connect({ host: HOST, port });
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.setTimeout(300_000, () => socket.destroy(new Error('upload: no progress for 300 s')));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const bodyLength = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
      if (end >= 0 && text.length >= end + 4 + Number(bodyLength?.[1] ?? 0)) resolve(text);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
  answer.catch(() => {}); // awaited below; a failure meanwhile is not unhandled
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const write = (data: Buffer | string) =>
    new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
  await write(
    `PUT /v2/images/${id}/file HTTP/1.1\r\nHost: ${HOST}:${port}\r\nX-Auth-Token: ${token}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`,
  );
  const handle = await fs.promises.open(file, 'r');
  let sentAt = 0;
  try {
    const buffers = [Buffer.allocUnsafeSlow(MiB), Buffer.allocUnsafeSlow(MiB)];
    let writing: Promise<void> = Promise.resolve();
    for (let position = 0, i = 0; position < length; i ^= 1) {
      const { bytesRead } = await handle.read(buffers[i]!, 0, MiB, position);
      if (bytesRead === 0) throw new Error(`upload: ${file} ended at ${position} of ${length} bytes`);
      position += bytesRead;
      // The other buffer's write must be done before it is read into again.
      await writing;
      writing = write(buffers[i]!.subarray(0, bytesRead));
    }
    await writing;
    sentAt = performance.now();
  } finally {
    await handle.close();
  }
  const text = await answer;
  socket.destroy();
  const totalS = (performance.now() - t0) / 1000;
  const end = text.indexOf('\r\n\r\n');
  return {
    status: Number(text.slice(9, 12)),
    body: end >= 0 ? text.slice(end + 4, end + 504) : text.slice(0, 500),
    sentS: (sentAt - t0) / 1000,
    totalS,
  };
}

/**
 * GET .../file on a raw socket, the body counted and dropped. Node's http client (its parser and
 * IncomingMessage stream) measured at about half of what curl or a raw socket reads from the same
 * server here, so it would have measured the client rather than the server.
 */
function downloadImage(port: number, token: string, id: string): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ host: HOST, port });
    let head: Buffer | null = Buffer.alloc(0);
    let expected = -1;
    let bytes = 0;
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(120_000, () => fail(new Error('download: no progress for 120 s')));
    socket.on('connect', () =>
      socket.write(
        `GET /v2/images/${id}/file HTTP/1.1\r\nHost: ${HOST}:${port}\r\nX-Auth-Token: ${token}\r\nConnection: close\r\n\r\n`,
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      if (head) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.toString('latin1', 0, end);
        const status = Number(text.slice(9, 12));
        const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
        if (status !== 200 || !length) {
          fail(new Error(`download: expected HTTP 200 with a Content-Length, got: ${text.split('\r\n')[0]}`));
          return;
        }
        expected = Number(length[1]);
        bytes = head.length - end - 4;
        head = null;
      } else bytes += chunk.length;
      if (bytes >= expected) {
        const seconds = (performance.now() - t0) / 1000;
        socket.destroy();
        resolve({ bytes, seconds });
      }
    });
    socket.on('error', fail);
    socket.on('close', () =>
      reject(new Error(`download: connection closed after ${bytes} of ${expected} bytes`)),
    );
  });
}

/** Creates `n` images with 16 concurrent keep-alive POSTs; a quarter get tags, a third get properties. */
async function createManyImages(port: number, token: string, n: number): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const ids: string[] = new Array<string>(n);
  let next = 0;
  const t0 = performance.now();
  try {
    const worker = async () => {
      for (let i = next++; i < n; i = next++) {
        const body: Record<string, unknown> = {
          name: `bench-image-${i}`,
          disk_format: 'raw',
          container_format: 'bare',
          min_disk: i % 20,
        };
        if (i % 4 === 0) body.tags = ['bench', `group-${i % 10}`, i % 8 === 0 ? 'linux' : 'windows'];
        if (i % 3 === 0) {
          Object.assign(body, {
            os_distro: 'ubuntu',
            os_version: '22.04',
            hw_disk_bus: 'virtio',
            bench_index: String(i),
          });
        }
        ids[i] = await createImage(port, token, body, agent);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    agent.destroy();
  }
  const s = (performance.now() - t0) / 1000;
  log(
    `created ${n} images in ${fmt(s, 2)} s (${fmt(n / s, 0)} creates/s, 16 concurrent keep-alive connections)`,
  );
  const sample = await showImage(port, token, ids[0]!);
  if (!Array.isArray(sample.tags) || sample.tags.length !== 3 || sample.os_distro !== 'ubuntu') {
    throw new Error(`image 0 lacks its tags or properties: ${JSON.stringify(sample)}`);
  }
  return ids;
}

/** Runs this file in load-generator mode in a separate process (so it does not share the server's core). */
async function runLoadgenChild(dir: string, cfg: LoadgenConfig): Promise<LoadgenResult> {
  const cfgFile = path.join(dir, 'loadgen.json');
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  const child = spawn(process.execPath, [...process.execArgv, SELF, '--loadgen', cfgFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const limitMs = cfg.warmupMs + cfg.durationMs + 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  children.delete(child);
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{'))
    throw new Error(`load generator failed (exit ${code}): ${out.slice(0, 500)}`);
  return JSON.parse(line) as LoadgenResult;
}

function printSummary(rows: Row[]): void {
  const header = ['Metric', 'Measured', 'Baseline', 'Target', 'Result'];
  const cells = rows.map((r) => [
    r.metric,
    r.value,
    r.baseline,
    r.target,
    r.pass === null ? '' : r.pass ? 'PASS' : 'MISS',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  log('\n== IMS bench summary');
  log(line(header));
  log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) log(line(c));
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--loadgen') {
    const cfg = JSON.parse(fs.readFileSync(argv[1]!, 'utf8')) as LoadgenConfig;
    process.stdout.write(`${JSON.stringify(await runLoadgen(cfg))}\n`);
    return 0;
  }
  const opts = parseOptions(argv);
  if (!opts) {
    process.stdout.write(HELP);
    return 0;
  }

  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, cleaning up\n`);
      cleanupSync();
      process.exit(130);
    });
  }
  // The whole run normally takes a few minutes; past 30 it is stuck somewhere.
  setTimeout(() => {
    process.stderr.write('bench: still running after 30 minutes; giving up\n');
    cleanupSync();
    process.exit(3);
  }, 30 * 60_000).unref();

  const t0 = performance.now();
  try {
    const rows = await bench(opts);
    printSummary(rows);
    const missed = rows.filter((r) => r.pass === false).length;
    log(
      `\n${rows.filter((r) => r.pass === true).length} PASS, ${missed} MISS; total ${fmt((performance.now() - t0) / 1000, 0)} s; load average now ${os
        .loadavg()
        .map((l) => fmt(l, 2))
        .join(' ')}`,
    );
    return 0;
  } finally {
    cleanupSync();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    cleanupSync();
    process.exit(1);
  },
);
