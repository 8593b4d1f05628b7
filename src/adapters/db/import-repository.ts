import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.ts';

export type ReplicaRow = Selectable<Database['image_replicas']>;

/** Rows of the Glance import workflow: staged data, copies in further stores, import tasks. */
export class ImportRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async stage(imageId: string, blobId: string, now: string): Promise<void> {
    await this.db
      .insertInto('image_staging')
      .values({ image_id: imageId, blob_id: blobId, created_at: now })
      .execute();
  }

  async staged(imageId: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('image_staging')
      .select('blob_id')
      .where('image_id', '=', imageId)
      .executeTakeFirst();
    return row?.blob_id ?? null;
  }

  /** Forgets the staged data; returns its blob id (the caller releases the blob). */
  async unstage(imageId: string): Promise<string | null> {
    const blobId = await this.staged(imageId);
    if (blobId) await this.db.deleteFrom('image_staging').where('image_id', '=', imageId).execute();
    return blobId;
  }

  async addReplica(imageId: string, store: string, blobId: string, now: string): Promise<void> {
    await this.db
      .insertInto('image_replicas')
      .values({ image_id: imageId, store, blob_id: blobId, created_at: now })
      .execute();
  }

  replicas(imageId: string): Promise<ReplicaRow[]> {
    return this.db.selectFrom('image_replicas').selectAll().where('image_id', '=', imageId).execute();
  }

  /** Removes every replica row of the image; returns them (the caller releases their blobs). */
  async dropReplicas(imageId: string): Promise<ReplicaRow[]> {
    const rows = await this.replicas(imageId);
    if (rows.length) await this.db.deleteFrom('image_replicas').where('image_id', '=', imageId).execute();
    return rows;
  }

  async addTask(imageId: string, jobId: string, now: string): Promise<void> {
    await this.db
      .insertInto('image_tasks')
      .values({ image_id: imageId, job_id: jobId, created_at: now })
      .execute();
  }

  async taskIds(imageId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('image_tasks')
      .select('job_id')
      .where('image_id', '=', imageId)
      .orderBy('created_at', 'desc')
      .orderBy('job_id')
      .execute();
    return rows.map((r) => r.job_id);
  }
}
