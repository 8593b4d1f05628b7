import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.ts';
import { systemClock, type Clock } from './adapters/clock.ts';
import { migrate, openDatabase, ping, type Db } from './adapters/db/database.ts';
import { Repositories } from './adapters/db/repositories.ts';
import { FileBlobStore } from './adapters/storage/file-blob-store.ts';
import { createStoreRegistry, type BlobStoreFactory } from './adapters/storage/store-registry.ts';
import { AccessKeyRepository } from './adapters/db/access-key-repository.ts';
import { loadMasterKey } from './adapters/identity/master-key.ts';
import { SecretBox } from './adapters/identity/secret-box.ts';
import { AccessKeyService } from './services/access-keys.ts';
import { JobService } from './services/jobs/service.ts';
import { startWorkers } from './services/jobs/start.ts';
import type { Worker } from './services/jobs/worker.ts';
import { buildApp } from './api/app.ts';
import { Metrics } from './api/metrics.ts';
import { checkHealth } from './services/health.ts';
import { IdentityService } from './services/identity.ts';
import { ImageDataService } from './services/image-data.ts';
import { ImageImportService } from './services/image-import.ts';
import { IngestPipeline } from './services/ingest.ts';
import { ImageService } from './services/images.ts';
import { MemberService } from './services/members.ts';

export interface Server {
  app: FastifyInstance;
  db: Db;
  identity: IdentityService;
  /** The admin password when this start generated it (first start without IMS_ADMIN_PASSWORD). */
  generatedAdminPassword: string | null;
  close(): Promise<void>;
}

export interface ServerOptions {
  logger?: boolean;
  clock?: Clock;
  /** Run job workers in this process too (`ims serve` does unless --no-worker). */
  worker?: boolean;
  /** Store drivers beyond the built-in `file` (e.g. `s3`), by driver name. */
  storeFactories?: Record<string, BlobStoreFactory>;
}

/** The composition root: adapters, services and the HTTP app, wired once. */
export async function createServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const repos = new Repositories(db.kysely);
    const stores = await createStoreRegistry(config.stores, config.dataDir, options.storeFactories);
    const ingest = new IngestPipeline(stores, config);
    const metrics = new Metrics();
    const identity = new IdentityService(repos.identity, clock, config);
    const { generatedPassword } = await identity.bootstrap(config.adminPassword);
    const box = new SecretBox(await loadMasterKey(config.masterKey, config.dataDir));
    const accessKeys = new AccessKeyService(new AccessKeyRepository(db.kysely), repos.identity, box, clock);
    let worker: Worker | null = null;
    const jobs = new JobService(repos, clock, () => worker?.wake());
    const images = new ImageService(repos, stores, clock);
    const imageData = new ImageDataService(repos, images, stores, ingest, clock, metrics);
    const imageImport = new ImageImportService(repos, images, stores, ingest, jobs, clock, config);
    const members = new MemberService(repos, images, clock);

    // With the embedded database this process is the only one: whatever was
    // mid-upload when it last stopped is over.
    if (db.dialect === 'sqlite') {
      await imageData.recoverInterruptedUploads();
      await imageImport.recoverInterruptedStaging();
      for (const [, store] of stores.entries())
        if (store instanceof FileBlobStore) await store.purgeStaleUploads(0);
    }

    const app = await buildApp({
      config,
      identity,
      accessKeys,
      jobs,
      images,
      imageData,
      imageImport,
      members,
      metrics,
      health: () => checkHealth(() => ping(db), stores.default),
      logger: options.logger ?? true,
    });
    if (options.worker) worker = startWorkers({ db, config, stores, clock, log: app.log });
    return {
      app,
      db,
      identity,
      generatedAdminPassword: generatedPassword,
      async close() {
        await app.close();
        // Jobs in flight get the same grace as requests, then go back to the queue.
        await worker?.stop({ graceMs: 25_000 });
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
