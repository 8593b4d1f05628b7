/**
 * Kills the only IMS process with SIGKILL at random moments while uploads,
 * web-download imports (with conversion), IMS copies and deletes are under way,
 * restarts it, and at the end checks what a crash must never leave: an active
 * image whose bytes are not the ones sent, an image stuck in saving, uploading
 * or importing, an unfinished job, or (after `ims gc`) a store object that no
 * blob row references. test/scaleout/crash.test.ts runs it for about a minute;
 * bench/crash-soak.ts for as long as one wants.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { openDatabase } from '../../src/adapters/db/database.ts';
import type { Database } from '../../src/adapters/db/schema.ts';
import type { BlobStore } from '../../src/adapters/storage/blob-store.ts';
import { FileBlobStore } from '../../src/adapters/storage/file-blob-store.ts';
import { S3BlobStore } from '../../src/adapters/storage/s3-blob-store.ts';
import { IMAGE_COPY_IN_REGION } from '../../src/services/image-copy-kind.ts';
import { client, login, poll, spawnIms, startApi } from './processes.ts';
import { emptyTestStore, s3StoreOptions, s3TestEnv, s3TestServer } from './s3.ts';
import { ADMIN_PASSWORD, createTestDatabase } from './server.ts';

const run = promisify(execFile);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WEB_HOST = '127.0.0.7';

export interface CrashOptions {
  db: 'sqlite' | 'postgres';
  store: 'file' | 's3';
  /** Stop starting new rounds after this long. */
  durationMs: number;
  /** At least this many rounds, whatever the time. */
  minRounds: number;
  /** Bytes per uploaded image and of the imported image's raw data. */
  imageBytes: number;
  log?: (line: string) => void;
}

