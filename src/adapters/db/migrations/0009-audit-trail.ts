import type { Kysely } from 'kysely';

// The audit trail (Cloud Trace Service style): one row per event, chained with
// an HMAC; the chain's head is kept in its own one-row table, so that cutting
// events off the end of the log is seen when the head no longer matches.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('audit_events')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('id', 'text', (c) => c.notNull().unique())
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('resource_type', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'text')
    .addColumn('resource_name', 'text')
    .addColumn('project_id', 'text')
    .addColumn('domain_id', 'text')
    .addColumn('user_id', 'text')
    .addColumn('source_ip', 'text')
    .addColumn('request_id', 'text')
    // success | accepted (an asynchronous call queued its job) | failure
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('http_status', 'integer')
    .addColumn('error_code', 'text')
    .addColumn('job_id', 'text')
    .addColumn('prev_mac', 'text', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_events_time').on('audit_events').columns(['time', 'seq']).execute();
  await db.schema
    .createIndex('audit_events_project')
    .on('audit_events')
    .columns(['project_id', 'seq'])
    .execute();
  await db.schema.createIndex('audit_events_resource').on('audit_events').column('resource_id').execute();
  await db.schema.createIndex('audit_events_job').on('audit_events').column('job_id').execute();
  await db.schema
    .createTable('audit_chain_head')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .execute();
  await db
    .insertInto('audit_chain_head' as never)
    .values({ id: 1, seq: 0, mac: '' } as never)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('audit_chain_head').ifExists().execute();
  await db.schema.dropTable('audit_events').ifExists().execute();
}
