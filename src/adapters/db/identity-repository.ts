import { sql, type Insertable, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { Database } from './schema.ts';
import { QueryTemplates } from './query-templates.ts';
import { auditedTransaction } from '../audit-scope.ts';

export type DomainRow = Selectable<Database['domains']>;
export type ProjectRow = Selectable<Database['projects']>;
export type UserRow = Selectable<Database['users']>;
export type RoleRow = Selectable<Database['roles']>;
export type AppCredRow = Selectable<Database['application_credentials']>;

/** One role assignment, on a project or on a domain. */
export interface AssignmentRow {
  userId: string;
  roleId: string;
  scope: 'project' | 'domain';
  scopeId: string;
}

/** Why a well-signed, unexpired token is (not) still good; see tokenStanding. */
export type TokenStanding =
  'valid' | 'user-gone' | 'user-disabled' | 'revoked' | 'scope-gone' | 'credential-gone';

/** A text parameter PostgreSQL can type inside INSERT ... SELECT. */
const text = (value: string) => sql<string>`cast(${value} as text)`;

/** SQLite answers 0/1 where PostgreSQL answers booleans. */
const truthy = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 1n;

/** A unique constraint (or primary key) refused the write: PostgreSQL 23505, SQLite SQLITE_CONSTRAINT_*. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

async function uniqueOrConflict(write: Promise<unknown>): Promise<'updated' | 'conflict'> {
  try {
    await write;
    return 'updated';
  } catch (err) {
    if (isUniqueViolation(err)) return 'conflict';
    throw err;
  }
}

/** What decides whether a well-signed, unexpired token still stands. */
type StandingQuery = {
  tokenId: string;
  userId: string;
  projectId: string | null;
  domainScopeId: string | null;
  appCredId: string | null;
  issuedAt: string;
  now: string;
};

/** Accounts (domains), projects, users, roles and token revocations. */
export class IdentityRepository {
  /** Every request validates its token: that query is built once (query-templates.ts). */
  private readonly templates: QueryTemplates;

  constructor(private readonly db: Kysely<Database>) {
    this.templates = new QueryTemplates(db);
  }

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

  /** Projects on which the user holds any role. */
  async projectIdsWithRoles(userId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('role_assignments')
      .select('project_id')
      .distinct()
      .where('user_id', '=', userId)
      .orderBy('project_id')
      .execute();
    return rows.map((r) => r.project_id);
  }

  async insertDomain(row: DomainRow): Promise<void> {
    await this.db
      .insertInto('domains')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async insertProject(row: Insertable<Database['projects']>): Promise<void> {
    await this.db
      .insertInto('projects')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async insertUser(row: Insertable<Database['users']>): Promise<void> {
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

  // ---- Keystone admin API (domains, projects, users, roles, assignments, application credentials)

  /** Runs the work in one transaction (or in the caller's, when already inside one). */
  transaction<T>(work: (repo: IdentityRepository) => Promise<T>): Promise<T> {
    if (this.db.isTransaction) return work(this);
    return auditedTransaction(this.db, (trx) => work(new IdentityRepository(trx)));
  }

  listDomains(f: { name?: string; enabled?: boolean; ids?: string[] } = {}): Promise<DomainRow[]> {
    let q = this.db.selectFrom('domains').selectAll();
    if (f.name !== undefined) q = q.where('name', '=', f.name);
    if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled ? 1 : 0);
    if (f.ids) {
      if (f.ids.length === 0) return Promise.resolve([]);
      q = q.where('id', 'in', f.ids);
    }
    return q.orderBy('name').orderBy('id').execute();
  }

  /** Projects, optionally only those on which `memberUserId` holds a role. */
  listProjects(
    f: { domainId?: string; name?: string; enabled?: boolean; memberUserId?: string } = {},
  ): Promise<ProjectRow[]> {
    let q = this.db.selectFrom('projects').selectAll('projects');
    if (f.domainId !== undefined) q = q.where('projects.domain_id', '=', f.domainId);
    if (f.name !== undefined) q = q.where('projects.name', '=', f.name);
    if (f.enabled !== undefined) q = q.where('projects.enabled', '=', f.enabled ? 1 : 0);
    if (f.memberUserId !== undefined) {
      const userId = f.memberUserId;
      q = q.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('role_assignments as ra')
            .select('ra.project_id')
            .whereRef('ra.project_id', '=', 'projects.id')
            .where('ra.user_id', '=', userId),
        ),
      );
    }
    return q.orderBy('projects.name').orderBy('projects.id').execute();
  }

  listUsers(f: { domainId?: string; name?: string; enabled?: boolean } = {}): Promise<UserRow[]> {
    let q = this.db.selectFrom('users').selectAll();
    if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId);
    if (f.name !== undefined) q = q.where('name', '=', f.name);
    if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled ? 1 : 0);
    return q.orderBy('name').orderBy('id').execute();
  }

  listRoles(f: { name?: string } = {}): Promise<RoleRow[]> {
    let q = this.db.selectFrom('roles').selectAll();
    if (f.name !== undefined) q = q.where('name', '=', f.name);
    return q.orderBy('name').execute();
  }

  roleById(id: string) {
    return this.db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Inserts unless a row with the same id or unique name exists; false then. */
  async createDomain(row: Insertable<Database['domains']>): Promise<boolean> {
    const r = await this.db
      .insertInto('domains')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async createProject(row: Insertable<Database['projects']>): Promise<boolean> {
    const r = await this.db
      .insertInto('projects')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async createUser(row: Insertable<Database['users']>): Promise<boolean> {
    const r = await this.db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }
  async createRole(row: RoleRow): Promise<boolean> {
    const r = await this.db
      .insertInto('roles')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** 'conflict' when the new name is taken in its scope (unique constraint). */
  updateDomain(id: string, patch: Updateable<Database['domains']>): Promise<'updated' | 'conflict'> {
    return uniqueOrConflict(this.db.updateTable('domains').set(patch).where('id', '=', id).execute());
  }
  updateProject(id: string, patch: Updateable<Database['projects']>): Promise<'updated' | 'conflict'> {
    return uniqueOrConflict(this.db.updateTable('projects').set(patch).where('id', '=', id).execute());
  }
  updateUser(id: string, patch: Updateable<Database['users']>): Promise<'updated' | 'conflict'> {
    return uniqueOrConflict(this.db.updateTable('users').set(patch).where('id', '=', id).execute());
  }

  async deleteDomain(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('domains').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async deleteProject(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('projects').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async deleteUser(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async deleteRole(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('roles').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async unassignRole(userId: string, projectId: string, roleId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('role_assignments')
      .where('user_id', '=', userId)
      .where('project_id', '=', projectId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async hasRole(userId: string, projectId: string, roleId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('role_assignments')
      .select('role_id')
      .where('user_id', '=', userId)
      .where('project_id', '=', projectId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async assignDomainRole(userId: string, domainId: string, roleId: string): Promise<void> {
    await this.db
      .insertInto('domain_role_assignments')
      .values({ user_id: userId, domain_id: domainId, role_id: roleId })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  async unassignDomainRole(userId: string, domainId: string, roleId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('domain_role_assignments')
      .where('user_id', '=', userId)
      .where('domain_id', '=', domainId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async hasDomainRole(userId: string, domainId: string, roleId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('domain_role_assignments')
      .select('role_id')
      .where('user_id', '=', userId)
      .where('domain_id', '=', domainId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return row !== undefined;
  }
  async rolesOnDomain(userId: string, domainId: string): Promise<RoleRow[]> {
    return this.db
      .selectFrom('domain_role_assignments as a')
      .innerJoin('roles', 'roles.id', 'a.role_id')
      .select(['roles.id', 'roles.name'])
      .where('a.user_id', '=', userId)
      .where('a.domain_id', '=', domainId)
      .orderBy('roles.name')
      .execute();
  }

  /** Role assignments on projects and on domains, filtered as `GET /v3/role_assignments` asks. */
  async listAssignments(f: {
    userId?: string;
    projectId?: string;
    domainId?: string;
    roleId?: string;
  }): Promise<AssignmentRow[]> {
    const out: AssignmentRow[] = [];
    if (f.domainId === undefined) {
      let q = this.db.selectFrom('role_assignments').selectAll();
      if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
      if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
      if (f.roleId !== undefined) q = q.where('role_id', '=', f.roleId);
      for (const r of await q.execute())
        out.push({ userId: r.user_id, roleId: r.role_id, scope: 'project', scopeId: r.project_id });
    }
    if (f.projectId === undefined) {
      let q = this.db.selectFrom('domain_role_assignments').selectAll();
      if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
      if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId);
      if (f.roleId !== undefined) q = q.where('role_id', '=', f.roleId);
      for (const r of await q.execute())
        out.push({ userId: r.user_id, roleId: r.role_id, scope: 'domain', scopeId: r.domain_id });
    }
    const key = (a: AssignmentRow) => `${a.userId}\u0000${a.scope}\u0000${a.scopeId}\u0000${a.roleId}`;
    return out.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  usersByIds(ids: string[]): Promise<UserRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
  }
  projectsByIds(ids: string[]): Promise<ProjectRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('projects').selectAll().where('id', 'in', ids).execute();
  }
  rolesByIds(ids: string[]): Promise<RoleRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.db.selectFrom('roles').selectAll().where('id', 'in', ids).execute();
  }

  /** Domains on which the user holds any role. */
  domainsOfUser(userId: string, f: { enabled?: boolean } = {}): Promise<DomainRow[]> {
    let q = this.db
      .selectFrom('domains')
      .selectAll('domains')
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('domain_role_assignments as a')
            .select('a.domain_id')
            .whereRef('a.domain_id', '=', 'domains.id')
            .where('a.user_id', '=', userId),
        ),
      );
    if (f.enabled !== undefined) q = q.where('domains.enabled', '=', f.enabled ? 1 : 0);
    return q.orderBy('domains.name').execute();
  }

  async insertApplicationCredential(
    row: Insertable<Database['application_credentials']>,
    roleIds: string[],
  ): Promise<boolean> {
    const r = await this.db
      .insertInto('application_credentials')
      .values(row)
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0) === 0) return false;
    if (roleIds.length)
      await this.db
        .insertInto('application_credential_roles')
        .values(roleIds.map((roleId) => ({ application_credential_id: row.id, role_id: roleId })))
        .execute();
    return true;
  }
  applicationCredentialById(id: string) {
    return this.db.selectFrom('application_credentials').selectAll().where('id', '=', id).executeTakeFirst();
  }
  applicationCredentialByName(userId: string, name: string) {
    return this.db
      .selectFrom('application_credentials')
      .selectAll()
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
  }
  listApplicationCredentials(userId: string, f: { name?: string } = {}): Promise<AppCredRow[]> {
    let q = this.db.selectFrom('application_credentials').selectAll().where('user_id', '=', userId);
    if (f.name !== undefined) q = q.where('name', '=', f.name);
    return q.orderBy('name').execute();
  }
  /** The roles of each application credential, by credential id. */
  async applicationCredentialRoles(ids: string[]): Promise<Map<string, RoleRow[]>> {
    const out = new Map<string, RoleRow[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await this.db
      .selectFrom('application_credential_roles as acr')
      .innerJoin('roles', 'roles.id', 'acr.role_id')
      .select(['acr.application_credential_id as credId', 'roles.id', 'roles.name'])
      .where('acr.application_credential_id', 'in', ids)
      .orderBy('roles.name')
      .execute();
    for (const r of rows) out.get(r.credId)?.push({ id: r.id, name: r.name });
    return out;
  }
  async deleteApplicationCredential(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('application_credentials').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  /** Keystone drops a user's application credentials when the user is disabled or loses a project role. */
  async deleteApplicationCredentialsOf(userId: string, projectId?: string): Promise<void> {
    let q = this.db.deleteFrom('application_credentials').where('user_id', '=', userId);
    if (projectId !== undefined) q = q.where('project_id', '=', projectId);
    await q.execute();
  }

  /**
   * Tokens issued at or before `at` become invalid: the user's (userId) for one
   * scope or for all (scopeId ''), or everybody's (userId '') for one scope.
   */
  async recordRevocation(userId: string, scopeId: string, at: string): Promise<void> {
    if (userId === '' && scopeId === '') throw new Error('a revocation event needs a user or a scope');
    await this.db
      .insertInto('identity_revocations')
      .values({ user_id: userId, scope_id: scopeId, revoked_at: at })
      .execute();
  }
  /** A domain disabled: every token of its users, of its projects and of the domain itself. */
  async recordDomainRevocation(domainId: string, at: string): Promise<void> {
    await this.db
      .insertInto('identity_revocations')
      .columns(['user_id', 'scope_id', 'revoked_at'])
      .expression((eb) =>
        eb
          .selectFrom('users')
          .select(['users.id', text('').as('scope_id'), text(at).as('revoked_at')])
          .where('users.domain_id', '=', domainId),
      )
      .execute();
    await this.db
      .insertInto('identity_revocations')
      .columns(['user_id', 'scope_id', 'revoked_at'])
      .expression((eb) =>
        eb
          .selectFrom('projects')
          .select([text('').as('user_id'), 'projects.id', text(at).as('revoked_at')])
          .where('projects.domain_id', '=', domainId),
      )
      .execute();
    await this.recordRevocation('', domainId, at);
  }
  /** Every assignment of a role, to revoke the tokens that carry it before the role goes. */
  async assignmentsOfRole(roleId: string): Promise<AssignmentRow[]> {
    return this.listAssignments({ roleId });
  }
  /** A domain and everything in it: its users and projects (their assignments and credentials follow). */
  async deleteDomainWithContents(id: string): Promise<boolean> {
    await this.db.deleteFrom('users').where('domain_id', '=', id).execute();
    await this.db.deleteFrom('projects').where('domain_id', '=', id).execute();
    return this.deleteDomain(id);
  }
  /** Events older than any token still alive are no longer needed. */
  async purgeRevocationEvents(before: string): Promise<void> {
    await this.db.deleteFrom('identity_revocations').where('revoked_at', '<', before).execute();
  }

  /**
   * Everything that can invalidate a well-signed, unexpired token, in one
   * indexed query: the user and its domain exist and are enabled, the scope
   * (project and its domain, or domain) too, the application credential still
   * exists and has not expired, and neither the token nor (by a revocation
   * event) the user's tokens of that scope issued until then are revoked.
   */
  async tokenStanding(q: StandingQuery): Promise<TokenStanding> {
    const [row] = await this.templates.rows('tokenStanding', q, (p) => this.standingQuery(p));
    if (!row) return 'user-gone';
    if (!truthy(row.userEnabled) || !truthy(row.domainEnabled)) return 'user-disabled';
    if (truthy(row.revoked) || truthy(row.revokedByEvent)) return 'revoked';
    if (!truthy(row.scopeOk)) return 'scope-gone';
    if (!truthy(row.appCredOk)) return 'credential-gone';
    return 'valid';
  }

  /** Everything that decides a token's standing, in one query. */
  private standingQuery(q: StandingQuery) {
    const scopeId = q.projectId ?? q.domainScopeId ?? '';
    return this.db
      .selectFrom('users as u')
      .innerJoin('domains as ud', 'ud.id', 'u.domain_id')
      .where('u.id', '=', q.userId)
      .select(({ exists, selectFrom, lit }) => [
        'u.enabled as userEnabled',
        'ud.enabled as domainEnabled',
        exists(selectFrom('revoked_tokens').select('token_id').where('token_id', '=', q.tokenId)).as(
          'revoked',
        ),
        exists(
          selectFrom('identity_revocations as r')
            .select('r.user_id')
            .where('r.user_id', 'in', [q.userId, ''])
            .where('r.scope_id', 'in', ['', scopeId])
            .where('r.revoked_at', '>=', q.issuedAt),
        ).as('revokedByEvent'),
        (q.projectId !== null
          ? exists(
              selectFrom('projects as p')
                .innerJoin('domains as pd', 'pd.id', 'p.domain_id')
                .select('p.id')
                .where('p.id', '=', q.projectId)
                .where('p.enabled', '=', 1)
                .where('pd.enabled', '=', 1),
            )
          : q.domainScopeId !== null
            ? exists(
                selectFrom('domains as sd')
                  .select('sd.id')
                  .where('sd.id', '=', q.domainScopeId)
                  .where('sd.enabled', '=', 1),
              )
            : lit(1)
        ).as('scopeOk'),
        (q.appCredId !== null
          ? exists(
              selectFrom('application_credentials as ac')
                .select('ac.id')
                .where('ac.id', '=', q.appCredId)
                .where('ac.user_id', '=', q.userId)
                .where((eb) => eb.or([eb('ac.expires_at', 'is', null), eb('ac.expires_at', '>', q.now)])),
            )
          : lit(1)
        ).as('appCredOk'),
      ]);
  }
}
