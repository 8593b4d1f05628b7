import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { QuotaUsage, SharingUsage, StoredQuota } from '../../domain/quota.ts';

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

  /** The project's shared images (visibility shared, with members) and the most members one has. */
  async sharingUsage(projectId: string): Promise<SharingUsage> {
    const perImage = this.db
      .selectFrom('image_members as m')
      .innerJoin('images as i', 'i.id', 'm.image_id')
      .select((eb) => ['m.image_id', eb.fn.countAll<number | string>().as('n')])
      .where('i.owner', '=', projectId)
      .where('i.deleted', '=', 0)
      .where('i.visibility', '=', 'shared')
      .groupBy('m.image_id')
      .as('per_image');
    const row = await this.db
      .selectFrom(perImage)
      .select((eb) => [
        eb.fn.countAll<number | string>().as('images'),
        eb.fn.coalesce(eb.fn.max<number | string | null>('per_image.n'), eb.lit(0)).as('most'),
      ])
      .executeTakeFirstOrThrow();
    return { sharedImages: Number(row.images), mostMembers: Number(row.most) };
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
