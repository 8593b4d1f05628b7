import type { Kysely } from 'kysely';

// Glance's metadata definitions: namespaces, the resource types they apply to,
// and the property definitions, objects and tags in each namespace. A
// namespace's content goes with it (cascade). Property and object schemas are
// JSON text: they are small documents read and written whole.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('metadef_namespaces')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('namespace', 'text', (c) => c.notNull().unique())
    .addColumn('display_name', 'text')
    .addColumn('description', 'text')
    .addColumn('visibility', 'text', (c) => c.notNull())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('metadef_resource_types')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  // The resource types Glance's own migration creates.
  const now = new Date().toISOString();
  await db
    .insertInto('metadef_resource_types' as never)
    .values(
      [
        'OS::Glance::Image',
        'OS::Cinder::Volume',
        'OS::Nova::Flavor',
        'OS::Nova::Aggregate',
        'OS::Nova::Server',
      ].map((name) => ({ name, protected: 1, created_at: now, updated_at: now })) as never,
    )
    .execute();

  await db.schema
    .createTable('metadef_namespace_resource_types')
    .addColumn('namespace_id', 'text', (c) =>
      c.notNull().references('metadef_namespaces.id').onDelete('cascade'),
    )
    .addColumn('resource_type', 'text', (c) => c.notNull().references('metadef_resource_types.name'))
    .addColumn('prefix', 'text')
    .addColumn('properties_target', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('metadef_namespace_resource_types_pk', ['namespace_id', 'resource_type'])
    .execute();

  for (const [table, extra] of [
    ['metadef_properties', ['schema']],
    ['metadef_objects', ['description', 'required', 'properties']],
    ['metadef_tags', []],
  ] as const) {
    let t = db.schema
      .createTable(table)
      .addColumn('namespace_id', 'text', (c) =>
        c.notNull().references('metadef_namespaces.id').onDelete('cascade'),
      )
      .addColumn('name', 'text', (c) => c.notNull());
    for (const column of extra) t = t.addColumn(column, 'text');
    await t
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['namespace_id', 'name'])
      .execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'metadef_tags',
    'metadef_objects',
    'metadef_properties',
    'metadef_namespace_resource_types',
    'metadef_resource_types',
    'metadef_namespaces',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