export interface CrashReport {
  rounds: number;
  images: number;
  active: number;
  verified: number;
  /** What is wrong; empty when the deployment came through every crash intact. */
  problems: string[];
  /** kind: reason of every job that FAILed (a job killed on each of its attempts is one). */
  failedJobs: string[];
  gc: unknown;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** PUT of `data` trickled in small chunks, so that a kill lands mid-stream. Never rejects. */
function slowUpload(url: string, token: string, id: string, data: Buffer): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.request(`${url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: {
        'x-auth-token': token,
        'content-type': 'application/octet-stream',
        'content-length': data.length,
      },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('error', () => resolve(null));
    let off = 0;
    const step = Math.max(64 * 1024, Math.floor(data.length / 40));
    const next = () => {
      if (off >= data.length) return void req.end();
      req.write(data.subarray(off, off + step));
      off += step;
      setTimeout(next, 15);
    };
    next();
  });
}

export async function runCrashRounds(options: CrashOptions): Promise<CrashReport> {
  const log = options.log ?? (() => {});
  const cleanups: Array<() => Promise<unknown>> = [];
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-crash-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  try {
    const env: Record<string, string> = {
      IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      IMS_LEASE: '2s',
      IMS_CONVERT_TO: 'raw',
      IMS_WEB_DOWNLOAD_ALLOW: WEB_HOST,
      IMS_DEFAULT_IMAGE_QUOTA: 'unlimited',
      IMS_LOG_LEVEL: 'warn',
      IMS_DATABASE_URL: '',
    };
    if (options.db === 'postgres') {
      const pg = await createTestDatabase();
      cleanups.push(pg.drop);
      env.IMS_DATABASE_URL = pg.url;
    }
    let store: BlobStore;
    if (options.store === 's3') {
      const server = s3TestServer();
      if (!server) throw new Error('the S3 crash run needs S3_ENDPOINT');
      Object.assign(env, await s3TestEnv());
      const s3 = new S3BlobStore(s3StoreOptions(server, { keyPrefix: env.IMS_S3_KEY_PREFIX! }));
      cleanups.push(async () => {
        await emptyTestStore(s3);
        s3.client.destroy();
      });
      store = s3;
    } else {
      store = new FileBlobStore(path.join(dataDir, 'images'));
    }
    // The test's view of the database, beside the process (SQLite in WAL mode allows it).
    const db = openDatabase(env.IMS_DATABASE_URL!, dataDir);
    cleanups.push(() => db.close());

    // The imported image: qcow2 of random data, served a little slowly.
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-crash-web-'));
    cleanups.push(() => fs.rm(work, { recursive: true, force: true }));
    const raw = randomBytes(options.imageBytes);
    await fs.writeFile(path.join(work, 'disk.raw'), raw);
    await run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'qcow2',
      path.join(work, 'disk.raw'),
      path.join(work, 'disk.qcow2'),
    ]);
    const qcow2 = await fs.readFile(path.join(work, 'disk.qcow2'));
    const web = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': qcow2.length, 'content-type': 'application/octet-stream' });
      let off = 0;
      const step = Math.max(64 * 1024, Math.floor(qcow2.length / 20));
      const next = () => {
        if (res.destroyed) return;
        if (off >= qcow2.length) return void res.end();
        res.write(qcow2.subarray(off, off + step));
        off += step;
        setTimeout(next, 20);
      };
      next();
    });
    await new Promise<void>((r) => web.listen(0, WEB_HOST, r));
    cleanups.push(() => new Promise((r) => web.close(r)));
    const webUrl = `http://${WEB_HOST}:${(web.address() as { port: number }).port}/disk.qcow2`;

    /** sha256 of the bytes each image must hold if it is active. */
    const expected = new Map<string, string>();
    const started = Date.now();
    let rounds = 0;
    while (rounds < options.minRounds || Date.now() - started < options.durationMs) {
      rounds++;
      const node = await startApi(env, { worker: true, dataDir });
      const res = await login(node.url, 'admin', 'admin');
      if (res.status !== 201) throw new Error(`login: ${res.status}`);
      const token = res.headers.get('x-subject-token')!;
      const call = client(node.url, token);
      const create = async (diskFormat: string): Promise<string | null> => {
        const r = await call('POST', '/v2/images', {
          body: { name: `crash-${rounds}`, disk_format: diskFormat, container_format: 'bare' },
        }).catch(() => null);
        return r?.status === 201 ? (((await r.json()) as Json).id as string) : null;
      };
      const actives = await db.kysely
        .selectFrom('images')
        .select('id')
        .where('status', '=', 'active')
        .where('deleted', '=', 0)
        .execute();
      const ops: Promise<unknown>[] = [];
      for (let i = 0; i < 2; i++) {
        ops.push(
          (async () => {
            const data = randomBytes(options.imageBytes);
            const id = await create('raw');
            if (!id) return;
            expected.set(id, sha256(data));
            await slowUpload(node.url, token, id, data);
          })(),
        );
      }
      ops.push(
        (async () => {
          const id = await create('qcow2');
          if (!id) return;
          expected.set(id, sha256(raw));
          await call('POST', `/v2/images/${id}/import`, {
            body: { method: { name: 'web-download', uri: webUrl } },
          }).catch(() => null);
        })(),
      );
      const source = actives[Math.floor(Math.random() * actives.length)];
      if (source) {
        ops.push(
          call('POST', `/v1/cloudimages/${source.id}/copy`, { body: { name: `copy-${rounds}` } }).catch(
            () => null,
          ),
        );
        const victim = actives.find((a) => a.id !== source.id);
        if (victim && Math.random() < 0.5)
          ops.push(call('DELETE', `/v2/images/${victim.id}`).catch(() => null));
      }
      const wait = 100 + Math.floor(Math.random() * 2500);
      await sleep(wait);
      await node.kill();
      await Promise.allSettled(ops);
      log(`round ${rounds}: killed after ${wait} ms`);
    }

    // The last start: what was interrupted is finished or reverted once the leases end.
    const node = await startApi(env, { worker: true, dataDir });
    cleanups.push(() => node.kill());
    const token = (await login(node.url, 'admin', 'admin')).headers.get('x-subject-token')!;
    const call = client(node.url, token);
    const problems: string[] = [];
    // And with no kill, an upload and an import complete: the deployment works after all the crashes.
    const calm: string[] = [];
    for (const format of ['raw', 'qcow2']) {
      const r = await call('POST', '/v2/images', {
        body: { name: 'calm', disk_format: format, container_format: 'bare' },
      });
      const id = ((await r.json()) as Json).id as string;
      calm.push(id);
      if (format === 'raw') {
        const data = randomBytes(options.imageBytes);
        expected.set(id, sha256(data));
        if ((await slowUpload(node.url, token, id, data)) !== 204)
          problems.push(`the calm upload to ${id} failed`);
      } else {
        expected.set(id, sha256(raw));
        const started = await call('POST', `/v2/images/${id}/import`, {
          body: { method: { name: 'web-download', uri: webUrl } },
        });
        if (started.status !== 202) problems.push(`the calm import of ${id} was refused: ${started.status}`);
      }
    }
    try {
      await poll(
        async () => {
          const busy = await db.kysely
            .selectFrom('images')
            .select('id')
            .where('status', 'in', ['saving', 'uploading', 'importing'])
            .where('deleted', '=', 0)
            .execute();
          const jobs = await db.kysely
            .selectFrom('jobs')
            .select('id')
            .where('status', 'in', ['INIT', 'RUNNING'])
            .execute();
          return busy.length === 0 && jobs.length === 0 ? true : undefined;
        },
        180_000,
        250,
      );
    } catch (err) {
      problems.push(`images or jobs still in progress long after the last restart: ${String(err)}`);
    }
    for (const id of calm) {
      const st = (
        await db.kysely.selectFrom('images').select('status').where('id', '=', id).executeTakeFirst()
      )?.status;
      if (st !== 'active')
        problems.push(`image ${id}, uploaded or imported after the crashes with no kill, is ${st}`);
    }
    const failedJobs = (
      await db.kysely
        .selectFrom('jobs')
        .select(['kind', 'fail_reason'])
        .where('status', '=', 'FAIL')
        .execute()
    ).map((j) => `${j.kind}: ${j.fail_reason}`);
    await expectCopies(db.kysely, expected);
    const images = await db.kysely
      .selectFrom('images')
      .select(['id', 'status'])
      .where('deleted', '=', 0)
      .execute();
    let verified = 0;
    for (const im of images) {
      if (!['active', 'queued'].includes(im.status)) problems.push(`image ${im.id} left ${im.status}`);
      if (im.status !== 'active') continue;
      const want = expected.get(im.id);
      if (!want) {
        problems.push(`image ${im.id} is active with data nobody sent`);
        continue;
      }
      const r = await call('GET', `/v2/images/${im.id}/file`);
      const got = sha256(Buffer.from(await r.arrayBuffer()));
      if (r.status !== 200 || got !== want)
        problems.push(`image ${im.id} is active with wrong data (${r.status})`);
      else verified++;
    }
    node.child.kill('SIGTERM');
    await node.exited;

    // Nothing runs now: every object nobody references may go.
    const gc = await spawnIms(['gc', '--grace', '0s'], env, dataDir);
    if ((await gc.exited) !== 0) problems.push(`ims gc failed: ${gc.output()}`);
    const gcOut = gc.output().trim().split('\n').pop() ?? '';
    const keys: string[] = [];
    for await (const o of store.list('images/')) keys.push(o.key);
    const blobs = (await db.kysely.selectFrom('blobs').select('store_key').execute()).map((b) => b.store_key);
    const orphans = keys.filter((k) => !blobs.includes(k));
    const missing = blobs.filter((k) => !keys.includes(k));
    if (orphans.length) problems.push(`objects no blob row references after gc: ${orphans.join(', ')}`);
    if (missing.length) problems.push(`blob rows whose object is gone: ${missing.join(', ')}`);
    return {
      rounds,
      images: images.length,
      active: images.filter((i) => i.status === 'active').length,
      verified,
      problems,
      failedJobs,
      gc: gcOut.startsWith('{') ? JSON.parse(gcOut) : gcOut,
    };
  } finally {
    while (cleanups.length) await cleanups.pop()!().catch(() => {});
  }
}

/** A copy holds its source's bytes: the copy job's payload names both. */
async function expectCopies(db: Kysely<Database>, expected: Map<string, string>): Promise<void> {
  const jobs = await db
    .selectFrom('jobs')
    .select('payload')
    .where('kind', '=', IMAGE_COPY_IN_REGION.name)
    .execute();
  // Copies of copies: resolve until nothing changes.
  for (let changed = true; changed;) {
    changed = false;
    for (const j of jobs) {
      const p = JSON.parse(j.payload) as { imageId: string; sourceId: string };
      const want = expected.get(p.sourceId);
      if (want && !expected.has(p.imageId)) {
        expected.set(p.imageId, want);
        changed = true;
      }
    }
  }
}
