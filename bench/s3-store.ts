/**
 * S3 store benchmark (not part of CI): `npx tsx bench/s3-store.ts [--size-mib N] [--part-mib N]
 * [--concurrency N] [--runs N] [--skip-api]`, with the S3 environment of
 * `eval "$(../shared/services/s3-up.sh)"`.
 *
 * Moves one generated object (default 1 GiB, incompressible) through, interleaved in each run:
 *   raw:    the AWS SDK alone, as ../shared/services/s3-bench.mjs does it: lib-storage `Upload`
 *           (same part size, queue = concurrency) and one GetObject stream;
 *   driver: S3BlobStore (openWriter/commit, read) with the same part size and concurrency;
 *   IMS:    `PUT /v2/images/{id}/file` and `GET .../file` on `node bin/ims.js serve` (a child
 *           process, SQLite, IMS_STORE=s3): the upload is hashed (md5 + sha512) and inspected on its
 *           way; the download is proxied by IMS (requested as `Range: bytes=0-`, which IMS serves
 *           itself) and, with IMS_S3_PRESIGNED_DOWNLOADS, redirected to the store.
 * and prints the best MiB/s of each with its ratio to raw (issue target for IMS: ≥ 0.6×). Also the
 * peak RSS growth of this process during the driver upload, and of the server during its upload:
 * the writer holds at most concurrency × part size.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3BlobStore } from '../src/adapters/storage/s3-blob-store.ts';

const MiB = 1024 * 1024;
const HOST = '127.0.0.1';
const REPO = path.resolve(import.meta.dirname, '..');
const BUCKET = 'ims-bench';

const { values: argv } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    'part-mib': { type: 'string', default: '16' },
    concurrency: { type: 'string', default: '4' },
    runs: { type: 'string', default: '2' },
    'skip-api': { type: 'boolean', default: false },
  },
});
const SIZE = Number(argv['size-mib']) * MiB;
const PART = Number(argv['part-mib']) * MiB;
const CONCURRENCY = Number(argv.concurrency);
const RUNS = Number(argv.runs);

const env = process.env;
if (!env.S3_ENDPOINT || !env.S3_ACCESS_KEY_ID || !env.S3_SECRET_ACCESS_KEY) {
  process.stderr.write('needs the S3 environment: eval "$(../shared/services/s3-up.sh)"\n');
  process.exit(2);
}
const prefix = `bench-${randomUUID()}/`;
const store = new S3BlobStore({
  bucket: BUCKET,
  region: env.S3_REGION ?? 'us-east-1',
  endpoint: env.S3_ENDPOINT,
  forcePathStyle: true,
  credentials: { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY },
  keyPrefix: prefix,
  partSize: PART,
  concurrency: CONCURRENCY,
});
const s3 = store.client;
const children = new Set<ChildProcess>();
const log = (msg: string) => process.stdout.write(`${msg}\n`);

/** Incompressible data, never on disk: a random 1 MiB block, each 4 KiB page stamped with the block number. */
function generated(size: number): Readable {
  const block = randomBytes(MiB);
  let produced = 0;
  let index = 0;
  return new Readable({
    highWaterMark: MiB,
    read() {
      if (produced >= size) return void this.push(null);
      const out = Buffer.from(block);
      index++;
      for (let off = 0; off < MiB; off += 4096)
        out.writeUInt32LE((index ^ block.readUInt32LE(off)) >>> 0, off);
      const n = Math.min(MiB, size - produced);
      produced += n;
      this.push(n === MiB ? out : out.subarray(0, n));
    },
  });
}

async function timed(what: string, work: () => Promise<number>): Promise<number> {
  const t0 = performance.now();
  const bytes = await work();
  const seconds = (performance.now() - t0) / 1000;
  if (bytes !== SIZE) throw new Error(`${what}: moved ${bytes} bytes, expected ${SIZE}`);
  return SIZE / MiB / seconds;
}

async function drain(stream: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += (chunk as Buffer).length;
  return n;
}

/** Samples a resident set size every 100 ms while `work` runs; returns its peak growth in MiB over the start. */
async function peakGrowth<T>(
  rss: () => number,
  work: () => Promise<T>,
): Promise<{ result: T; peakMiB: number }> {
  const before = rss();
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rss())), 100);
  try {
    const result = await work();
    return { result, peakMiB: (Math.max(peak, rss()) - before) / MiB };
  } finally {
    clearInterval(timer);
  }
}

function vmRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

