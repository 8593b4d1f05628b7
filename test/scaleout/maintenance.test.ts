/**
 * The pieces that make several nodes and crashes safe, on a real database
 * (IMS_TEST_DB) and a real file store: the shared auth failure limiter, the
 * reaper (data leases, imports abandoned on their last attempt) and the
 * garbage collector.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { DatabaseFailureLimiter } from '../../src/adapters/failure-limiter.ts';
import { createStoreRegistry, type StoreRegistry } from '../../src/adapters/storage/store-registry.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { ImageFields } from '../../src/domain/image-rules.ts';
import { DataLeases } from '../../src/services/data-leases.ts';
import { IMAGE_IMPORT } from '../../src/services/import-kinds.ts';
import { importObjectKeys } from '../../src/services/jobs/import-handler.ts';
import { createMaintenance } from '../../src/services/jobs/start.ts';
import { createJobRegistry } from '../../src/services/jobs/handlers.ts';
import { Worker } from '../../src/services/jobs/worker.ts';
import { TEST_DB } from '../helpers/server.ts';
import { ManualClock, openJobTestDb, type JobTestDb } from '../jobs/helpers.ts';

let t: JobTestDb;
let repos: Repositories;
let dataDir: string;
let stores: StoreRegistry;
const clock = new ManualClock(Date.now());
const config = () => loadConfig({ IMS_DATA_DIR: dataDir, IMS_LEASE: '10s' });

beforeAll(async () => {
  t = await openJobTestDb();
  repos = new Repositories(t.db.kysely);
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-maint-'));
  stores = await createStoreRegistry(config().stores, dataDir);
});
afterAll(async () => {
  await t.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const fields = (extra: Partial<ImageFields> = {}): ImageFields => ({
  name: 'm',
  visibility: 'private',
  owner: 'p-maint',
  protected: false,
  osHidden: false,
  containerFormat: 'bare',
  diskFormat: 'raw',
  minDisk: 0,
  minRam: 0,
  tags: [],
  properties: {},
  enterpriseProjectId: '0',
  ...extra,
});

async function image(
  status: 'queued' | 'saving' | 'uploading' | 'importing',
  extra: Partial<ImageFields> = {},
) {
  const id = randomUUID();
  await repos.images.insert(id, fields(extra), status, clock.now().toISOString());
  return id;
}

async function put(key: string, text = 'x'): Promise<void> {
  const w = await stores.default.openWriter(key);
  w.stream.end(Buffer.from(text));
  await w.commit();
}

async function keys(): Promise<string[]> {
  const out: string[] = [];
  for await (const o of stores.default.list('images/')) out.push(o.key);
  return out.sort();
}

const status = async (id: string) => (await repos.images.find(id))!.status;

describe(`auth failure limiter shared through the database (${TEST_DB})`, () => {
  it('counts the failures of two nodes against one limit, and forgets them when the window ends', async () => {
    const limit = { failures: 3, windowSeconds: 60 };
    const a = new DatabaseFailureLimiter(t.db.kysely, limit, clock);
    // Another node: its own connection and its own limiter object.
    const b = new DatabaseFailureLimiter(t.connect().kysely, limit, clock);
    const src = `198.51.100.${Math.floor(Math.random() * 200)}`;
    await Promise.all([a.recordFailure(src), b.recordFailure(src)]);
    expect(await a.retryAfter(src)).toBe(0);
    await b.recordFailure(src);
    expect(await a.retryAfter(src)).toBe(60);
    expect(await b.retryAfter('198.51.100.250')).toBe(0);
    clock.advance(30_000);
    expect(await b.retryAfter(src)).toBe(30);
    clock.advance(30_000);
    expect(await a.retryAfter(src)).toBe(0);
    // A new window starts from one failure.
    await a.recordFailure(src);
    expect(await b.retryAfter(src)).toBe(0);
  });
});

describe(`reaper (${TEST_DB})`, () => {
  it('returns to queued the uploads and stages whose lease ended, never a live one or staged data', async () => {
    const leases = new DataLeases(t.db.kysely, clock, 10_000);
    const live = await image('queued');
    const held = await leases.begin(live, ['queued'], 'saving');
    expect(held).not.toBeNull();
    const dead = await image('queued');
    await repos.dataLeases.acquire(dead, 'dead-node', clock.now().toISOString());
    await repos.images.transition(dead, ['queued'], 'saving', clock.now().toISOString());
    const noLease = await image('uploading');
    const staged = await image('uploading');
    const blobId = randomUUID();
    await repos.blobs.insert({
      id: blobId,
      store: 'default',
      store_key: `images/${blobId}`,
      size: 1,
      checksum: '',
      os_hash_algo: 'sha512',
      os_hash_value: '',
      disk_format: 'raw',
      virtual_size: 1,
      refcount: 1,
      created_at: clock.now().toISOString(),
    });
    await repos.imports.stage(staged, blobId, clock.now().toISOString());
    clock.advance(1);

    const { reaper } = createMaintenance(t.db, { repos, clock, config: config(), stores });
    const reaped = await reaper.reap();
    expect(reaped).toMatchObject({ uploads: 1, stages: 1 });
    expect(await status(live)).toBe('saving');
    expect(await status(dead)).toBe('queued');
    expect(await status(noLease)).toBe('queued');
    expect(await status(staged)).toBe('uploading');
    await held!.end();
    clock.advance(1);
    await reaper.reap();
    // Ended without moving on: the process that held it was killed after ending the lease.
    expect(await status(live)).toBe('queued');
  });

  it('reverts an import whose job was abandoned on its last attempt, through the kind hook', async () => {
    const id = await image('importing', { diskFormat: 'qcow2' });
    const jobId = `j-${randomUUID()}`;
    const payload = {
      imageId: id,
      method: 'web-download',
      uri: 'http://example.invalid/x',
      stores: ['default'],
      allStoresMustSucceed: false,
      expected: [],
      userId: 'u',
      requestId: 'r',
    };
    await repos.jobs.enqueue(
      { id: jobId, kind: IMAGE_IMPORT.name, projectId: 'p-maint', payload, maxAttempts: 1 },
      clock.now(),
    );
    await repos.images.setServiceProperties(
      id,
      { os_glance_import_task: jobId, os_glance_importing_to_stores: 'default' },
      clock.now().toISOString(),
    );
    // What the dead worker's run wrote before it died: the download and the converted output.
    for (const [, key] of importObjectKeys(jobId, payload)) await put(key);
    await repos.jobs.claim('dead-worker', [IMAGE_IMPORT.name], 1_000, clock.now());
    clock.advance(2_000);

    const registry = createJobRegistry({ repos, clock, config: config(), stores });
    const worker = new Worker(
      { jobs: repos.jobs, registry, clock, maintenance: async () => {} },
      // The job is past its last attempt: no claim takes it, only the sweep.
      { leaseMs: 1_000, kinds: [IMAGE_IMPORT.name] },
    );
    worker.start();
    try {
      await expect
        .poll(() => repos.jobs.find(jobId).then((j) => j?.status), { timeout: 10_000 })
        .toBe('FAIL');
      await expect.poll(() => status(id), { timeout: 10_000 }).toBe('queued');
    } finally {
      await worker.stop({ graceMs: 0 });
    }
    const after = (await repos.images.find(id))!;
    expect(after.properties['os_glance_failed_import']).toBe('default');
    expect(after.properties['os_glance_importing_to_stores'] ?? '').toBe('');
    for (const [, key] of importObjectKeys(jobId, payload)) expect(await keys()).not.toContain(key);
  });
});

describe(`garbage collector (${TEST_DB})`, () => {
  it('deletes an unreferenced object only on a second look after the grace; keeps referenced objects and running imports', async () => {
    const { gc } = createMaintenance(t.db, { repos, clock, config: config(), stores });
    const orphan = `images/${randomUUID()}`;
    const lateRow = `images/${randomUUID()}`;
    await put(orphan);
    await put(lateRow);
    const jobId = `j-${randomUUID()}`;
    const payload = { imageId: randomUUID(), method: 'web-download', stores: ['default'], expected: [] };
    await repos.jobs.enqueue(
      { id: jobId, kind: IMAGE_IMPORT.name, projectId: 'p-maint', payload, maxAttempts: 3 },
      clock.now(),
    );
    const running = importObjectKeys(jobId, payload).map(([, k]) => k);
    for (const k of running) await put(k);

    const first = await gc.collect(60_000);
    expect(first.deleted).toBe(0);
    expect(await keys()).toEqual(expect.arrayContaining([orphan, lateRow, ...running]));
    // The object's row arrives (its upload's transaction commits) before the second look.
    const id = lateRow.slice('images/'.length);
    await repos.blobs.insert({
      id,
      store: 'default',
      store_key: lateRow,
      size: 1,
      checksum: '',
      os_hash_algo: 'sha512',
      os_hash_value: '',
      disk_format: 'raw',
      virtual_size: 1,
      refcount: 1,
      created_at: clock.now().toISOString(),
    });
    clock.advance(30_000);
    expect((await gc.collect(60_000)).deleted).toBe(0);
    clock.advance(30_000);
    await gc.collect(60_000);
    const left = await keys();
    expect(left).not.toContain(orphan);
    expect(left).toEqual(expect.arrayContaining([lateRow, ...running]));
    // The import ended for good: its objects are anyone's garbage now.
    await t.db.kysely.updateTable('jobs').set({ status: 'FAIL' }).where('id', '=', jobId).execute();
    await gc.collect(0);
    expect(await keys()).not.toEqual(expect.arrayContaining(running));
    expect(await keys()).toContain(lateRow);
  });
});
