import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { migrate, openDatabase } from '../adapters/db/database.ts';
import { createStoreRegistry, type BlobStoreFactory } from '../adapters/storage/store-registry.ts';
import { s3StoreFactory } from '../adapters/storage/create-blob-store.ts';
import { startWorkers } from '../services/jobs/start.ts';
import { jsonLogger } from './json-logger.ts';
import { systemClock } from '../adapters/clock.ts';
import { createAuditService } from '../services/audit/create.ts';

/** How long SIGTERM lets running jobs finish before handing them back (under a typical 30 s kill timeout). */
const STOP_GRACE_MS = 25_000;

/** Parses `ims worker` flags; throws with a readable message when one is wrong. */
export function parseWorkerArgs(argv: string[]): { concurrency: number } {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: { concurrency: { type: 'string', short: 'c' } },
  });
  const concurrency = Number(values.concurrency ?? '2');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new Error(`--concurrency must be an integer 1-256, got "${values.concurrency}"`);
  return { concurrency };
}

/**
 * `ims worker`: runs jobs against the configured database, without the API.
 * SIGTERM (or SIGINT) lets running jobs finish for a while, then hands the
 * rest back to the queue; a second signal hands them back at once.
 */
export async function runWorker(config: Config, argv: string[]): Promise<void> {
  let concurrency: number;
  try {
    ({ concurrency } = parseWorkerArgs(argv));
  } catch (err) {
    process.stderr.write(`ims worker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const log = jsonLogger(config.logLevel);
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    // Workers may start before any API node has migrated the database.
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  // The same drivers as `ims serve`: a worker beside API nodes on S3 must reach the same store.
  const factories: Record<string, BlobStoreFactory> = config.s3 ? { s3: s3StoreFactory(config.s3) } : {};
  const stores = await createStoreRegistry(config.stores, config.dataDir, factories);
  const audit = await createAuditService(db, config, systemClock);
  const worker = startWorkers({
    db,
    config,
    stores,
    log,
    worker: { concurrency },
    onJobEnd: (job, outcome) => audit.jobEnded(job, outcome),
    audit,
  });

  let signals = 0;
  const stop = (signal: string) => {
    signals += 1;
    log.info({ signal }, signals === 1 ? 'stopping: letting running jobs finish' : 'stopping now');
    worker
      .stop({ graceMs: signals === 1 ? STOP_GRACE_MS : 0 })
      .then(() => db.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Announced only once the signal handlers are in place: a supervisor that
  // stops the worker as soon as it reads this line must get the graceful path.
  log.info({ worker: worker.id, kinds: worker.kinds, concurrency }, 'worker started');
}