// ---- IMS as a child process -------------------------------------------------------------------

function request(
  port: number,
  method: string,
  p: string,
  opts: {
    token?: string;
    json?: unknown;
    body?: Readable;
    length?: number;
    headers?: Record<string, string>;
  } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const payload = opts.json === undefined ? undefined : Buffer.from(JSON.stringify(opts.json));
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.token) headers['x-auth-token'] = opts.token;
    if (payload) headers['content-type'] = 'application/json';
    if (opts.body) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = String(opts.length);
    }
    const req = http.request({ host: HOST, port, method, path: p, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body) pipeline(opts.body, req).catch(reject);
    else req.end(payload);
  });
}

/** Reads a download on a raw socket (a Node IncomingMessage would measure the client, not the server). */
function rawDownload(
  url: URL,
  headers: Record<string, string>,
): Promise<{ status: number; bytes: number; location?: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    let head: Buffer | null = Buffer.alloc(0);
    let expected = -1;
    let bytes = 0;
    const done = (value: { status: number; bytes: number; location?: string }) => {
      socket.destroy();
      resolve(value);
    };
    socket.on('connect', () => {
      const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${lines.join('')}Connection: close\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (head) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const text = head.toString('latin1', 0, end);
        const status = Number(text.slice(9, 12));
        if (status === 302)
          return done({ status, bytes: 0, location: /\r\nlocation:[ \t]*(\S+)/i.exec(text)?.[1] });
        const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
        if (!length) return reject(new Error(`download: no Content-Length in ${text.split('\r\n')[0]}`));
        expected = Number(length[1]);
        bytes = head.length - end - 4;
        head = null;
        if (status !== 200 && status !== 206) return reject(new Error(`download: ${text.split('\r\n')[0]}`));
      } else bytes += chunk.length;
      if (bytes >= expected) done({ status: 200, bytes });
    });
    socket.on('error', reject);
  });
}

