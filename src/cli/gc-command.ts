import { parseArgs } from 'node:util';
import { systemClock } from '../adapters/clock.ts';
import { migrate, openDatabase } from '../adapters/db/database.ts';
import { Repositories } from '../adapters/db/repositories.ts';
import { s3StoreFactory } from '../adapters/storage/create-blob-store.ts';
import { createStoreRegistry, type BlobStoreFactory } from '../adapters/storage/store-registry.ts';
import { parseDuration, type Config } from '../config/config.ts';
import { createMaintenance, GC_GRACE_MS } from '../services/jobs/start.ts';

export const GC_HELP = `Usage: ims gc [--grace DURATION]
  Returns images a dead process left saving, uploading or importing to their last good state,
  then deletes store objects that no image references and unfinished store uploads, when they
  have been so for DURATION (default 1h: safe while the deployment runs; 0s only when no
  process of the deployment is running). Prints what it did as JSON. Workers do the same on
  their own, about once a lease (reaper) and once an hour (objects). Also aborts the multipart
  uploads that exports IMS started in tenants' buckets and never finished (their job ended or
  its process died); a tenant's own uploads are never touched.
`;

/** `ims gc`; returns the exit code. */
export async function runGc(config: Config, argv: string[]): Promise<number> {
  let graceMs: number;
  try {
    const { values } = parseArgs({ args: argv, options: { grace: { type: 'string' } } });
    const seconds = values.grace === undefined ? GC_GRACE_MS / 1000 : parseDuration(values.grace);
    if (seconds === null || seconds < 0) throw new Error(`--grace must be a duration such as 1h or 0s`);
    graceMs = seconds * 1000;
  } catch (err) {
    process.stderr.write(`ims gc: ${err instanceof Error ? err.message : String(err)}\n\n${GC_HELP}`);
    return 2;
  }
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const factories: Record<string, BlobStoreFactory> = config.s3 ? { s3: s3StoreFactory(config.s3) } : {};
    const stores = await createStoreRegistry(config.stores, config.dataDir, factories);
    const repos = new Repositories(db.kysely);
    const { reaper, gc, userUploads } = createMaintenance(db, { repos, clock: systemClock, config, stores });
    const reaped = await reaper.reap();
    const collected = await gc.collect(graceMs);
    let uploadsPurged = 0;
    for (const [, store] of stores.entries()) uploadsPurged += await store.purgeStaleUploads(graceMs);
    // Only uploads IMS recorded for its exports, and only once their job has ended: no grace needed.
    const userUploadsAborted = (await userUploads?.abortOrphaned()) ?? 0;
    process.stdout.write(
      `${JSON.stringify({ reaped, collected, uploads_purged: uploadsPurged, user_uploads_aborted: userUploadsAborted })}\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}
