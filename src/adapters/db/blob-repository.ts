import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from './schema.ts';

export type BlobRow = Selectable<Database['blobs']>;

/** Stored byte objects with reference counts: copies of an image share one blob. */
export class BlobRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Insertable<Database['blobs']>): Promise<void> {
    await this.db.insertInto('blobs').values(row).execute();
  }

  find(id: string): Promise<BlobRow | undefined> {
    return this.db.selectFrom('blobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Takes one more reference on a blob still referenced; false when it is gone (its last image was deleted). */
  async retain(id: string): Promise<boolean> {
    const res = await this.db
      .updateTable('blobs')
      .set((eb) => ({ refcount: eb('refcount', '+', 1) }))
      .where('id', '=', id)
      .where('refcount', '>', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Drops one reference; returns the blob when that was the last one (its row is gone then). */
  async release(id: string): Promise<BlobRow | null> {
    await this.db
      .updateTable('blobs')
      .set((eb) => ({ refcount: eb('refcount', '-', 1) }))
      .where('id', '=', id)
      .execute();
    const row = await this.find(id);
    if (!row || row.refcount > 0) return null;
    await this.db.deleteFrom('blobs').where('id', '=', id).where('refcount', '<=', 0).execute();
    return row;
  }
}
