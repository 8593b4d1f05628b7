import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import type { Config } from '../../config/config.ts';
import { IMAGE_IMPORT } from '../import-kinds.ts';
import { IngestPipeline } from '../ingest.ts';
import { QuotaService } from '../quotas.ts';
import { IMAGE_COPY_CROSS_REGION, IMAGE_COPY_IN_REGION } from '../image-copy-kind.ts';
import { loadPeerRegions } from '../../adapters/peer-region/peer-regions.ts';
import { copyImageHandler } from './copy-handler.ts';
import { abandonCrossRegionCopy, crossRegionCopyHandler } from './cross-region-copy-handler.ts';
import { importImageHandler, revertAbandonedImport, type ImportDeps } from './import-handler.ts';
import {
  abandonObjectExport,
  abandonObjectImport,
  objectExportHandler,
  objectImportHandler,
} from './object-file-handlers.ts';
import { userObjectStoreOf } from '../../adapters/storage/user-object-store.ts';
import { EXPORT_IMAGE, IMPORT_DATA_IMAGE, IMPORT_FILE_IMAGE, REGISTER_IMAGE } from '../object-file-kinds.ts';
import { addMembersHandler, answerMembersHandler, removeMembersHandler } from './members-handler.ts';
import { ADD_IMAGE_MEMBERS, DELETE_IMAGE_MEMBERS, UPDATE_IMAGE_MEMBERS } from '../sharing-kinds.ts';
import { JobRegistry } from './registry.ts';
import type { DataLeases } from '../data-leases.ts';
import type { AuditService } from '../audit/audit-service.ts';

/** What job handlers may use; grows as kinds that need more (the blob store, qemu-img) are added. */
export interface JobDeps {
  repos: Repositories;
  clock: Clock;
  config: Config;
  /** The named blob stores (IMS_STORES). */
  stores: StoreRegistry;
  /** Marks images a job is filling, so that no node's reaper takes them for abandoned uploads. */
  leases?: DataLeases;
  /** The audit trail, for what jobs do on no request's behalf (a sharing policy's accept). */
  audit?: AuditService;
}

/**
 * Every job kind the service runs, with its handler. `ims worker` and
 * `ims serve` both build their registry here, so they run the same kinds.
 */
export function createJobRegistry(deps: JobDeps): JobRegistry {
  const registry = new JobRegistry();
  const importDeps = importDepsOf(deps);
  const { quotas, ingest } = importDeps;
  registry.register(IMAGE_IMPORT, importImageHandler(importDeps), {
    entities: (result) => ({ stores: result.stores, failed_stores: result.failedStores }),
    onAbandoned: async (job) => {
      await revertAbandonedImport(importDeps, job);
    },
  });
  registry.register(IMAGE_COPY_IN_REGION, copyImageHandler({ ...deps, quotas }), {
    entities: (result) => ({ image_id: result.imageId }),
  });
  const peers = loadPeerRegions(deps.config.peerRegionsFile, deps.config.region);
  registry.register(IMAGE_COPY_CROSS_REGION, crossRegionCopyHandler({ ...deps, peers }), {
    entities: (result) => ({ image_id: result.imageId, region: result.region, project_id: result.projectId }),
    onAbandoned: abandonCrossRegionCopy({ peers }),
  });
  const files = {
    ...deps,
    ingest,
    quotas,
    userStore: userObjectStoreOf(deps.config),
    leases: deps.leases ?? null,
  };
  for (const kind of [IMPORT_FILE_IMAGE, IMPORT_DATA_IMAGE, REGISTER_IMAGE])
    registry.register(kind, objectImportHandler(files, kind), {
      entities: (result) => ({
        image_id: result.imageId,
        ...(result.images ? { sub_jobs_result: result.images } : {}),
      }),
      onAbandoned: abandonObjectImport(files, kind),
    });
  registry.register(EXPORT_IMAGE, objectExportHandler(files, EXPORT_IMAGE), {
    entities: (result) => ({ image_id: result.imageId }),
    onAbandoned: abandonObjectExport(files),
  });
  const results = (result: { results: unknown[] }) => ({ results: result.results });
  registry.register(ADD_IMAGE_MEMBERS, addMembersHandler(deps), { entities: results });
  registry.register(DELETE_IMAGE_MEMBERS, removeMembersHandler(deps), { entities: results });
  registry.register(UPDATE_IMAGE_MEMBERS, answerMembersHandler(deps), { entities: results });
  return registry;
}

/** What the import kind's handler and its revert use. */
export function importDepsOf(deps: JobDeps): ImportDeps {
  return {
    ...deps,
    ingest: new IngestPipeline(deps.stores, deps.config),
    quotas: new QuotaService(deps.repos, deps.clock, deps.config.defaultQuota),
  };
}
