import type { Kysely } from 'kysely';

// Organizations (owned by a management account), their units (a root unit
// `r-...` and organizational units `ou-...` below it), and which accounts
// (Keystone domains) are members: an account belongs to at most one
// organization and sits in exactly one of its units.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('organizations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('management_account_id', 'text', (c) =>
      c.notNull().references('domains.id').onDelete('cascade'),
    )
    .addColumn('root_id', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('organization_units')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('organization_id', 'text', (c) =>
      c.notNull().references('organizations.id').onDelete('cascade'),
    )
    // null: the root unit.
    .addColumn('parent_id', 'text', (c) => c.references('organization_units.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('organization_units_parent')
    .on('organization_units')
    .column('parent_id')
    .execute();
  await db.schema
    .createIndex('organization_units_name')
    .on('organization_units')
    .columns(['organization_id', 'parent_id', 'name'])
    .unique()
    .execute();
  await db.schema
    .createTable('organization_accounts')
    .addColumn('domain_id', 'text', (c) => c.primaryKey().references('domains.id').onDelete('cascade'))
    .addColumn('organization_id', 'text', (c) =>
      c.notNull().references('organizations.id').onDelete('cascade'),
    )
    .addColumn('unit_id', 'text', (c) => c.notNull().references('organization_units.id').onDelete('cascade'))
    .addColumn('joined_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('organization_accounts_unit')
    .on('organization_accounts')
    .column('unit_id')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('organization_accounts').ifExists().execute();
  await db.schema.dropTable('organization_units').ifExists().execute();
  await db.schema.dropTable('organizations').ifExists().execute();
}
