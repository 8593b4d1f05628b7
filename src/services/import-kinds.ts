import type { ExpectedHash } from '../domain/expected-hash.ts';
import { defineJobKind } from './jobs/kind.ts';

export const IMPORT_METHODS = ['glance-direct', 'web-download', 'copy-image'] as const;
export type ImportMethod = (typeof IMPORT_METHODS)[number];

/** One Glance import task: its job payload. */
export interface ImportPayload {
  imageId: string;
  method: ImportMethod;
  /** web-download only. */
  uri?: string;
  /** Target stores, in order; the first gets the image's own blob (copy-image: new copies). */
  stores: string[];
  allStoresMustSucceed: boolean;
  /** Hashes declared in the import request's headers (the image's properties are read at run time). */
  expected: ExpectedHash[];
  /** Who asked, for the Glance task view. */
  userId: string;
  requestId: string;
}

export interface ImportResult {
  stores: string[];
  failedStores: string[];
  diskFormat: string | null;
}

/**
 * Glance's `api_image_import` task. Three runs at most: a refusal of the data
 * is permanent at once; only infrastructure trouble (a store, the network) retries.
 */
export const IMAGE_IMPORT = defineJobKind<ImportPayload, ImportResult>('glanceImageImport', {
  maxAttempts: 3,
});
