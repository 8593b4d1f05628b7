import type { Kysely } from 'kysely';

// Glance interoperable import and multi-store (issue 4). Same portable types as 0001.
// - blobs.store: the named store holding the bytes ('default' for everything written
//   before stores had names, which is where that data is); disk_format and virtual_size
//   keep the blob's inspection, so a copy of the same bytes need not read them again.
// - image_replicas: further copies of an image's data in other stores (copy-image,
//   imports to several stores); the image's own blob_id stays its first location.
// - image_staging: data staged by PUT /v2/images/{id}/stage until glance-direct imports it.
// - image_tasks: the import jobs of an image, listed as Glance tasks.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('blobs')
    .addColumn('store', 'text', (c) => c.notNull().defaultTo('default'))
    .execute();
  await db.schema.alterTable('blobs').addColumn('disk_format', 'text').execute();
  await db.schema.alterTable('blobs').addColumn('virtual_size', 'bigint').execute();

  await db.schema
    .createTable('image_replicas')
    .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('store', 'text', (c) => c.notNull())
    .addColumn('blob_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_replicas_pk', ['image_id', 'store'])
    .execute();

  await db.schema
    .createTable('image_staging')
    .addColumn('image_id', 'text', (c) => c.primaryKey().references('images.id').onDelete('cascade'))
    .addColumn('blob_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('image_tasks')
    .addColumn('job_id', 'text', (c) => c.primaryKey())
    .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('image_tasks_image')
    .on('image_tasks')
    .columns(['image_id', 'created_at'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('image_tasks').ifExists().execute();
  await db.schema.dropTable('image_staging').ifExists().execute();
  await db.schema.dropTable('image_replicas').ifExists().execute();
  await db.schema.alterTable('blobs').dropColumn('virtual_size').execute();
  await db.schema.alterTable('blobs').dropColumn('disk_format').execute();
  await db.schema.alterTable('blobs').dropColumn('store').execute();
}
