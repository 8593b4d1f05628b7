import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface BucketGrant {
  projectId: string;
  bucket: string;
  grantedAt: string;
}

/** Which buckets of the tenants' object store each project may read from and export to. */
export class BucketGrantRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Idempotent: granting again keeps the first grant's time. */
  async grant(projectId: string, bucket: string, now: string): Promise<void> {
    await this.db
      .insertInto('project_buckets')
      .values({ project_id: projectId, bucket, granted_at: now })
      .onConflict((oc) => oc.columns(['project_id', 'bucket']).doNothing())
      .execute();
  }

  /** Whether a grant was there to remove. */
  async revoke(projectId: string, bucket: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('project_buckets')
      .where('project_id', '=', projectId)
      .where('bucket', '=', bucket)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async isGranted(projectId: string, bucket: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('project_buckets')
      .select('bucket')
      .where('project_id', '=', projectId)
      .where('bucket', '=', bucket)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Every grant, or one project's, by project then bucket. */
  async list(projectId?: string): Promise<BucketGrant[]> {
    let q = this.db.selectFrom('project_buckets').selectAll();
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const rows = await q.orderBy('project_id').orderBy('bucket').execute();
    return rows.map((r) => ({ projectId: r.project_id, bucket: r.bucket, grantedAt: r.granted_at }));
  }
}
