import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import type { Config } from '../../config/config.ts';
import { JobRegistry } from './registry.ts';

/** What job handlers may use; grows as kinds that need more (the blob store, qemu-img) are added. */
export interface JobDeps {
  repos: Repositories;
  clock: Clock;
  config: Config;
}

/**
 * Every job kind the service runs, with its handler. `ims worker` and
 * `ims serve` both build their registry here, so they run the same kinds.
 */
export function createJobRegistry(_deps: JobDeps): JobRegistry {
  const registry = new JobRegistry();
  // registry.register(IMPORT_IMAGE, importImageHandler(deps)); ... one line per kind.
  return registry;
}
