import { systemClock, type Clock } from '../../adapters/clock.ts';
import type { Db } from '../../adapters/db/database.ts';
import { JobRepository } from '../../adapters/db/job-repository.ts';
import { Repositories } from '../../adapters/db/repositories.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import type { Config } from '../../config/config.ts';
import { createJobRegistry } from './handlers.ts';
import type { JobRegistry } from './registry.ts';
import { Worker, type JobLogger, type WorkerOptions } from './worker.ts';
import type { JobEndListener } from './job-run.ts';

export interface StartWorkersOptions {
  db: Db;
  config: Config;
  /** The named blob stores the import kinds write to; required unless `registry` is given. */
  stores?: StoreRegistry;
  clock?: Clock;
  log?: JobLogger;
  /** Default: every kind of createJobRegistry(). */
  registry?: JobRegistry;
  worker?: Partial<WorkerOptions>;
  /** Told when a job ends for good (the audit trail records it). */
  onJobEnd?: JobEndListener;
}

/**
 * Starts a worker on the service database: what `ims worker` runs alone and
 * `ims serve` runs beside the API. Stop it with `stop()` before closing the
 * database; `wake()` after an enqueue in this process starts the job at once.
 */
export function startWorkers(options: StartWorkersOptions): Worker {
  const clock = options.clock ?? systemClock;
  if (!options.registry && !options.stores) throw new Error('startWorkers needs the store registry');
  const registry =
    options.registry ??
    createJobRegistry({
      repos: new Repositories(options.db.kysely),
      clock,
      config: options.config,
      stores: options.stores!,
    });
  const worker = new Worker(
    {
      jobs: new JobRepository(options.db.kysely),
      registry,
      clock,
      ...(options.log ? { log: options.log } : {}),
      ...(options.onJobEnd ? { onJobEnd: options.onJobEnd } : {}),
    },
    options.worker,
  );
  worker.start();
  return worker;
}
