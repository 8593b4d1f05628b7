import { systemClock, type Clock } from '../../adapters/clock.ts';
import type { Db } from '../../adapters/db/database.ts';
import { JobRepository } from '../../adapters/db/job-repository.ts';
import { Repositories } from '../../adapters/db/repositories.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import type { Config } from '../../config/config.ts';
import { createJobRegistry, importDepsOf, type JobDeps } from './handlers.ts';
import { revertAbandonedImport } from './import-handler.ts';
import { Reaper } from '../reaper.ts';
import { DataLeases } from '../data-leases.ts';
import { GarbageCollector } from '../garbage-collector.ts';
import { UserUploads } from '../user-uploads.ts';
import { userObjectStoreOf } from '../../adapters/storage/user-object-store.ts';
import type { JobRegistry } from './registry.ts';
import { Worker, type JobLogger, type WorkerOptions } from './worker.ts';
import type { JobEndListener } from './job-run.ts';
import type { AuditService } from '../audit/audit-service.ts';

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
  /** The audit trail, for what jobs do on no request's behalf (a sharing policy's accept). */
  audit?: AuditService;
}

/**
 * Starts a worker on the service database: what `ims worker` runs alone and
 * `ims serve` runs beside the API. Stop it with `stop()` before closing the
 * database; `wake()` after an enqueue in this process starts the job at once.
 */
export function startWorkers(options: StartWorkersOptions): Worker {
  const clock = options.clock ?? systemClock;
  if (!options.registry && !options.stores) throw new Error('startWorkers needs the store registry');
  const repos = new Repositories(options.db.kysely);
  const leases = new DataLeases(options.db.kysely, clock, options.config.leaseSeconds * 1000);
  const deps = options.stores
    ? {
        repos,
        clock,
        config: options.config,
        stores: options.stores,
        leases,
        ...(options.audit ? { audit: options.audit } : {}),
      }
    : null;
  const registry = options.registry ?? createJobRegistry(deps!);
  const worker = new Worker(
    {
      jobs: new JobRepository(options.db.kysely),
      registry,
      clock,
      ...(options.log ? { log: options.log } : {}),
      ...(options.onJobEnd ? { onJobEnd: options.onJobEnd } : {}),
      ...(deps ? { maintenance: maintenance(options.db, deps, options.log) } : {}),
    },
    { leaseMs: options.config.leaseSeconds * 1000, ...options.worker },
  );
  worker.start();
  return worker;
}

/** Unreferenced objects are collected when they stayed so for this long (an upload between commit and row takes far less). */
export const GC_GRACE_MS = 3600_000;

/**
 * What every worker does at each sweep: the reaper, and once per grace period
 * the garbage collector. On several nodes they run concurrently; both are built for that.
 */
function maintenance(db: Db, deps: JobDeps, log: JobLogger | undefined): (now: Date) => Promise<void> {
  const { reaper, gc, userUploads } = createMaintenance(db, deps);
  let nextGc = 0;
  return async (now) => {
    const reaped = await reaper.reap();
    if (reaped.uploads + reaped.stages + reaped.imports > 0)
      log?.warn({ ...reaped }, 'reaped interrupted uploads and imports');
    if (now.getTime() < nextGc) return;
    nextGc = now.getTime() + GC_GRACE_MS;
    const collected = await gc.collect(GC_GRACE_MS);
    if (collected.deleted > 0) log?.info({ ...collected }, 'deleted unreferenced store objects');
    const aborted = (await userUploads?.abortOrphaned()) ?? 0;
    if (aborted > 0) log?.info({ aborted }, "aborted exports' unfinished uploads in tenants' buckets");
  };
}

/** The reaper and the garbage collectors of a deployment (`ims gc` runs them once). */
export function createMaintenance(
  db: Db,
  deps: JobDeps,
): { reaper: Reaper; gc: GarbageCollector; userUploads: UserUploads | null } {
  const importDeps = importDepsOf(deps);
  const userStore = userObjectStoreOf(deps.config);
  return {
    reaper: new Reaper(deps.repos, deps.clock, (job) => revertAbandonedImport(importDeps, job)),
    gc: new GarbageCollector(db.kysely, deps.stores, deps.clock),
    userUploads: userStore ? new UserUploads(deps.repos, userStore, deps.clock) : null,
  };
}
