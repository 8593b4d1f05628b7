import { PostgresAdapter, type Insertable, type Kysely, type Selectable } from 'kysely';
import type { Database } from './schema.ts';

export type UploadSessionRow = Selectable<Database['upload_sessions']>;
export type UploadChunkRow = Selectable<Database['upload_session_chunks']>;

/** Resumable upload sessions and the byte ranges they have received. */
export class UploadSessionRepository {
  private readonly rowLocks: boolean;

  constructor(private readonly db: Kysely<Database>) {
    this.rowLocks = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  async insert(row: Insertable<Database['upload_sessions']>): Promise<void> {
    await this.db.insertInto('upload_sessions').values(row).execute();
  }

  find(id: string): Promise<UploadSessionRow | undefined> {
    return this.db.selectFrom('upload_sessions').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /**
   * Within a transaction, holds the session row until commit, so that two chunks
   * arriving at once are checked for overlap one after the other (SQLite
   * serializes its transactions anyway).
   */
  async lock(id: string): Promise<UploadSessionRow | undefined> {
    let q = this.db.selectFrom('upload_sessions').selectAll().where('id', '=', id);
    if (this.rowLocks) q = q.forUpdate();
    return q.executeTakeFirst();
  }

  chunks(sessionId: string): Promise<UploadChunkRow[]> {
    return this.db
      .selectFrom('upload_session_chunks')
      .selectAll()
      .where('session_id', '=', sessionId)
      .orderBy('start_offset')
      .execute();
  }

  async addChunk(row: Insertable<Database['upload_session_chunks']>): Promise<void> {
    await this.db.insertInto('upload_session_chunks').values(row).execute();
  }

  async touch(id: string, now: string, expiresAt: string): Promise<void> {
    await this.db
      .updateTable('upload_sessions')
      .set({ updated_at: now, expires_at: expiresAt })
      .where('id', '=', id)
      .execute();
  }

  /** Open → committed, once; false when another commit got there first. */
  async markCommitted(id: string, now: string): Promise<boolean> {
    const res = await this.db
      .updateTable('upload_sessions')
      .set({ status: 'committed', updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'open')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async deleteChunks(sessionId: string): Promise<void> {
    await this.db.deleteFrom('upload_session_chunks').where('session_id', '=', sessionId).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('upload_session_chunks').where('session_id', '=', id).execute();
    await this.db.deleteFrom('upload_sessions').where('id', '=', id).execute();
  }

  /** Sessions past their expiry, oldest first. */
  expired(now: string, limit: number): Promise<UploadSessionRow[]> {
    return this.db
      .selectFrom('upload_sessions')
      .selectAll()
      .where('expires_at', '<', now)
      .orderBy('expires_at')
      .limit(limit)
      .execute();
  }

  /** A project's open sessions that have not expired. */
  async countLive(projectId: string, now: string): Promise<number> {
    const row = await this.db
      .selectFrom('upload_sessions')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('project_id', '=', projectId)
      .where('status', '=', 'open')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** A project's open sessions of an image, newest first. */
  openForImage(imageId: string, projectId: string): Promise<UploadSessionRow[]> {
    return this.db
      .selectFrom('upload_sessions')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('project_id', '=', projectId)
      .where('status', '=', 'open')
      .orderBy('created_at', 'desc')
      .limit(100)
      .execute();
  }
}
