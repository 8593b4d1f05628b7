import type { Kysely } from 'kysely';

// IMS sharing by account and organization (domain/sharing.ts explains the model):
// - image_members rows gain a member_type: `project` (what Glance stores), or
//   `domain` (member_id: an account id) or `organization` (member_id: the
//   organization or unit URN, also in urn). Account and organization rows are
//   grants resolved when an image is read, so a project created in the account
//   later sees the image too. shared_by: the user who added the member.
// - image_member_answers: a project's own answer (accepted/rejected) to an
//   image that reaches it through an account or organization grant; no row
//   means pending.
// - project_sharing_policies: a project's auto-accept rules.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('image_members')
    .addColumn('member_type', 'text', (c) => c.notNull().defaultTo('project'))
    .execute();
  await db.schema.alterTable('image_members').addColumn('urn', 'text').execute();
  await db.schema.alterTable('image_members').addColumn('shared_by', 'text').execute();
  await db.schema
    .createTable('image_member_answers')
    .addColumn('image_id', 'text', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // 'project' when the project answered, 'policy' when its sharing policy did.
    .addColumn('answered_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_member_answers_pk', ['image_id', 'project_id'])
    .execute();
  await db.schema
    .createIndex('image_member_answers_project')
    .on('image_member_answers')
    .columns(['project_id', 'status'])
    .execute();
  await db.schema
    .createTable('project_sharing_policies')
    .addColumn('project_id', 'text', (c) => c.primaryKey().references('projects.id').onDelete('cascade'))
    .addColumn('accept_own_account', 'integer', (c) => c.notNull().defaultTo(0))
    // JSON array of organization or unit URNs.
    .addColumn('accept_organizations', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('project_sharing_policies').ifExists().execute();
  await db.schema.dropTable('image_member_answers').ifExists().execute();
  await db.schema.alterTable('image_members').dropColumn('shared_by').execute();
  await db.schema.alterTable('image_members').dropColumn('urn').execute();
  await db.schema.alterTable('image_members').dropColumn('member_type').execute();
}
