import type { Kysely } from 'kysely';

// - account_buckets: buckets of the tenants' object store an operator granted to
//   every project of an account (domain), present and future: resolved when a
//   request asks, as sharing with an account is.
// - user_uploads: the multipart uploads IMS started in a tenant's bucket (exports),
//   with the job that started them, so that a failed or abandoned export's upload
//   is aborted and `ims gc` aborts only IMS's own, never a tenant's.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('account_buckets')
    .addColumn('domain_id', 'text', (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('granted_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('account_buckets_pk', ['domain_id', 'bucket'])
    .execute();
  await db.schema.createIndex('account_buckets_bucket').on('account_buckets').column('bucket').execute();
  await db.schema
    .createTable('user_uploads')
    .addColumn('upload_id', 'text', (c) => c.notNull())
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('object_key', 'text', (c) => c.notNull())
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_uploads_pk', ['upload_id'])
    .execute();
  await db.schema.createIndex('user_uploads_job').on('user_uploads').column('job_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('user_uploads').ifExists().execute();
  await db.schema.dropTable('account_buckets').ifExists().execute();
}
