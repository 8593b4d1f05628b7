import type { Kysely } from 'kysely';
import type { Clock } from '../adapters/clock.ts';
import type { Database } from '../adapters/db/schema.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { IMAGE_IMPORT, type ImportPayload } from './import-kinds.ts';
import { importObjectKeys } from './jobs/import-handler.ts';

/** Where image data lives in every store; other prefixes (audit archives) are not ours to collect. */
const IMAGE_PREFIX = 'images/';

export interface Collected {
  /** Objects deleted: unreferenced on two looks at least `graceMs` apart. */
  deleted: number;
  /** Objects unreferenced for the first time, or not yet for long enough. */
  pending: number;
}

/**
 * Deletes store objects that no blob row references: what a process killed
 * between writing an object and recording it (or between deleting a row and
 * its object) left. An object is taken only when it was unreferenced on an
 * earlier look at least `graceMs` before, so that an upload between its commit
 * and its transaction is never touched; the keys of unfinished import jobs are
 * theirs (a retry writes over them) and are kept whatever their age.
 */
export class GarbageCollector {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly stores: StoreRegistry,
    private readonly clock: Clock,
  ) {}

  async collect(graceMs: number): Promise<Collected> {
    const out: Collected = { deleted: 0, pending: 0 };
    const kept = await this.unfinishedImportKeys();
    for (const [name, store] of this.stores.entries()) {
      const referenced = new Set(
        (await this.db.selectFrom('blobs').select('store_key').where('store', '=', name).execute()).map(
          (r) => r.store_key,
        ),
      );
      const seen = new Map(
        (
          await this.db
            .selectFrom('gc_candidates')
            .select(['store_key', 'first_seen_at'])
            .where('store', '=', name)
            .execute()
        ).map((r) => [r.store_key, Date.parse(r.first_seen_at)]),
      );
      const orphans = new Set<string>();
      for await (const { key } of store.list(IMAGE_PREFIX)) {
        if (!referenced.has(key) && !kept.has(`${name}\0${key}`)) orphans.add(key);
      }
      const now = this.clock.now();
      for (const key of orphans) {
        const since = seen.get(key);
        // No grace: the caller knows nothing is writing (the deployment is stopped).
        if (graceMs <= 0 || (since !== undefined && now.getTime() - since >= graceMs)) {
          await store.delete(key);
          await this.forget(name, key);
          out.deleted++;
        } else {
          if (since === undefined) {
            await this.db
              .insertInto('gc_candidates')
              .values({ store: name, store_key: key, first_seen_at: now.toISOString() })
              .onConflict((oc) => oc.columns(['store', 'store_key']).doNothing())
              .execute();
          }
          out.pending++;
        }
      }
      // Candidates that got their row (or their object went) are no longer candidates.
      for (const key of seen.keys()) if (!orphans.has(key)) await this.forget(name, key);
    }
    return out;
  }

  private async forget(store: string, key: string): Promise<void> {
    await this.db
      .deleteFrom('gc_candidates')
      .where('store', '=', store)
      .where('store_key', '=', key)
      .execute();
  }

  /** store\0key of every object an import job still queued or running may write or adopt. */
  private async unfinishedImportKeys(): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('jobs')
      .select(['id', 'payload'])
      .where('kind', '=', IMAGE_IMPORT.name)
      .where('status', 'in', ['INIT', 'RUNNING'])
      .execute();
    const out = new Set<string>();
    for (const row of rows) {
      const p = JSON.parse(row.payload) as ImportPayload;
      for (const [store, key] of importObjectKeys(row.id, p)) out.add(`${store}\0${key}`);
    }
    return out;
  }
}
