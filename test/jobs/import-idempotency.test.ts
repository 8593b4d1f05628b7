import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { createStoreRegistry } from '../../src/adapters/storage/store-registry.ts';
import type { ImportPayload } from '../../src/services/import-kinds.ts';
import { IngestPipeline } from '../../src/services/ingest.ts';
import { QuotaService } from '../../src/services/quotas.ts';
import { importImageHandler } from '../../src/services/jobs/import-handler.ts';
import type { JobRun } from '../../src/services/jobs/kind.ts';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);

// No worker in this server: the test runs the import handler itself, as a
// worker that crashes and one that takes the job over would.
let s: TestServer;
let dir: string;
let qcow2: Buffer;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-import-idem-'));
  const raw = path.join(dir, 'd.raw');
  await fs.writeFile(raw, Buffer.alloc(4 * 1024 * 1024, 7));
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(dir, 'd.qcow2')]);
  qcow2 = await fs.readFile(path.join(dir, 'd.qcow2'));
  s = await startTestServer({ IMS_STORES: 'fast:file,bulk:file', IMS_CONVERT_TO: 'raw' });
});
afterAll(async () => {
  await s?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const objects = async () => (await storedFiles(s.dataDir)).length + (await stored('stores')).length;
const stored = async (sub: string) => {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(path.join(s.dataDir, sub));
  return out;
};

describe(`import jobs are idempotent (${TEST_DB})`, () => {
  it('a run that crashed before its final transaction is redone without extra objects; a third run changes nothing', async () => {
    const created = await s.request('POST', '/v2/images', {
      body: { name: 'idem', disk_format: 'qcow2', container_format: 'bare' },
    });
    const id = ((await created.json()) as Json).id as string;
    const staged = await fetch(`${s.url}/v2/images/${id}/stage`, {
      method: 'PUT',
      headers: { 'x-auth-token': s.adminToken, 'content-type': 'application/octet-stream' },
      body: qcow2,
    });
    expect(staged.status).toBe(204);
    const res = await s.request('POST', `/v2/images/${id}/import`, {
      body: { method: { name: 'glance-direct' }, all_stores: true },
    });
    expect(res.status).toBe(202);

    const repos = new Repositories(s.server.db.kysely);
    const image = (await repos.images.find(id))!;
    const job = (await repos.jobs.find(image.properties['os_glance_import_task']!))!;
    const stores = await createStoreRegistry(s.config.stores, s.config.dataDir);
    const handler = importImageHandler({
      repos,
      clock: systemClock,
      config: s.config,
      stores,
      ingest: new IngestPipeline(stores, s.config),
      quotas: new QuotaService(repos, systemClock, s.config.defaultQuota),
    });
    const runOf = (attempt: number): JobRun<ImportPayload> => ({
      id: job.id,
      projectId: job.projectId,
      payload: job.payload as ImportPayload,
      attempt,
    });

    // 1. Converted and copied to both stores, then the worker dies (its lease is lost) before committing.
    const crash = new AbortController();
    const first = handler(
      runOf(1),
      async (p) => {
        if (p >= 90) {
          crash.abort();
          throw new Error('worker died');
        }
      },
      crash.signal,
    );
    await expect(first).rejects.toThrow('worker died');
    expect((await repos.images.find(id))!.status).toBe('importing');
    const afterCrash = await objects();

    // 2. Another worker runs it again: same keys, so the same objects, now recorded.
    const result = await handler(runOf(2), async () => {}, new AbortController().signal);
    expect(result.stores.sort()).toEqual(['bulk', 'fast']);
    const img = (await repos.images.find(id))!;
    expect(img).toMatchObject({ status: 'active', diskFormat: 'raw', stores: ['bulk', 'fast'] });
    // The staged qcow2 is gone; the converted raw in fast and its copy in bulk remain.
    expect(await objects()).toBe(afterCrash - 1);
    expect(await objects()).toBe(2);

    // 3. A late duplicate run finds the work done.
    const again = await handler(runOf(3), async () => {}, new AbortController().signal);
    expect(again.stores.sort()).toEqual(['bulk', 'fast']);
    expect(await objects()).toBe(2);
    expect((await repos.images.find(id))!.updatedAt).toBe(img.updatedAt);
  });
});
