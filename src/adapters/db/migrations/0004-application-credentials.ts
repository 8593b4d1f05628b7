import type { Kysely } from 'kysely';

// The Keystone v3 admin API beyond tokens: application credentials and their
// roles, role assignments on domains (for domain-scoped tokens), revocation
// events (a role taken away or a password changed invalidates the tokens
// issued before), and the free-form attributes Keystone keeps on users and
// projects (`email`, `description`, tags, ...). Same portable types as 0001.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  await db.schema
    .alterTable('projects')
    .addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();

  await db.schema
    .createTable('domain_role_assignments')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('domain_id', 'text', (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('domain_role_assignments_pk', ['user_id', 'domain_id', 'role_id'])
    .execute();

  await db.schema
    .createTable('application_credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    // scrypt, as passwords: the secret itself is shown once and never stored.
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('unrestricted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('application_credentials_user_name', ['user_id', 'name'])
    .execute();
  await db.schema
    .createIndex('application_credentials_project')
    .on('application_credentials')
    .columns(['project_id', 'user_id'])
    .execute();

  await db.schema
    .createTable('application_credential_roles')
    .addColumn('application_credential_id', 'text', (c) =>
      c.notNull().references('application_credentials.id').onDelete('cascade'),
    )
    .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('application_credential_roles_pk', ['application_credential_id', 'role_id'])
    .execute();

  // Tokens of user_id issued at or before revoked_at are invalid: for one scope
  // (a project or domain id) or, with scope_id '', for every scope.
  await db.schema
    .createTable('identity_revocations')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('scope_id', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('identity_revocations_user')
    .on('identity_revocations')
    .columns(['user_id', 'revoked_at'])
    .execute();
  await db.schema
    .createIndex('identity_revocations_time')
    .on('identity_revocations')
    .column('revoked_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'identity_revocations',
    'application_credential_roles',
    'application_credentials',
    'domain_role_assignments',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
  await db.schema.alterTable('projects').dropColumn('extra').execute();
  await db.schema.alterTable('users').dropColumn('extra').execute();
}
