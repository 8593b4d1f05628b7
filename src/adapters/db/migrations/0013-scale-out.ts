import type { Kysely } from 'kysely';

// State that several API and worker processes on one database must share:
// - auth_failures: failed logins and signatures per source address, in a fixed
//   window, so that IMS_AUTH_FAILURE_LIMIT holds for the deployment, not per node;
// - data_leases: which process is receiving an image's bytes (upload or stage)
//   and until when, so that the reaper can tell a live upload from a dead one;
// - gc_candidates: store objects no row referenced when the garbage collector
//   last looked; deleted only when still unreferenced after a grace period, so
//   that an object between its commit and its row's transaction is never taken.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('auth_failures')
    .addColumn('source', 'text', (c) => c.primaryKey())
    .addColumn('window_start', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('auth_failures_window').on('auth_failures').column('window_start').execute();
  await db.schema
    .createTable('data_leases')
    .addColumn('image_id', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('gc_candidates')
    .addColumn('store', 'text', (c) => c.notNull())
    .addColumn('store_key', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('gc_candidates_pk', ['store', 'store_key'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('gc_candidates').execute();
  await db.schema.dropTable('data_leases').execute();
  await db.schema.dropTable('auth_failures').execute();
}
