import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.ts';
import { systemClock, type Clock } from './adapters/clock.ts';
import { migrate, openDatabase, ping, type Db } from './adapters/db/database.ts';
import { Repositories } from './adapters/db/repositories.ts';
import type { BlobStore } from './adapters/storage/blob-store.ts';
import { openConfiguredStores } from './adapters/storage/create-blob-store.ts';
import { FileBlobStore } from './adapters/storage/file-blob-store.ts';
import type { BlobStoreFactory } from './adapters/storage/store-registry.ts';
import { loadCatalogues } from './adapters/catalogue-files.ts';
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
import { ImageCopyService } from './services/image-copy.ts';
import { loadPeerRegions } from './adapters/peer-region/peer-regions.ts';
import { ObjectImageService } from './services/object-images.ts';
import { imageStoreBucketsOf, userObjectStoreOf } from './adapters/storage/user-object-store.ts';
import { ImageImportService } from './services/image-import.ts';
import { IngestPipeline } from './services/ingest.ts';
import { UploadSessionService } from './services/upload-sessions.ts';
import { DataLeases } from './services/data-leases.ts';
import { ImageService } from './services/images.ts';
import { MemberService } from './services/members.ts';
import { QuotaService } from './services/quotas.ts';
import { TagService } from './services/tags.ts';
import { MetadefRepository } from './adapters/db/metadef-repository.ts';
import { MetadefService } from './services/metadefs.ts';
import { UsageRepository } from './adapters/db/usage-repository.ts';
import { UsageService } from './services/usage.ts';
import { loadPolicy, loadPropertyProtections } from './services/policy.ts';
import { createAuditService } from './services/audit/create.ts';
import { OrganizationService } from './services/organizations.ts';
import { SharingService } from './services/sharing.ts';
import { OrganizationRepository } from './adapters/db/organization-repository.ts';
import { DatabaseFailureLimiter } from './adapters/failure-limiter.ts';

export interface Server {
  app: FastifyInstance;
  db: Db;
  /** The default store (the first of IMS_STORES). */
  store: BlobStore;
  identity: IdentityService;
  /** The admin password when this start generated it (first start without IMS_ADMIN_PASSWORD). */
  generatedAdminPassword: string | null;
  /** Removes expired resumable upload sessions and their chunks now (the sweep does it hourly). */
  purgeUploadSessions(): Promise<number>;
  close(): Promise<void>;
}

/** Uploads that received nothing for this long are dead (client gone, process killed): their bytes are freed. */
const STALE_UPLOAD_AGE_MS = 24 * 3600_000;
const STALE_UPLOAD_SWEEP_MS = 3600_000;

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
    const stores = await openConfiguredStores(config, options.storeFactories);
    const ingest = new IngestPipeline(stores, config);
    const metrics = new Metrics();
    const policy = await loadPolicy(config.policyFile);
    const audit = await createAuditService(db, config, clock, policy);
    const identity = new IdentityService(repos.identity, clock, config, policy);
    const { generatedPassword } = await identity.bootstrap(config.adminPassword);
    const box = new SecretBox(await loadMasterKey(config.masterKey, config.dataDir));
    const accessKeys = new AccessKeyService(
      new AccessKeyRepository(db.kysely),
      repos.identity,
      box,
      clock,
      policy,
    );
    const leases = new DataLeases(db.kysely, clock, config.leaseSeconds * 1000);
    let worker: Worker | null = null;
    const jobs = new JobService(repos, clock, () => worker?.wake(), policy);
    const quotas = new QuotaService(repos, clock, config.defaultQuota, policy);
    const catalogues = await loadCatalogues(config);
    const images = new ImageService(
      repos,
      stores,
      clock,
      catalogues,
      quotas,
      policy,
      await loadPropertyProtections(config.propertyProtectionFile),
    );
    const imageData = new ImageDataService(
      repos,
      images,
      quotas,
      stores,
      ingest,
      clock,
      { presignedDownloadTtlSeconds: config.s3?.presignedDownloadTtlSeconds ?? null },
      policy,
      metrics,
      leases,
    );
    const uploadSessions = new UploadSessionService(repos, images, imageData, stores, clock, policy, {
      ttlSeconds: config.uploadSessionTtlSeconds,
      maxImageSize: config.maxImageSize,
    });
    const imageImport = new ImageImportService(repos, images, stores, ingest, jobs, clock, config, leases);
    const imageCopy = new ImageCopyService(repos, images, quotas, jobs, {
      own: config.region,
      peers: loadPeerRegions(config.peerRegionsFile, config.region),
    });
    const userStore = userObjectStoreOf(config);
    const objectImages = new ObjectImageService({
      repos,
      images,
      quotas,
      jobs,
      clock,
      osVersions: catalogues.osVersions,
      userStore,
      imageStoreBuckets: imageStoreBucketsOf(config),
      maxImageSize: config.maxImageSize,
    });
    const tags = new TagService(repos, images, clock);
    const members = new MemberService(repos, images, clock, policy);
    const metadefs = new MetadefService(new MetadefRepository(db.kysely), clock, policy);
    const usage = new UsageService(new UsageRepository(db.kysely), quotas);
    const organizations = new OrganizationService(
      new OrganizationRepository(db.kysely),
      repos.identity,
      clock,
      policy,
    );
    const sharing = new SharingService(repos, images, organizations, jobs, clock, policy);

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
      uploadSessions,
      imageImport,
      imageCopy,
      objectImages,
      members,
      sharing,
      tags,
      quotas,
      metadefs,
      usage,
      audit,
      organizations,
      authFailures: new DatabaseFailureLimiter(db.kysely, config.authFailureLimit, clock),
      metrics,
      health: () => checkHealth(() => ping(db), stores.default),
      logger: options.logger ?? true,
    });
    if (options.worker) {
      worker = startWorkers({
        db,
        config,
        stores,
        clock,
        log: app.log,
        onJobEnd: (job, outcome) => audit.jobEnded(job, outcome),
        audit,
      });
    }
    // Other processes may be uploading through the same stores: only uploads idle for long are dead.
    // Object stores have no lifecycle rule we can count on (Swift has none), so we sweep ourselves.
    const sweeper = setInterval(() => {
      for (const [name, store] of stores.entries()) {
        store.purgeStaleUploads(STALE_UPLOAD_AGE_MS).catch((err: unknown) => {
          app.log.warn({ err, store: name }, 'purging stale uploads failed');
        });
      }
      uploadSessions.purgeExpired().catch((err: unknown) => {
        app.log.warn({ err }, 'purging expired upload sessions failed');
      });
    }, STALE_UPLOAD_SWEEP_MS).unref();

    return {
      app,
      db,
      store: stores.default,
      identity,
      generatedAdminPassword: generatedPassword,
      purgeUploadSessions: () => uploadSessions.purgeExpired(),
      async close() {
        clearInterval(sweeper);
        await app.close();
        userStore?.close();
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
