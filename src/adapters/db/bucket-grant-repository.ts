import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface BucketGrant {
  projectId: string;
  bucket: string;
  grantedAt: string;
  /** Set when the project has the bucket through a grant to its account. */
  viaAccount?: string;
}

export interface AccountBucketGrant {
  accountId: string;
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

  /** Grants the bucket to every project of the account, present and future. Idempotent. */
  async grantAccount(accountId: string, bucket: string, now: string): Promise<void> {
    await this.db
      .insertInto('account_buckets')
      .values({ domain_id: accountId, bucket, granted_at: now })
      .onConflict((oc) => oc.columns(['domain_id', 'bucket']).doNothing())
      .execute();
  }

  /** Whether an account grant was there to remove (project grants of its projects stay). */
  async revokeAccount(accountId: string, bucket: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('account_buckets')
      .where('domain_id', '=', accountId)
      .where('bucket', '=', bucket)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** Granted to the project itself, or to its account (looked up now: a project moved or added follows). */
  async isGranted(projectId: string, bucket: string): Promise<boolean> {
    const own = await this.db
      .selectFrom('project_buckets')
      .select('bucket')
      .where('project_id', '=', projectId)
      .where('bucket', '=', bucket)
      .executeTakeFirst();
    if (own) return true;
    const viaAccount = await this.db
      .selectFrom('account_buckets')
      .innerJoin('projects', 'projects.domain_id', 'account_buckets.domain_id')
      .select('account_buckets.bucket')
      .where('projects.id', '=', projectId)
      .where('account_buckets.bucket', '=', bucket)
      .executeTakeFirst();
    return viaAccount !== undefined;
  }

  /**
   * Every project grant, or what one project may use: its own grants and, marked
   * with the account, those of its account. By project then bucket.
   */
  async list(projectId?: string): Promise<BucketGrant[]> {
    let q = this.db.selectFrom('project_buckets').selectAll();
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    const rows = await q.orderBy('project_id').orderBy('bucket').execute();
    const out: BucketGrant[] = rows.map((r) => ({
      projectId: r.project_id,
      bucket: r.bucket,
      grantedAt: r.granted_at,
    }));
    if (projectId === undefined) return out;
    const inherited = await this.db
      .selectFrom('account_buckets')
      .innerJoin('projects', 'projects.domain_id', 'account_buckets.domain_id')
      .select(['account_buckets.domain_id', 'account_buckets.bucket', 'account_buckets.granted_at'])
      .where('projects.id', '=', projectId)
      .orderBy('account_buckets.bucket')
      .execute();
    for (const r of inherited)
      out.push({ projectId, bucket: r.bucket, grantedAt: r.granted_at, viaAccount: r.domain_id });
    return out;
  }

  /** Every account grant, or one account's, by account then bucket. */
  async listAccounts(accountId?: string): Promise<AccountBucketGrant[]> {
    let q = this.db.selectFrom('account_buckets').selectAll();
    if (accountId !== undefined) q = q.where('domain_id', '=', accountId);
    const rows = await q.orderBy('domain_id').orderBy('bucket').execute();
    return rows.map((r) => ({ accountId: r.domain_id, bucket: r.bucket, grantedAt: r.granted_at }));
  }
}
