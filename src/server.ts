import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.ts';
import { systemClock, type Clock } from './adapters/clock.ts';
import { migrate, openDatabase, ping, type Db } from './adapters/db/database.ts';
import { Repositories } from './adapters/db/repositories.ts';
import { FileBlobStore } from './adapters/storage/file-blob-store.ts';
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
import { ImageService } from './services/images.ts';
import { MemberService } from './services/members.ts';
import { loadPolicy } from './services/policy.ts';
import { createAuditService } from './services/audit/create.ts';
import { OrganizationService } from './services/organizations.ts';
import { OrganizationRepository } from './adapters/db/organization-repository.ts';
import { InProcessFailureLimiter } from './adapters/failure-limiter.ts';

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
}

/** The composition root: adapters, services and the HTTP app, wired once. */
export async function createServer(config: Config, options: ServerOptions = {}): Promise<Server> {
  const clock = options.clock ?? systemClock;
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const repos = new Repositories(db.kysely);
    const storeRoot = path.join(config.dataDir, 'images');
    await mkdir(storeRoot, { recursive: true });
    const store = new FileBlobStore(storeRoot);
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
    let worker: Worker | null = null;
    const jobs = new JobService(repos, clock, () => worker?.wake(), policy);
    const images = new ImageService(repos, store, clock, policy);
    const imageData = new ImageDataService(repos, images, store, clock, config, policy, metrics);
    const members = new MemberService(repos, images, clock, policy);
    const organizations = new OrganizationService(
      new OrganizationRepository(db.kysely),
      repos.identity,
      clock,
      policy,
    );

    // With the embedded database this process is the only one: whatever was
    // mid-upload when it last stopped is over.
    if (db.dialect === 'sqlite') {
      await imageData.recoverInterruptedUploads();
      await store.purgeStaleUploads(0);
    }

    const app = await buildApp({
      config,
      identity,
      accessKeys,
      jobs,
      images,
      imageData,
      members,
      audit,
      organizations,
      authFailures: new InProcessFailureLimiter(config.authFailureLimit, clock),
      metrics,
      health: () => checkHealth(() => ping(db), store),
      logger: options.logger ?? true,
    });
    if (options.worker) {
      worker = startWorkers({
        db,
        config,
        clock,
        log: app.log,
        onJobEnd: (job, outcome) => audit.jobEnded(job, outcome),
      });
    }
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