async function startIms(dataDir: string): Promise<{ port: number; child: ChildProcess; token: string }> {
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, HOST, () => {
      const { port: p } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(p));
    });
  });
  const childEnv: NodeJS.ProcessEnv = { ...env };
  for (const k of Object.keys(childEnv)) if (k.startsWith('IMS_')) delete childEnv[k];
  Object.assign(childEnv, {
    IMS_HOST: HOST,
    IMS_PORT: String(port),
    IMS_DATA_DIR: dataDir,
    IMS_ADMIN_PASSWORD: 'bench-password',
    IMS_LOG_LEVEL: 'warn',
    IMS_MAX_IMAGE_SIZE: '1TiB',
    IMS_STORE: 's3',
    IMS_S3_ENDPOINT: env.S3_ENDPOINT,
    IMS_S3_BUCKET: BUCKET,
    IMS_S3_REGION: env.S3_REGION ?? 'us-east-1',
    IMS_S3_ACCESS_KEY_ID: env.S3_ACCESS_KEY_ID,
    IMS_S3_SECRET_ACCESS_KEY: env.S3_SECRET_ACCESS_KEY,
    IMS_S3_FORCE_PATH_STYLE: 'true',
    IMS_S3_KEY_PREFIX: `${prefix}ims/`,
    IMS_S3_PART_SIZE: `${PART / MiB}MiB`,
    IMS_S3_CONCURRENCY: String(CONCURRENCY),
    IMS_S3_PRESIGNED_DOWNLOADS: 'true',
  });
  const child = spawn(process.execPath, [path.join(REPO, 'bin/ims.js'), 'serve'], {
    cwd: REPO,
    env: childEnv,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.add(child);
  for (let i = 0; ; i++) {
    const r = await request(port, 'GET', '/healthz').catch(() => null);
    if (r?.status === 200) break;
    if (i > 600 || child.exitCode !== null) throw new Error('IMS did not start');
    await new Promise((r2) => setTimeout(r2, 100));
  }
  const auth = await request(port, 'POST', '/v3/auth/tokens', {
    json: {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: 'bench-password' } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    },
  });
  return { port, child, token: String(auth.headers['x-subject-token']) };
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET })).catch(() => undefined);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ims-bench-s3-'));
  const ims = argv['skip-api'] ? null : await startIms(dataDir);
  const best: Record<string, number> = {};
  const record = (name: string, mibps: number) => {
    best[name] = Math.max(best[name] ?? 0, mibps);
    log(`  ${name.padEnd(34)} ${mibps.toFixed(1).padStart(7)} MiB/s`);
  };
  let driverPeak = 0;
  let imsPeak = 0;
  log(
    `S3 store benchmark: ${SIZE / MiB} MiB, parts of ${PART / MiB} MiB, concurrency ${CONCURRENCY}, best of ${RUNS}`,
  );
  try {
    for (let run = 1; run <= RUNS; run++) {
      log(`run ${run}`);
      const rawKey = `${prefix}raw`;
      // The driver first: its RSS growth is measured before lib-storage's buffers inflate the heap.
      const { result: driverUp, peakMiB } = await peakGrowth(
        () => process.memoryUsage().rss,
        () =>
          timed('driver upload', async () => {
            const writer = await store.openWriter('driver');
            await pipeline(generated(SIZE), writer.stream);
            return (await writer.commit()).size;
          }),
      );
      driverPeak = Math.max(driverPeak, peakMiB);
      record('driver upload (S3BlobStore)', driverUp);
      record(
        'raw upload (lib-storage)',
        await timed('raw upload', async () => {
          await new Upload({
            client: s3,
            params: { Bucket: BUCKET, Key: rawKey, Body: generated(SIZE) },
            partSize: PART,
            queueSize: CONCURRENCY,
          }).done();
          return SIZE;
        }),
      );
      record(
        'raw download (GetObject)',
        await timed('raw download', async () => {
          const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: rawKey }));
          return drain(out.Body as Readable);
        }),
      );
      record(
        'driver download (S3BlobStore)',
        await timed('driver download', async () => drain(await store.read('driver'))),
      );

      if (ims) {
        const created = await request(ims.port, 'POST', '/v2/images', {
          token: ims.token,
          json: { name: `bench-${run}`, disk_format: 'raw', container_format: 'bare' },
        });
        const id = (JSON.parse(created.body.toString()) as { id: string }).id;
        const { result: imsUp, peakMiB: serverPeak } = await peakGrowth(
          () => vmRss(ims.child.pid!),
          () =>
            timed('IMS upload', async () => {
              const r = await request(ims.port, 'PUT', `/v2/images/${id}/file`, {
                token: ims.token,
                body: generated(SIZE),
                length: SIZE,
              });
              if (r.status !== 204)
                throw new Error(`IMS upload: ${r.status} ${r.body.toString().slice(0, 300)}`);
              return SIZE;
            }),
        );
        imsPeak = Math.max(imsPeak, serverPeak);
        record('IMS upload (PUT, hashed)', imsUp);
        const fileUrl = new URL(`http://${HOST}:${ims.port}/v2/images/${id}/file`);
        record(
          'IMS download (proxied)',
          await timed(
            'IMS download',
            async () => (await rawDownload(fileUrl, { 'x-auth-token': ims.token, range: 'bytes=0-' })).bytes,
          ),
        );
        record(
          'IMS download (presigned redirect)',
          await timed('IMS redirect download', async () => {
            const first = await rawDownload(fileUrl, { 'x-auth-token': ims.token });
            if (first.status !== 302 || !first.location) throw new Error('IMS did not redirect');
            return (await rawDownload(new URL(first.location), {})).bytes;
          }),
        );
        await request(ims.port, 'DELETE', `/v2/images/${id}`, { token: ims.token });
      }
      await store.delete('driver');
    }
    const raw = { up: best['raw upload (lib-storage)']!, down: best['raw download (GetObject)']! };
    log('\nbest MiB/s and ratio to the raw SDK');
    for (const [name, mibps] of Object.entries(best)) {
      const base = name.includes('upload') ? raw.up : raw.down;
      log(`  ${name.padEnd(34)} ${mibps.toFixed(1).padStart(7)}   ${(mibps / base).toFixed(2)}×`);
    }
    log(
      `\npeak RSS growth: driver upload ${driverPeak.toFixed(0)} MiB (this process), IMS upload ${imsPeak.toFixed(0)} MiB (server)`,
    );
    log(`bound on part buffers: ${(Math.max(CONCURRENCY, 2) * PART) / MiB} MiB per upload`);
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await store.purgeStaleUploads(-60_000).catch(() => undefined);
    // The raw object and IMS's objects are under the same prefix.
    for await (const { key } of store.list('')) await store.delete(key);
    fs.rmSync(dataDir, { recursive: true, force: true });
    store.client.destroy();
  }
}

main().catch((err: unknown) => {
  for (const child of children) child.kill('SIGTERM');
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
