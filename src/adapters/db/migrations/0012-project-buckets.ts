import type { Kysely } from 'kysely';

// The buckets of the tenants' object store an operator granted to each
// project: the only ones its image imports may read and its exports write.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('project_buckets')
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('bucket', 'text', (c) => c.notNull())
    .addColumn('granted_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('project_buckets_pk', ['project_id', 'bucket'])
    .execute();
  await db.schema.createIndex('project_buckets_bucket').on('project_buckets').column('bucket').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('project_buckets').ifExists().execute();
}
