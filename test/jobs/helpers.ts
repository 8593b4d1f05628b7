import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Clock } from '../../src/adapters/clock.ts';
import { migrate, openDatabase, type Db } from '../../src/adapters/db/database.ts';
import { JobRepository } from '../../src/adapters/db/job-repository.ts';
import { createTestDatabase, TEST_DB } from '../helpers/server.ts';

/** A clock that moves only when the test says so. */
export class ManualClock implements Clock {
  constructor(private ms = Date.parse('2026-01-01T00:00:00.000Z')) {}
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface JobTestDb {
  db: Db;
  jobs: JobRepository;
  /** Another connection (pool, on PostgreSQL) to the same database, as another process would have. */
  connect(): Db;
  close(): Promise<void>;
}

/** A migrated, empty database of the kind IMS_TEST_DB names, for one test file. */
export async function openJobTestDb(): Promise<JobTestDb> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-jobs-'));
  const pg = TEST_DB === 'postgres' ? await createTestDatabase() : null;
  const opened: Db[] = [];
  const connect = () => {
    const db = openDatabase(pg?.url ?? '', dataDir);
    opened.push(db);
    return db;
  };
  const db = connect();
  await migrate(db);
  return {
    db,
    jobs: new JobRepository(db.kysely),
    connect,
    async close() {
      for (const d of opened) await d.close();
      await pg?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A promise with its resolve and reject. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Rejects with the signal's reason once it aborts. */
export const aborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
