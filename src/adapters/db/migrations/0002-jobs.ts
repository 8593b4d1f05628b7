import { sql, type Kysely, type SqlBool } from 'kysely';

// The durable job queue. Same portable types as 0001: text, integer, bigint;
// times are ISO 8601 UTC text with milliseconds, so text comparison is time order.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('jobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('result', 'text')
    // What the IMS job API shows as `entities` (image_id, image_name, results, ...).
    .addColumn('entities', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_attempts', 'integer', (c) => c.notNull())
    // The last error: kept while a retry waits, and final once the job is FAIL.
    .addColumn('error_code', 'text')
    .addColumn('fail_reason', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_expires_at', 'text')
    .addColumn('run_after', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('begin_time', 'text')
    .addColumn('end_time', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // Partial indexes hold only unfinished jobs, so claiming stays an index range
  // scan however much history the table keeps. job-repository.ts repeats these
  // predicates word for word so that both planners see that the index applies.
  await db.schema
    .createIndex('jobs_claimable')
    .on('jobs')
    .columns(['run_after', 'id'])
    .where(sql<SqlBool>`status in ('INIT', 'RUNNING')`)
    .execute();
  await db.schema
    .createIndex('jobs_running_lease')
    .on('jobs')
    .column('lease_expires_at')
    .where(sql<SqlBool>`status = 'RUNNING'`)
    .execute();
  await db.schema.createIndex('jobs_project').on('jobs').columns(['project_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('jobs').ifExists().execute();
}
