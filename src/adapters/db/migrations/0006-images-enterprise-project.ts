import type { Kysely } from 'kysely';

// IMS enterprise projects: "0" is the default one. A column, not a property,
// so that the list filter is an indexed equality.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('images')
    .addColumn('enterprise_project_id', 'text', (c) => c.notNull().defaultTo('0'))
    .execute();
  await db.schema
    .createIndex('images_enterprise_project')
    .on('images')
    .columns(['enterprise_project_id', 'deleted', 'created_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('images_enterprise_project').ifExists().execute();
  await db.schema.alterTable('images').dropColumn('enterprise_project_id').execute();
}
