/**
 * The backup and restore the README documents, done while IMS runs: the database
 * (SQLite's online backup API, as `sqlite3 … .backup` uses; pg_dump on PostgreSQL), then
 * the data dir's objects and master key; a server started on the restored copy serves
 * every image with its sha512, and tokens issued before the backup still work.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import SQLite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server.ts';
import {
  createTestDatabase,
  startTestServer,
  TEST_DB,
  TEST_STORE,
  type TestServer,
} from '../helpers/server.ts';

const run = promisify(execFile);
let s: TestServer;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  await s?.close();
});

describe(`backup and restore while running (${TEST_DB}, ${TEST_STORE})`, () => {
  it('restores a copy that serves the same images', async () => {
    const owner = await s.tokenFor('backup', 'bea', 'member');
    const images: Record<string, string> = {};
    for (const size of [5000, 2 * 1024 * 1024 + 1]) {
      const created = await s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: `b${size}`, disk_format: 'raw', container_format: 'bare' },
      });
      const id = ((await created.json()) as { id: string }).id;
      const data = randomBytes(size);
      const up = await fetch(`${s.url}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
        body: data,
      });
      expect(up.status).toBe(204);
      images[id] = createHash('sha512').update(data).digest('hex');
    }

    const restored = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-restore-'));
    cleanups.push(() => fs.rm(restored, { recursive: true, force: true }));
    let databaseUrl = '';
    // 1. The database first: objects are written before any row names them.
    if (TEST_DB === 'sqlite') {
      const live = new SQLite(path.join(s.dataDir, 'ims.sqlite3'), { readonly: true });
      try {
        await live.backup(path.join(restored, 'ims.sqlite3'));
      } finally {
        live.close();
      }
    } else {
      const dump = path.join(restored, 'ims.dump');
      await run('pg_dump', ['--format=custom', '--file', dump, s.config.databaseUrl]);
      const db = await createTestDatabase();
      cleanups.push(db.drop);
      await run('pg_restore', ['--no-owner', '--dbname', db.url, dump]);
      databaseUrl = db.url;
    }
    // 2. Then the objects (immutable: a plain copy) and the master key.
    if (TEST_STORE === 'file') {
      await fs.cp(path.join(s.dataDir, 'images'), path.join(restored, 'images'), { recursive: true });
    }
    await fs.copyFile(path.join(s.dataDir, 'master.key'), path.join(restored, 'master.key'));

    const copy = await createServer(
      { ...s.config, dataDir: restored, databaseUrl, port: 0 },
      { logger: false },
    );
    try {
      await copy.app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(copy.app.server.address() as { port: number }).port}`;
      for (const [id, sha] of Object.entries(images)) {
        // The token issued by the original is valid on the copy: same keys, same rows.
        const res = await fetch(`${base}/v2/images/${id}/file`, { headers: { 'x-auth-token': owner.token } });
        expect(res.status).toBe(200);
        expect(
          createHash('sha512')
            .update(Buffer.from(await res.arrayBuffer()))
            .digest('hex'),
        ).toBe(sha);
      }
    } finally {
      await copy.close();
    }
  });
});
