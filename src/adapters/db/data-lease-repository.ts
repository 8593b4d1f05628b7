import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { ImageStatus } from '../../domain/image-status.ts';

/**
 * The owner of a lease a request takes for the job it enqueues (register): the
 * lease lasts while that job is waiting or running, whatever its expiry, so that
 * the image is never taken for abandoned between the request and the job's start.
 */
export const jobLeaseOwner = (jobId: string): string => `job:${jobId}`;

/**
 * Who is receiving an image's bytes (an upload or a stage) and until when. The
 * receiving process renews its lease while bytes flow; the reaper returns images
 * whose lease ended (their process died) to `queued`.
 */
export class DataLeaseRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Takes (or takes over) the lease of the image. */
  async acquire(imageId: string, owner: string, expiresAt: string): Promise<void> {
    await this.db
      .insertInto('data_leases')
      .values({ image_id: imageId, owner, expires_at: expiresAt })
      .onConflict((oc) => oc.column('image_id').doUpdateSet({ owner, expires_at: expiresAt }))
      .execute();
  }

  /** Extends the owner's lease; false when it is no longer the owner's. */
  async renew(imageId: string, owner: string, expiresAt: string): Promise<boolean> {
    const res = await this.db
      .updateTable('data_leases')
      .set({ expires_at: expiresAt })
      .where('image_id', '=', imageId)
      .where('owner', '=', owner)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async release(imageId: string, owner: string): Promise<void> {
    await this.db
      .deleteFrom('data_leases')
      .where('image_id', '=', imageId)
      .where('owner', '=', owner)
      .execute();
  }

  /**
   * Images in this status whose bytes nobody is receiving: no lease, or one that
   * ended before `now` and is not held for a job still waiting or running.
   */
  async unleased(status: ImageStatus, now: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('images')
      .leftJoin('data_leases', 'data_leases.image_id', 'images.id')
      .select('images.id')
      .where('images.status', '=', status)
      .where('images.deleted', '=', 0)
      .where((eb) =>
        eb.or([
          eb('data_leases.expires_at', 'is', null),
          eb.and([
            eb('data_leases.expires_at', '<=', now),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('jobs')
                  .select('jobs.id')
                  .where(sql<boolean>`${sql.lit('job:')} || jobs.id = data_leases.owner`)
                  .where('jobs.status', 'in', ['INIT', 'RUNNING']),
              ),
            ),
          ]),
        ]),
      )
      .execute();
    return rows.map((r) => r.id);
  }

  /** Forgets the lease whoever holds it (the reaper, after reverting its image). */
  async drop(imageId: string): Promise<void> {
    await this.db.deleteFrom('data_leases').where('image_id', '=', imageId).execute();
  }
}
