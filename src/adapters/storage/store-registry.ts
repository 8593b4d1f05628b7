import path from 'node:path';
import { DEFAULT_STORE_NAME, type StoreSpec } from '../../config/config.ts';
import type { BlobStore } from './blob-store.ts';
import { createBlobStore } from './create-blob-store.ts';

/** What a store driver gets to build one named store. */
export interface StoreFactoryInput {
  name: string;
  /** Driver-specific settings (bucket, endpoint, ...); empty for `file`. */
  options: Record<string, string>;
  /** The service's data directory: where file stores keep their bytes. */
  dataDir: string;
}

/** Builds the BlobStore of one named store; one factory per driver name ('file', later 's3'). */
export type BlobStoreFactory = (input: StoreFactoryInput) => BlobStore | Promise<BlobStore>;

/**
 * The `file` driver. The store named `default` lives where the single store always lived
 * (`<data dir>/images`), so data written before stores had names stays readable; any other
 * named file store gets `<data dir>/stores/<name>`.
 */
export const fileStoreFactory: BlobStoreFactory = ({ name, dataDir }) =>
  createBlobStore({
    driver: 'file',
    root: name === DEFAULT_STORE_NAME ? path.join(dataDir, 'images') : path.join(dataDir, 'stores', name),
  });

export const BUILTIN_STORE_FACTORIES: Readonly<Record<string, BlobStoreFactory>> = { file: fileStoreFactory };

export class UnknownStoreError extends Error {
  constructor(readonly store: string) {
    super(`unknown store: ${store}`);
    this.name = 'UnknownStoreError';
  }
}

/**
 * Named blob stores, as Glance's multi-store has them: every blob row records the name of
 * its store, and this maps the name back to the BlobStore. The first store is the default.
 */
export class StoreRegistry {
  readonly #stores: ReadonlyMap<string, BlobStore>;
  readonly defaultName: string;

  constructor(stores: ReadonlyArray<readonly [string, BlobStore]>) {
    if (stores.length === 0) throw new Error('a store registry needs at least one store');
    this.#stores = new Map(stores);
    this.defaultName = stores[0]![0];
  }

  /** The store of that name; throws UnknownStoreError for a name that is not configured. */
  get(name: string): BlobStore {
    const store = this.#stores.get(name);
    if (!store) throw new UnknownStoreError(name);
    return store;
  }

  has(name: string): boolean {
    return this.#stores.has(name);
  }

  get default(): BlobStore {
    return this.get(this.defaultName);
  }

  /** Store names in configuration order (the default first). */
  names(): string[] {
    return [...this.#stores.keys()];
  }

  entries(): Array<[string, BlobStore]> {
    return [...this.#stores.entries()];
  }
}

/**
 * Builds the registry from the configured specs. `factories` maps driver names to factories;
 * the built-in `file` is always there, others (S3) are passed in by the composition root.
 */
export async function createStoreRegistry(
  specs: readonly StoreSpec[],
  dataDir: string,
  factories: Readonly<Record<string, BlobStoreFactory>> = {},
  options: Readonly<Record<string, Record<string, string>>> = {},
): Promise<StoreRegistry> {
  const all = { ...BUILTIN_STORE_FACTORIES, ...factories };
  const built: Array<[string, BlobStore]> = [];
  for (const spec of specs) {
    const factory = all[spec.driver];
    if (!factory) throw new Error(`store ${spec.name}: no driver named ${spec.driver}`);
    built.push([spec.name, await factory({ name: spec.name, options: options[spec.name] ?? {}, dataDir })]);
  }
  return new StoreRegistry(built);
}
