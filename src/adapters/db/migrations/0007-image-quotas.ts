import type { Kysely } from 'kysely';

// Per-project image quotas set by operators. A row also serves as the lock
// that serialises the quota checks of one project (see quota-repository.ts),
// so every project that creates images gets one; null limits mean the
// defaults from the configuration.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('image_quotas')
    .addColumn('project_id', 'text', (c) => c.primaryKey())
    .addColumn('max_images', 'integer')
    .addColumn('max_bytes', 'bigint')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('image_quotas').execute();
}
