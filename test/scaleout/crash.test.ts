/**
 * Issue 7 item 4, bounded for CI: the only IMS process is SIGKILLed at random
 * moments during uploads, imports with conversion, copies and deletes, and
 * restarted; then no active image may hold wrong bytes, nothing may stay
 * saving/uploading/importing, and after `ims gc` the store holds exactly the
 * objects the blobs table names. On the database and store the run chooses
 * (IMS_TEST_DB, IMS_TEST_STORE); bench/crash-soak.ts is the long run.
 */
import { describe, expect, it } from 'vitest';
import { runCrashRounds } from '../helpers/crash-harness.ts';
import { s3TestServer } from '../helpers/s3.ts';
import { TEST_DB, TEST_STORE } from '../helpers/server.ts';

const s3 = TEST_STORE === 's3' ? s3TestServer() : null;

describe.runIf(TEST_STORE === 'file' || s3)(`crash safety (${TEST_DB}, ${TEST_STORE} store)`, () => {
  it('comes through repeated SIGKILLs with no wrong data, nothing stuck and no orphan object', async () => {
    const report = await runCrashRounds({
      db: TEST_DB,
      store: TEST_STORE,
      durationMs: 40_000,
      minRounds: 4,
      imageBytes: 4 * 1024 * 1024,
    });
    expect(report.problems, JSON.stringify(report)).toEqual([]);
    // A job fails only when a kill hit every one of its attempts, or (a copy) when a later round
    // deleted its source before it ran.
    for (const reason of report.failedJobs)
      expect(reason).toMatch(
        /interrupted on every attempt|imsCopyImageInRegionJob: Source image \S+ was deleted/,
      );
    expect(report.rounds).toBeGreaterThanOrEqual(4);
    expect(report.active).toBeGreaterThan(0);
    expect(report.verified).toBe(report.active);
  }, 400_000);
});
