import type { Kysely } from 'kysely';

// Resumable uploads: a session per upload of a queued image, and the chunks it
// has received. Chunk bytes are committed objects of the session's store; the
// rows say which byte ranges they hold. No foreign key to images: when an
// image goes away its sessions must still be found, so that the purge removes
// their chunk objects too.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('upload_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('image_id', 'text', (c) => c.notNull())
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    // The client's own name for what it uploads (the CLI: a file's fingerprint), to find the session again.
    .addColumn('client_ref', 'text')
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('store', 'text', (c) => c.notNull())
    // open, then committed (kept until it expires, so that a repeated commit answers the same).
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('upload_sessions_image').on('upload_sessions').column('image_id').execute();
  await db.schema.createIndex('upload_sessions_expiry').on('upload_sessions').column('expires_at').execute();
  await db.schema
    .createTable('upload_session_chunks')
    .addColumn('session_id', 'text', (c) => c.notNull().references('upload_sessions.id').onDelete('cascade'))
    // Half-open [start_offset, end_offset).
    .addColumn('start_offset', 'bigint', (c) => c.notNull())
    .addColumn('end_offset', 'bigint', (c) => c.notNull())
    .addColumn('store_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('upload_session_chunks_pk', ['session_id', 'start_offset'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('upload_session_chunks').ifExists().execute();
  await db.schema.dropTable('upload_sessions').ifExists().execute();
}
