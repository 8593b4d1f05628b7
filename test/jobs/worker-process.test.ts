import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { migrate, openDatabase, type Db } from '../../src/adapters/db/database.ts';
import { JobRepository } from '../../src/adapters/db/job-repository.ts';
import { JobRegistry } from '../../src/services/jobs/registry.ts';
import { Worker } from '../../src/services/jobs/worker.ts';
import { createTestDatabase, TEST_DB } from '../helpers/server.ts';
import { HANG } from './fixtures/kinds.ts';
import { ManualClock } from './helpers.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/ims.js');
const FIXTURE = path.resolve('test/jobs/fixtures/crash-worker.ts');
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

/** An environment for a child process: a temp data dir and, on PostgreSQL, a fresh database. */
async function environment(): Promise<Record<string, string>> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-worker-'));
  cleanups.push(() => fs.rm(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  Object.assign(env, { IMS_DATA_DIR: dataDir, IMS_LOG_LEVEL: 'info', IMS_DATABASE_URL: '' });
  if (TEST_DB === 'postgres') {
    const pg = await createTestDatabase();
    cleanups.push(pg.drop);
    env.IMS_DATABASE_URL = pg.url;
  }
  return env;
}

function open(env: Record<string, string>): Db {
  const db = openDatabase(env.IMS_DATABASE_URL!, env.IMS_DATA_DIR!);
  cleanups.push(() => db.close());
  return db;
}

/** Starts a child process and collects its output. */
function start(args: string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const waitFor = (text: string) =>
    vi.waitFor(
      () => {
        if (!out.includes(text)) throw new Error(`waiting for "${text}" in:\n${out}`);
      },
      { timeout: 20_000, interval: 20 },
    );
  return { child, exited, output: () => out, waitFor };
}

describe(`worker processes (${TEST_DB})`, () => {
  it('`ims worker` migrates, starts and exits cleanly on SIGTERM', async () => {
    const env = await environment();
    const worker = start([BIN, 'worker', '--concurrency', '3'], env);
    await worker.waitFor('worker started');
    const line = worker
      .output()
      .split('\n')
      .find((l) => l.includes('worker started'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, concurrency: 3, msg: 'worker started' });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    // The schema is there: a job can be queued for whichever worker comes next.
    const db = open(env);
    expect(await new JobRepository(db.kysely).find('none')).toBeNull();
  });

  it('`ims worker` refuses a bad flag', async () => {
    const env = await environment();
    const bad = await run(process.execPath, [BIN, 'worker', '--concurrency', 'many'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('--concurrency');
  });

  it('a job whose worker process is killed mid-way is finished by another worker with attempts = 2', async () => {
    const env = await environment();
    const db = open(env);
    await migrate(db);
    const jobs = new JobRepository(db.kysely);
    await jobs.enqueue(
      { id: 'crash-1', kind: HANG.name, projectId: 'p-1', payload: null, maxAttempts: 3 },
      new Date(),
    );

    const doomed = start(['--import', 'tsx', FIXTURE], env);
    await doomed.waitFor('started crash-1 1');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    expect(await jobs.find('crash-1')).toMatchObject({ status: 'RUNNING', attempts: 1 });

    // A clock past the dead worker's lease, rather than waiting for it.
    const clock = new ManualClock(Date.now() + 2_001);
    const attempts: number[] = [];
    const registry = new JobRegistry().register(HANG, async (job) => {
      attempts.push(job.attempt);
    });
    const survivor = new Worker({ jobs, registry, clock }, { pollMs: 5, maxIdleMs: 20 });
    survivor.start();
    cleanups.push(() => survivor.stop({ graceMs: 0 }));
    await vi.waitFor(async () => expect((await jobs.find('crash-1'))!.status).toBe('SUCCESS'), {
      timeout: 5_000,
      interval: 10,
    });
    expect(attempts).toEqual([2]);
    expect(await jobs.find('crash-1')).toMatchObject({ attempts: 2, errorCode: null });
  });
});
