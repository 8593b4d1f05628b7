import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { QuotaUsage, StoredQuota } from '../../domain/quota.ts';

/** Operator-set image quotas and the usage they are checked against. */
export class QuotaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Takes the project's quota lock until the transaction ends: an upsert
   * locks the row on PostgreSQL (concurrent callers wait, then read what the
   * first committed); on SQLite any write holds the database's write lock.
   * Call it first in the transaction, before reading the usage.
   */
  async lock(projectId: string, now: string): Promise<void> {
    await this.db
      .insertInto('image_quotas')
      .values({ project_id: projectId, max_images: null, max_bytes: null, updated_at: now })
      .onConflict((oc) =>
        oc.column('project_id').doUpdateSet((eb) => ({ project_id: eb.ref('excluded.project_id') })),
      )
      .execute();
  }

  async find(projectId: string): Promise<StoredQuota | null> {
    const row = await this.db
      .selectFrom('image_quotas')
      .select(['max_images', 'max_bytes'])
      .where('project_id', '=', projectId)
      .executeTakeFirst();
    return row ? { maxImages: row.max_images, maxBytes: row.max_bytes } : null;
  }

  /** Images the project owns and their stored bytes (only images with data have a size). */
  async usage(projectId: string): Promise<QuotaUsage> {
    const row = await this.db
      .selectFrom('images')
      .select((eb) => [
        eb.fn.countAll<number | string>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number | string | null>('size'), eb.lit(0)).as('bytes'),
      ])
      .where('owner', '=', projectId)
      .where('deleted', '=', 0)
      .executeTakeFirstOrThrow();
    return { images: Number(row.n), bytes: Number(row.bytes) };
  }

  async set(projectId: string, change: Partial<StoredQuota>, now: string): Promise<void> {
    const values = {
      ...(change.maxImages !== undefined ? { max_images: change.maxImages } : {}),
      ...(change.maxBytes !== undefined ? { max_bytes: change.maxBytes } : {}),
      updated_at: now,
    };
    await this.db
      .insertInto('image_quotas')
      .values({ project_id: projectId, max_images: null, max_bytes: null, ...values })
      .onConflict((oc) => oc.column('project_id').doUpdateSet(values))
      .execute();
  }

  async projectExists(projectId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('projects')
      .select('id')
      .where('id', '=', projectId)
      .executeTakeFirst();
    return row !== undefined;
  }
}
