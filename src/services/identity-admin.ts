import { randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type {
  AssignmentRow,
  DomainRow,
  IdentityRepository,
  ProjectRow,
  RoleRow,
  UserRow,
} from '../adapters/db/identity-repository.ts';
import { hashPassword, verifyPassword } from '../adapters/identity/passwords.ts';
import { isRole } from '../domain/context.ts';
import { fail } from '../domain/errors.ts';
import {
  noHierarchy,
  parseDomain,
  parsePasswordChange,
  parseProject,
  parseRole,
  parseUser,
  queryFlag,
} from '../domain/identity-input.ts';
import type { ScopedClaims } from './identity.ts';
import type { Action } from '../domain/policy.ts';
import type { Policy } from './policy.ts';
import { currentAudit } from '../adapters/audit-scope.ts';

/** The bootstrap domain (identity.ts DEFAULT_DOMAIN_ID); never disabled, so never deleted. */
const DEFAULT_DOMAIN = 'default';

/** The caller of an admin call: the claims of a validated token. */
export type Caller = ScopedClaims;

/** Where a role is held. */
export type GrantTarget = { scope: 'project' | 'domain'; id: string };

/** A role assignment as `GET /v3/role_assignments` lists it, names filled in on request. */
export interface RoleAssignment {
  role: { id: string; name?: string };
  user: { id: string; name?: string; domain?: { id: string; name: string } };
  scope:
    | { project: { id: string; name?: string; domain?: { id: string; name: string } } }
    | { domain: { id: string; name?: string } };
}

/** List filters as they come from a query string. */
export type Query = Record<string, string | undefined>;

const newId = () => randomUUID().replace(/-/g, '');
const forbidden = (action: string): never =>
  fail('Forbidden', `You are not authorized to perform the requested action: identity:${action}.`);
const notFound = (kind: string, id: string): never => fail('NotFound', `Could not find ${kind}: ${id}.`);
const conflict = (kind: string, name: string, where: string): never =>
  fail(
    'Conflict',
    `Conflict occurred attempting to store ${kind} - Duplicate entry found with name ${name}${where}.`,
  );

const enabledFilter = (q: Query) => (q.enabled === undefined ? {} : { enabled: queryFlag(q.enabled) });
const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Extra attributes as stored (JSON text); a damaged value reads as none. */
export function extrasOf(row: { extra: string }): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(row.extra);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The Keystone v3 admin API over IMS's tenancy: domains (accounts), projects,
 * users, roles and role assignments. Administrators (a token carrying the
 * admin role, project- or domain-scoped: Keystone's default policy) may do
 * everything; other callers may read themselves, their projects and domains.
 * Changes that take rights away record a revocation event, so that tokens
 * issued before stop working at once, as Keystone's do.
 */
export class IdentityAdminService {
  constructor(
    private readonly repo: IdentityRepository,
    private readonly clock: Clock,
    private readonly settings: { region: string; tokenTtlSeconds: number },
    private readonly policy: Policy,
  ) {}

  /** Whether the policy lets the caller do a Keystone action (identity:<action>) to anything. */
  private may(caller: Caller, action: string): boolean {
    return this.policy.allows(caller, `identity:${action}` as Action);
  }

  /** Refuses in Keystone's words what the policy does not allow. */
  private requireAdmin(caller: Caller, action: string): void {
    if (!this.may(caller, action)) forbidden(action);
  }

  // ---- domains

  async listDomains(caller: Caller, q: Query): Promise<DomainRow[]> {
    this.requireAdmin(caller, 'list_domains');
    return this.repo.listDomains(defined({ name: q.name, ...enabledFilter(q) }));
  }

  async getDomain(caller: Caller, id: string): Promise<DomainRow> {
    if (!this.may(caller, 'get_domain') && !(await this.inCallersDomain(caller, id))) forbidden('get_domain');
    return (await this.repo.domainById(id)) ?? notFound('domain', id);
  }

  async createDomain(caller: Caller, body: unknown): Promise<DomainRow> {
    this.requireAdmin(caller, 'create_domain');
    const input = parseDomain(body, 'create');
    const row: DomainRow = {
      id: newId(),
      name: input.name!,
      description: input.description ?? '',
      enabled: input.enabled === false ? 0 : 1,
      created_at: this.now(),
    };
    currentAudit()?.resource(row.id, row.name);
    if (!(await this.repo.createDomain(row))) conflict('domain', row.name, '');
    return row;
  }

  async updateDomain(caller: Caller, id: string, body: unknown): Promise<DomainRow> {
    this.requireAdmin(caller, 'update_domain');
    const input = parseDomain(body, 'update', id);
    return this.repo.transaction(async (repo) => {
      const current = (await repo.domainById(id)) ?? notFound('domain', id);
      if (id === DEFAULT_DOMAIN && input.enabled === false)
        fail('Forbidden', 'The default domain holds the bootstrap administrator and cannot be disabled.');
      const patch = defined({
        name: input.name,
        description: input.description,
        enabled: input.enabled === undefined ? undefined : input.enabled ? 1 : 0,
      });
      if (Object.keys(patch).length && (await repo.updateDomain(id, patch)) === 'conflict')
        conflict('domain', input.name ?? current.name, '');
      if (current.enabled && input.enabled === false) await repo.recordDomainRevocation(id, this.now());
      return (await repo.domainById(id))!;
    });
  }

  async deleteDomain(caller: Caller, id: string): Promise<void> {
    this.requireAdmin(caller, 'delete_domain');
    await this.repo.transaction(async (repo) => {
      const domain = (await repo.domainById(id)) ?? notFound('domain', id);
      if (domain.enabled)
        fail('Forbidden', 'Cannot delete a domain that is enabled, please disable it first.');
      await repo.deleteDomainWithContents(id);
    });
  }

  // ---- projects

  /**
   * `GET /v3/projects`: as Keystone, for administrators only (the OpenStack
   * CLI's lookups by name then fall back to `/v3/users/{id}/projects` or to
   * the id it was given).
   */
  async listProjects(caller: Caller, q: Query): Promise<ProjectRow[]> {
    this.requireAdmin(caller, 'list_projects');
    return this.repo.listProjects(defined({ domainId: q.domain_id, name: q.name, ...enabledFilter(q) }));
  }

  /**
   * `GET /v3/projects` signed with an access key: the Huawei SDK, given no
   * project id, looks its project up by name (IAM answers with the caller's
   * own projects), so a signed caller sees the projects it holds a role on.
   */
  async listProjectsOfKeyOwner(userId: string, q: Query): Promise<ProjectRow[]> {
    return this.repo.listProjects({
      ...defined({ domainId: q.domain_id, name: q.name, ...enabledFilter(q) }),
      memberUserId: userId,
    });
  }

  async getProject(caller: Caller, id: string): Promise<ProjectRow> {
    if (
      !this.may(caller, 'get_project') &&
      caller.projectId !== id &&
      !(await this.holdsRoleOn(caller.userId, id))
    )
      forbidden('get_project');
    return (await this.repo.projectById(id)) ?? notFound('project', id);
  }

  async createProject(caller: Caller, body: unknown): Promise<ProjectRow> {
    this.requireAdmin(caller, 'create_project');
    const input = parseProject(body, 'create');
    if (input.parentId !== undefined && !(await this.repo.domainById(input.parentId))) noHierarchy();
    const domainId = input.domainId ?? input.parentId ?? (await this.callersDomain(caller));
    if (!(await this.repo.domainById(domainId))) notFound('domain', domainId);
    const row: ProjectRow = {
      id: newId(),
      name: input.name!,
      domain_id: domainId,
      region: this.settings.region,
      description: input.description ?? '',
      enabled: input.enabled === false ? 0 : 1,
      created_at: this.now(),
      extra: JSON.stringify(input.extra),
    };
    currentAudit()?.resource(row.id, row.name);
    if (!(await this.repo.createProject(row))) conflict('project', row.name, ` at domain ID ${domainId}`);
    return row;
  }

  async updateProject(caller: Caller, id: string, body: unknown): Promise<ProjectRow> {
    this.requireAdmin(caller, 'update_project');
    return this.repo.transaction(async (repo) => {
      const current = (await repo.projectById(id)) ?? notFound('project', id);
      const input = parseProject(body, 'update', { id, domainId: current.domain_id });
      const patch = defined({
        name: input.name,
        description: input.description,
        enabled: input.enabled === undefined ? undefined : input.enabled ? 1 : 0,
        extra: Object.keys(input.extra).length
          ? JSON.stringify({ ...extrasOf(current), ...input.extra })
          : undefined,
      });
      if (Object.keys(patch).length && (await repo.updateProject(id, patch)) === 'conflict')
        conflict('project', input.name ?? current.name, ` at domain ID ${current.domain_id}`);
      // Disabled, its tokens end for good (re-enabling does not bring them back).
      if (current.enabled && input.enabled === false) await repo.recordRevocation('', id, this.now());
      return (await repo.projectById(id))!;
    });
  }

  /** The project's role assignments and application credentials go with it; its images stay, as Glance's do. */
  async deleteProject(caller: Caller, id: string): Promise<void> {
    this.requireAdmin(caller, 'delete_project');
    if (!(await this.repo.deleteProject(id))) notFound('project', id);
  }

  /** `GET /v3/users/{id}/projects`: the projects the user holds a role on; for the user or an admin. */
  async projectsOfUser(caller: Caller, userId: string): Promise<ProjectRow[]> {
    if (caller.userId !== userId) this.requireAdmin(caller, 'list_user_projects');
    if (!(await this.repo.userById(userId))) notFound('user', userId);
    return this.repo.listProjects({ memberUserId: userId });
  }

  /** `GET /v3/auth/projects`: the enabled projects the token's user may scope to. */
  async projectsForToken(caller: Caller): Promise<ProjectRow[]> {
    const projects = await this.repo.listProjects({ memberUserId: caller.userId, enabled: true });
    const domains = new Set((await this.repo.listDomains({ enabled: true })).map((d) => d.id));
    return projects.filter((p) => domains.has(p.domain_id));
  }

  /** `GET /v3/auth/domains`: the enabled domains the token's user may scope to. */
  async domainsForToken(caller: Caller): Promise<DomainRow[]> {
    return this.repo.domainsOfUser(caller.userId, { enabled: true });
  }

  // ---- users

  async listUsers(caller: Caller, q: Query): Promise<UserRow[]> {
    this.requireAdmin(caller, 'list_users');
    return this.repo.listUsers(defined({ domainId: q.domain_id, name: q.name, ...enabledFilter(q) }));
  }

  async getUser(caller: Caller, id: string): Promise<UserRow> {
    if (caller.userId !== id) this.requireAdmin(caller, 'get_user');
    return (await this.repo.userById(id)) ?? notFound('user', id);
  }

  async createUser(caller: Caller, body: unknown): Promise<UserRow> {
    this.requireAdmin(caller, 'create_user');
    const input = parseUser(body, 'create');
    const domainId = input.domainId ?? (await this.callersDomain(caller));
    if (!(await this.repo.domainById(domainId))) notFound('domain', domainId);
    if (input.defaultProjectId) await this.requireProject(input.defaultProjectId);
    const row: UserRow = {
      id: newId(),
      name: input.name!,
      domain_id: domainId,
      password_hash: typeof input.password === 'string' ? await hashPassword(input.password) : null,
      default_project_id: input.defaultProjectId ?? null,
      enabled: input.enabled === false ? 0 : 1,
      created_at: this.now(),
      extra: JSON.stringify(input.extra),
    };
    currentAudit()?.resource(row.id, row.name);
    if (!(await this.repo.createUser(row))) conflict('user', row.name, ` at domain ID ${domainId}`);
    return row;
  }

  async updateUser(caller: Caller, id: string, body: unknown): Promise<UserRow> {
    this.requireAdmin(caller, 'update_user');
    const current = (await this.repo.userById(id)) ?? notFound('user', id);
    const input = parseUser(body, 'update', { id, domainId: current.domain_id });
    if (input.defaultProjectId) await this.requireProject(input.defaultProjectId);
    // Hash before the transaction: scrypt takes tens of milliseconds.
    const passwordHash =
      input.password === undefined
        ? undefined
        : input.password === null
          ? null
          : await hashPassword(input.password);
    return this.repo.transaction(async (repo) => {
      const user = (await repo.userById(id)) ?? notFound('user', id);
      const patch = defined({
        name: input.name,
        enabled: input.enabled === undefined ? undefined : input.enabled ? 1 : 0,
        password_hash: passwordHash,
        default_project_id: input.defaultProjectId,
        extra: Object.keys(input.extra).length
          ? JSON.stringify({ ...extrasOf(user), ...input.extra })
          : undefined,
      });
      if (Object.keys(patch).length && (await repo.updateUser(id, patch)) === 'conflict')
        conflict('user', input.name ?? user.name, ` at domain ID ${user.domain_id}`);
      const disabled = user.enabled === 1 && input.enabled === false;
      // As Keystone: a new password or a disabled account ends every token; disabling drops the credentials.
      if (disabled || input.password !== undefined) await this.revoke(repo, id, '');
      if (disabled) await repo.deleteApplicationCredentialsOf(id);
      return (await repo.userById(id))!;
    });
  }

  /** Its role assignments, application credentials and access keys go with it; its tokens end. */
  async deleteUser(caller: Caller, id: string): Promise<void> {
    this.requireAdmin(caller, 'delete_user');
    if (!(await this.repo.deleteUser(id))) notFound('user', id);
  }

  /**
   * Self-service password change. As Keystone, it takes no token (a user whose
   * password expired must still be able to change it): the original password
   * is the proof, and a wrong one, an unknown or a disabled user are one 401.
   */
  async changePassword(userId: string, body: unknown): Promise<void> {
    const input = parsePasswordChange(body);
    const user = await this.repo.userById(userId);
    const ok =
      user?.enabled === 1 &&
      user.password_hash !== null &&
      (await verifyPassword(input.original, user.password_hash));
    if (!ok) fail('Unauthorized', 'Error when changing user password: Invalid user / password');
    const hash = await hashPassword(input.password);
    await this.repo.transaction(async (repo) => {
      await repo.updateUser(userId, { password_hash: hash });
      await this.revoke(repo, userId, '');
    });
  }

  // ---- roles

  async listRoles(caller: Caller, q: Query): Promise<RoleRow[]> {
    this.requireAdmin(caller, 'list_roles');
    return this.repo.listRoles(defined({ name: q.name }));
  }

  async getRole(caller: Caller, id: string): Promise<RoleRow> {
    this.requireAdmin(caller, 'get_role');
    return (await this.repo.roleById(id)) ?? notFound('role', id);
  }

  async createRole(caller: Caller, body: unknown): Promise<RoleRow> {
    this.requireAdmin(caller, 'create_role');
    const row: RoleRow = { id: newId(), name: parseRole(body).name };
    currentAudit()?.resource(row.id, row.name);
    if (!(await this.repo.createRole(row))) conflict('role', row.name, '');
    return row;
  }

  /** Built-in roles are what the policy is written in: they stay. Tokens carrying the role end. */
  async deleteRole(caller: Caller, id: string): Promise<void> {
    this.requireAdmin(caller, 'delete_role');
    await this.repo.transaction(async (repo) => {
      const role = (await repo.roleById(id)) ?? notFound('role', id);
      if (isRole(role.name)) fail('Forbidden', `The built-in role ${role.name} cannot be deleted.`);
      for (const a of await repo.assignmentsOfRole(id)) await this.revoke(repo, a.userId, a.scopeId);
      await repo.deleteRole(id);
    });
  }

  // ---- role assignments

  async grant(caller: Caller, target: GrantTarget, userId: string, roleId: string): Promise<void> {
    this.requireAdmin(caller, 'create_grant');
    await this.requireGrantParts(target, userId, roleId);
    if (target.scope === 'project') await this.repo.assignRole(userId, target.id, roleId);
    else await this.repo.assignDomainRole(userId, target.id, roleId);
  }

  async checkGrant(caller: Caller, target: GrantTarget, userId: string, roleId: string): Promise<void> {
    this.requireAdmin(caller, 'check_grant');
    await this.requireGrantParts(target, userId, roleId);
    const held =
      target.scope === 'project'
        ? await this.repo.hasRole(userId, target.id, roleId)
        : await this.repo.hasDomainRole(userId, target.id, roleId);
    if (!held) this.noAssignment(target, userId, roleId);
  }

  /** Tokens of the user on that scope end; on a project, the user's credentials there too (Keystone). */
  async revokeGrant(caller: Caller, target: GrantTarget, userId: string, roleId: string): Promise<void> {
    this.requireAdmin(caller, 'revoke_grant');
    await this.requireGrantParts(target, userId, roleId);
    await this.repo.transaction(async (repo) => {
      const removed =
        target.scope === 'project'
          ? await repo.unassignRole(userId, target.id, roleId)
          : await repo.unassignDomainRole(userId, target.id, roleId);
      if (!removed) this.noAssignment(target, userId, roleId);
      await this.revoke(repo, userId, target.id);
      if (target.scope === 'project') await repo.deleteApplicationCredentialsOf(userId, target.id);
    });
  }

  async listGrants(caller: Caller, target: GrantTarget, userId: string): Promise<RoleRow[]> {
    this.requireAdmin(caller, 'list_grants');
    await this.requireTarget(target);
    if (!(await this.repo.userById(userId))) notFound('user', userId);
    return target.scope === 'project'
      ? this.repo.rolesOn(userId, target.id)
      : this.repo.rolesOnDomain(userId, target.id);
  }

  /** `GET /v3/role_assignments` with Keystone's common filters; groups, system scope and inheritance do not exist here. */
  async listRoleAssignments(caller: Caller, q: Query): Promise<RoleAssignment[]> {
    this.requireAdmin(caller, 'list_role_assignments');
    const projectId = q['scope.project.id'];
    const domainId = q['scope.domain.id'];
    if (projectId !== undefined && domainId !== undefined)
      fail('ValidationFailed', 'Specify a domain or project, not both');
    if (q['group.id'] !== undefined || q['scope.system'] !== undefined || q['scope.OS-INHERIT:inherited_to'])
      return [];
    const rows = await this.repo.listAssignments(
      defined({ userId: q['user.id'], projectId, domainId, roleId: q['role.id'] }),
    );
    return queryFlag(q.include_names) ? this.withNames(rows) : rows.map(bareAssignment);
  }

  // ---- helpers

  private async withNames(rows: AssignmentRow[]): Promise<RoleAssignment[]> {
    const unique = (xs: string[]) => [...new Set(xs)];
    const users = new Map(
      (await this.repo.usersByIds(unique(rows.map((r) => r.userId)))).map((u) => [u.id, u]),
    );
    const projects = new Map(
      (
        await this.repo.projectsByIds(unique(rows.filter((r) => r.scope === 'project').map((r) => r.scopeId)))
      ).map((p) => [p.id, p]),
    );
    const roles = new Map(
      (await this.repo.rolesByIds(unique(rows.map((r) => r.roleId)))).map((r) => [r.id, r]),
    );
    const domainIds = unique([
      ...[...users.values()].map((u) => u.domain_id),
      ...[...projects.values()].map((p) => p.domain_id),
      ...rows.filter((r) => r.scope === 'domain').map((r) => r.scopeId),
    ]);
    const domains = new Map((await this.repo.listDomains({ ids: domainIds })).map((d) => [d.id, d]));
    const domainRef = (id: string) => ({ id, name: domains.get(id)?.name ?? '' });
    return rows.map((r) => {
      const user = users.get(r.userId);
      const project = r.scope === 'project' ? projects.get(r.scopeId) : undefined;
      return {
        role: { id: r.roleId, name: roles.get(r.roleId)?.name ?? '' },
        user: { id: r.userId, name: user?.name ?? '', domain: domainRef(user?.domain_id ?? '') },
        scope:
          r.scope === 'project'
            ? {
                project: {
                  id: r.scopeId,
                  name: project?.name ?? '',
                  domain: domainRef(project?.domain_id ?? ''),
                },
              }
            : { domain: domainRef(r.scopeId) },
      };
    });
  }

  private noAssignment(target: GrantTarget, userId: string, roleId: string): never {
    return fail(
      'NotFound',
      `Could not find role assignment with role: ${roleId}, user or group: ${userId}, project, domain, or system: ${target.id}.`,
    );
  }

  private async requireGrantParts(target: GrantTarget, userId: string, roleId: string): Promise<void> {
    if (!(await this.repo.roleById(roleId))) notFound('role', roleId);
    if (!(await this.repo.userById(userId))) notFound('user', userId);
    await this.requireTarget(target);
  }

  private async requireTarget(target: GrantTarget): Promise<void> {
    if (target.scope === 'project') await this.requireProject(target.id, 'not-found');
    else if (!(await this.repo.domainById(target.id))) notFound('domain', target.id);
  }

  private async requireProject(id: string, as: 'invalid' | 'not-found' = 'invalid'): Promise<void> {
    if (await this.repo.projectById(id)) return;
    if (as === 'not-found') notFound('project', id);
    fail('ValidationFailed', `Invalid input for field 'default_project_id': project ${id} does not exist.`);
  }

  private async holdsRoleOn(userId: string, projectId: string): Promise<boolean> {
    return (await this.repo.rolesOn(userId, projectId)).length > 0;
  }

  /** Keystone's default for an entity created without domain_id: the token's domain. */
  private async callersDomain(caller: Caller): Promise<string> {
    if (caller.scopeDomainId) return caller.scopeDomainId;
    if (caller.projectId) {
      const project = await this.repo.projectById(caller.projectId);
      if (project) return project.domain_id;
    }
    return DEFAULT_DOMAIN;
  }

  private async inCallersDomain(caller: Caller, domainId: string): Promise<boolean> {
    if (caller.scopeDomainId === domainId) return true;
    if (!caller.projectId) return false;
    return (await this.repo.projectById(caller.projectId))?.domain_id === domainId;
  }

  /** Records a revocation event and forgets those no token can be older than. */
  private async revoke(repo: IdentityRepository, userId: string, scopeId: string): Promise<void> {
    const now = this.clock.now();
    await repo.recordRevocation(userId, scopeId, now.toISOString());
    await repo.purgeRevocationEvents(
      new Date(now.getTime() - this.settings.tokenTtlSeconds * 1000).toISOString(),
    );
  }

  private now(): string {
    return this.clock.now().toISOString();
  }
}

function bareAssignment(r: AssignmentRow): RoleAssignment {
  return {
    role: { id: r.roleId },
    user: { id: r.userId },
    scope: r.scope === 'project' ? { project: { id: r.scopeId } } : { domain: { id: r.scopeId } },
  };
}
