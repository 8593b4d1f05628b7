import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.ts';

export type AccessKeyRow = Selectable<Database['access_keys']>;

/** Users' access keys (AK/SK). */
export class AccessKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: AccessKeyRow): Promise<void> {
    await this.db.insertInto('access_keys').values(row).execute();
  }

  find(accessKey: string): Promise<AccessKeyRow | undefined> {
    return this.db
      .selectFrom('access_keys')
      .selectAll()
      .where('access_key', '=', accessKey)
      .executeTakeFirst();
  }

  listByUser(userId: string): Promise<AccessKeyRow[]> {
    return this.db
      .selectFrom('access_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .execute();
  }

  async countByUser(userId: string): Promise<number> {
    const row = await this.db
      .selectFrom('access_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async update(accessKey: string, changes: { status?: string; description?: string }): Promise<boolean> {
    const res = await this.db
      .updateTable('access_keys')
      .set(changes)
      .where('access_key', '=', accessKey)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async delete(accessKey: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('access_keys')
      .where('access_key', '=', accessKey)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }

  /** Coarse (one write a minute at most) so that busy keys do not write on every request. */
  async touch(accessKey: string, now: string): Promise<void> {
    const minuteAgo = new Date(Date.parse(now) - 60_000).toISOString();
    await this.db
      .updateTable('access_keys')
      .set({ last_used_at: now })
      .where('access_key', '=', accessKey)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', minuteAgo)]))
      .execute();
  }
}
