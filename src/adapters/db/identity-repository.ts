import type { Kysely, Selectable } from 'kysely';
import type { Database } from './schema.ts';

export type DomainRow = Selectable<Database['domains']>;
export type ProjectRow = Selectable<Database['projects']>;
export type UserRow = Selectable<Database['users']>;
export type RoleRow = Selectable<Database['roles']>;

/** Accounts (domains), projects, users, roles and token revocations. */
export class IdentityRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async setting(key: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value ?? null;
  }

  /** Stores a value unless one is there already; returns the one that won (safe across nodes). */
  async settingOnce(key: string, value: string): Promise<string> {
    await this.db
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    return (await this.setting(key))!;
  }

  domainById(id: string) {
    return this.db.selectFrom('domains').selectAll().where('id', '=', id).executeTakeFirst();
  }
  domainByName(name: string) {
    return this.db.selectFrom('domains').selectAll().where('name', '=', name).executeTakeFirst();
  }
  projectById(id: string) {
    return this.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
  }
  projectByName(domainId: string, name: string) {
    return this.db
      .selectFrom('projects')
      .selectAll()
      .where('domain_id', '=', domainId)
      .where('name', '=', name)
      .executeTakeFirst();
  }
  userById(id: string) {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }
  userByName(domainId: string, name: string) {
    return this.db
      .selectFrom('users')
      .selectAll()
      .where('domain_id', '=', domainId)
      .where('name', '=', name)
      .executeTakeFirst();
  }
  roleByName(name: string) {
    return this.db.selectFrom('roles').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async rolesOn(userId: string, projectId: string): Promise<RoleRow[]> {
    return this.db
      .selectFrom('role_assignments')
      .innerJoin('roles', 'roles.id', 'role_assignments.role_id')
      .select(['roles.id', 'roles.name'])
      .where('role_assignments.user_id', '=', userId)
      .where('role_assignments.project_id', '=', projectId)
      .orderBy('roles.name')
      .execute();
  }

  async insertDomain(row: DomainRow): Promise<void> {
    await this.db
      .insertInto('domains')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async insertProject(row: ProjectRow): Promise<void> {
    await this.db
      .insertInto('projects')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async insertUser(row: UserRow): Promise<void> {
    await this.db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async insertRole(row: RoleRow): Promise<void> {
    await this.db
      .insertInto('roles')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async assignRole(userId: string, projectId: string, roleId: string): Promise<void> {
    await this.db
      .insertInto('role_assignments')
      .values({ user_id: userId, project_id: projectId, role_id: roleId })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async revoke(tokenId: string, expiresAt: string): Promise<void> {
    await this.db
      .insertInto('revoked_tokens')
      .values({ token_id: tokenId, expires_at: expiresAt })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  async isRevoked(tokenId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('revoked_tokens')
      .select('token_id')
      .where('token_id', '=', tokenId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Revocations of tokens that have expired anyway are no longer needed. */
  async purgeRevocations(now: string): Promise<void> {
    await this.db.deleteFrom('revoked_tokens').where('expires_at', '<', now).execute();
  }
}
