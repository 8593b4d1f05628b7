import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import type { Config } from '../../config/config.ts';
import { IMAGE_IMPORT } from '../import-kinds.ts';
import { IngestPipeline } from '../ingest.ts';
import { QuotaService } from '../quotas.ts';
import { IMAGE_COPY_IN_REGION } from '../image-copy-kind.ts';
import { copyImageHandler } from './copy-handler.ts';
import { importImageHandler } from './import-handler.ts';
import { addMembersHandler, answerMembersHandler, removeMembersHandler } from './members-handler.ts';
import { ADD_IMAGE_MEMBERS, DELETE_IMAGE_MEMBERS, UPDATE_IMAGE_MEMBERS } from '../sharing-kinds.ts';
import { JobRegistry } from './registry.ts';

/** What job handlers may use; grows as kinds that need more (the blob store, qemu-img) are added. */
export interface JobDeps {
  repos: Repositories;
  clock: Clock;
  config: Config;
  /** The named blob stores (IMS_STORES). */
  stores: StoreRegistry;
}

/**
 * Every job kind the service runs, with its handler. `ims worker` and
 * `ims serve` both build their registry here, so they run the same kinds.
 */
export function createJobRegistry(deps: JobDeps): JobRegistry {
  const registry = new JobRegistry();
  const ingest = new IngestPipeline(deps.stores, deps.config);
  const quotas = new QuotaService(deps.repos, deps.clock, deps.config.defaultQuota);
  registry.register(IMAGE_IMPORT, importImageHandler({ ...deps, ingest, quotas }), {
    entities: (result) => ({ stores: result.stores, failed_stores: result.failedStores }),
  });
  registry.register(IMAGE_COPY_IN_REGION, copyImageHandler({ ...deps, quotas }), {
    entities: (result) => ({ image_id: result.imageId }),
  });
  const results = (result: { results: unknown[] }) => ({ results: result.results });
  registry.register(ADD_IMAGE_MEMBERS, addMembersHandler(deps), { entities: results });
  registry.register(DELETE_IMAGE_MEMBERS, removeMembersHandler(deps), { entities: results });
  registry.register(UPDATE_IMAGE_MEMBERS, answerMembersHandler(deps), { entities: results });
  return registry;
}
