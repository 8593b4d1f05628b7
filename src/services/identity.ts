import { randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type {
  IdentityRepository,
  ProjectRow,
  RoleRow,
  UserRow,
  DomainRow,
} from '../adapters/db/identity-repository.ts';
import { generatePassword, hashPassword, verifyPassword } from '../adapters/identity/passwords.ts';
import { TokenSigner, type TokenClaims } from '../adapters/identity/tokens.ts';
import { isRole, ROLES, type RequestContext, type Role } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import { Policy } from './policy.ts';
import { ApplicationCredentialService, type AppCredAuth } from './application-credentials.ts';
import { IdentityAdminService } from './identity-admin.ts';

export const DEFAULT_DOMAIN_ID = 'default';

/** Password credentials and scope as Keystone's `POST /v3/auth/tokens` carries them. */
export interface PasswordAuth {
  user: { id?: string; name?: string; domain?: { id?: string; name?: string }; password: string };
  scope?:
    | {
        project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
        domain?: { id?: string; name?: string };
      }
    | 'unscoped';
}

/** The claims IMS signs: the base ones plus, on newer tokens, these (absent on older tokens). */
export interface ScopedClaims extends TokenClaims {
  /** The domain of a domain-scoped token. */
  scopeDomainId?: string;
  /** The application credential a token was issued for. */
  appCredId?: string;
  /** Issue time in milliseconds, compared with revocation events. */
  issuedAtMs?: number;
}

/** What an application credential lets its token do (resolved by ApplicationCredentialService). */
export interface AppCredGrant {
  id: string;
  name: string;
  unrestricted: boolean;
  projectId: string;
  /** The credential's roles that the user still holds on the project. */
  roles: RoleRow[];
  expiresAt: string | null;
}

export interface IssuedToken {
  token: string;
  claims: ScopedClaims;
  user: UserRow;
  domain: DomainRow;
  project: ProjectRow | null;
  projectDomain: DomainRow | null;
  /** The domain of a domain-scoped token. */
  scopeDomain: DomainRow | null;
  roles: RoleRow[];
  applicationCredential: { id: string; name: string; restricted: boolean } | null;
}

const unauthorized = (why = 'The request you have made requires authentication.'): never =>
  fail('Unauthorized', why);

/** Users, projects and tokens: who the caller is and what roles they hold. */
export class IdentityService {
  private signer: TokenSigner | null = null;
  /** The Keystone admin API: domains, projects, users, roles, role assignments. */
  readonly admin: IdentityAdminService;
  readonly applicationCredentials: ApplicationCredentialService;

  constructor(
    private readonly repo: IdentityRepository,
    private readonly clock: Clock,
    private readonly settings: { region: string; tokenTtlSeconds: number },
    policy: Policy = new Policy(),
  ) {
    this.admin = new IdentityAdminService(repo, clock, settings, policy);
    this.applicationCredentials = new ApplicationCredentialService(repo, clock, policy);
  }

  /**
   * First start, as Keystone's bootstrap: domain `Default` (id `default`),
   * roles admin/member/reader, project `admin` and user `admin` with role admin.
   * Returns the admin password when it was generated, so it can be shown once.
   */
  async bootstrap(adminPassword: string | undefined): Promise<{ generatedPassword: string | null }> {
    this.signer = new TokenSigner(
      Buffer.from(await this.repo.settingOnce('token_signing_key', TokenSigner.newKey()), 'base64'),
    );
    const now = this.clock.now().toISOString();
    await this.repo.insertDomain({
      id: DEFAULT_DOMAIN_ID,
      name: 'Default',
      description: 'The default domain',
      enabled: 1,
      created_at: now,
    });
    for (const name of ROLES) await this.repo.insertRole({ id: randomUUID().replace(/-/g, ''), name });
    let project = await this.repo.projectByName(DEFAULT_DOMAIN_ID, 'admin');
    if (!project) {
      await this.repo.insertProject({
        id: randomUUID().replace(/-/g, ''),
        name: 'admin',
        domain_id: DEFAULT_DOMAIN_ID,
        region: this.settings.region,
        description: 'Bootstrap project for initializing the cloud.',
        enabled: 1,
        created_at: now,
      });
      project = (await this.repo.projectByName(DEFAULT_DOMAIN_ID, 'admin'))!;
    }
    let generatedPassword: string | null = null;
    if (!(await this.repo.userByName(DEFAULT_DOMAIN_ID, 'admin'))) {
      const password = adminPassword ?? (generatedPassword = generatePassword());
      await this.repo.insertUser({
        id: randomUUID().replace(/-/g, ''),
        name: 'admin',
        domain_id: DEFAULT_DOMAIN_ID,
        password_hash: await hashPassword(password),
        default_project_id: project.id,
        enabled: 1,
        created_at: now,
      });
      // Two nodes starting at once: the one whose insert lost must not announce its password.
      const winner = (await this.repo.userByName(DEFAULT_DOMAIN_ID, 'admin'))!;
      if (!(await verifyPassword(password, winner.password_hash ?? ''))) generatedPassword = null;
    }
    const admin = (await this.repo.userByName(DEFAULT_DOMAIN_ID, 'admin'))!;
    const adminRole = (await this.repo.roleByName('admin'))!;
    await this.repo.assignRole(admin.id, project.id, adminRole.id);
    return { generatedPassword };
  }

  /** Creates a user with a role on a project, creating the project when needed (tests and admin CLI). */
  async ensureUser(input: {
    domainId?: string;
    projectName: string;
    userName: string;
    password: string;
    role: Role;
  }): Promise<{ user: UserRow; project: ProjectRow }> {
    const domainId = input.domainId ?? DEFAULT_DOMAIN_ID;
    const now = this.clock.now().toISOString();
    if (!(await this.repo.projectByName(domainId, input.projectName))) {
      await this.repo.insertProject({
        id: randomUUID().replace(/-/g, ''),
        name: input.projectName,
        domain_id: domainId,
        region: this.settings.region,
        description: '',
        enabled: 1,
        created_at: now,
      });
    }
    const project = (await this.repo.projectByName(domainId, input.projectName))!;
    if (!(await this.repo.userByName(domainId, input.userName))) {
      await this.repo.insertUser({
        id: randomUUID().replace(/-/g, ''),
        name: input.userName,
        domain_id: domainId,
        password_hash: await hashPassword(input.password),
        default_project_id: project.id,
        enabled: 1,
        created_at: now,
      });
    }
    const user = (await this.repo.userByName(domainId, input.userName))!;
    const role = (await this.repo.roleByName(input.role))!;
    await this.repo.assignRole(user.id, project.id, role.id);
    return { user, project };
  }

  async authenticatePassword(auth: PasswordAuth): Promise<IssuedToken> {
    const user = await this.findUser(auth.user);
    const valid =
      user &&
      user.enabled &&
      user.password_hash &&
      (await verifyPassword(auth.user.password, user.password_hash));
    if (!user || !valid) return unauthorized('The request you have made requires authentication.');
    return this.issue(user, auth.scope, ['password']);
  }

  /** Keystone's application_credential method: a token for the credential's project and roles. */
  async authenticateApplicationCredential(auth: AppCredAuth): Promise<IssuedToken> {
    const { user, grant } = await this.applicationCredentials.resolveForAuth(auth);
    return this.issue(user, undefined, ['application_credential'], grant);
  }

  /** Keystone's token method: a new token for the same user, possibly with another scope. */
  async rescope(claims: ScopedClaims, scope: PasswordAuth['scope']): Promise<IssuedToken> {
    if (claims.appCredId)
      fail('Forbidden', 'A token issued for an application credential cannot be used to get another token.');
    const user = await this.repo.userById(claims.userId);
    if (!user || !user.enabled) return unauthorized();
    const issued = await this.issue(user, scope ?? 'unscoped', [
      'token',
      ...claims.methods.filter((m) => m !== 'token'),
    ]);
    // A token obtained from another never outlives it.
    issued.claims.expiresAt = Math.min(issued.claims.expiresAt, claims.expiresAt);
    issued.token = this.signerOrThrow().sign(issued.claims);
    return issued;
  }

  private async issue(
    user: UserRow,
    scope: PasswordAuth['scope'],
    methods: string[],
    grant?: AppCredGrant,
  ): Promise<IssuedToken> {
    const domain = (await this.repo.domainById(user.domain_id))!;
    if (!domain.enabled) return unauthorized();
    const auth = { scope };
    let project: ProjectRow | null = null;
    let scopeDomain: DomainRow | null = null;
    if (grant) {
      project = (await this.repo.projectById(grant.projectId)) ?? unauthorized();
    } else if (auth.scope && auth.scope !== 'unscoped' && auth.scope.project) {
      project = await this.findProject(auth.scope.project);
    } else if (auth.scope && auth.scope !== 'unscoped' && auth.scope.domain) {
      scopeDomain = (await this.findDomain(auth.scope.domain)) ?? null;
      if (!scopeDomain) return unauthorized('The domain in the scope was not found or is not accessible.');
    } else if (auth.scope === undefined && user.default_project_id) {
      // Keystone scopes a token without explicit scope to the user's default project.
      project = (await this.repo.projectById(user.default_project_id)) ?? null;
      if (project && (await this.repo.rolesOn(user.id, project.id)).length === 0) project = null;
    }
    let roles: RoleRow[] = [];
    let projectDomain: DomainRow | null = null;
    if (project) {
      if (!project.enabled) return unauthorized(`Project ${project.id} is disabled.`);
      projectDomain = (await this.repo.domainById(project.domain_id)) ?? null;
      if (!projectDomain?.enabled) return unauthorized(`The domain of project ${project.id} is disabled.`);
      roles = grant ? grant.roles : await this.repo.rolesOn(user.id, project.id);
      if (roles.length === 0) return unauthorized(`User ${user.id} has no access to project ${project.id}.`);
    } else if (scopeDomain) {
      if (!scopeDomain.enabled) return unauthorized(`Domain ${scopeDomain.id} is disabled.`);
      roles = await this.repo.rolesOnDomain(user.id, scopeDomain.id);
      if (roles.length === 0)
        return unauthorized(`User ${user.id} has no access to domain ${scopeDomain.id}.`);
    }
    const nowMs = this.clock.now().getTime();
    const issuedAt = Math.floor(nowMs / 1000);
    let expiresAt = issuedAt + this.settings.tokenTtlSeconds;
    // A credential's token never outlives the credential.
    if (grant?.expiresAt) expiresAt = Math.min(expiresAt, Math.floor(Date.parse(grant.expiresAt) / 1000));
    const claims: ScopedClaims = {
      jti: randomUUID().replace(/-/g, ''),
      userId: user.id,
      domainId: user.domain_id,
      projectId: project?.id ?? null,
      roles: impliedRoles(roles.map((r) => r.name)),
      methods,
      issuedAt,
      expiresAt,
      issuedAtMs: nowMs,
      ...(scopeDomain ? { scopeDomainId: scopeDomain.id } : {}),
      ...(grant ? { appCredId: grant.id } : {}),
    };
    const applicationCredential = grant
      ? { id: grant.id, name: grant.name, restricted: !grant.unrestricted }
      : null;
    return {
      token: this.signerOrThrow().sign(claims),
      claims,
      user,
      domain,
      project,
      projectDomain,
      scopeDomain,
      roles,
      applicationCredential,
    };
  }

  /**
   * Verifies signature, expiry and revocation, and (in the same single query)
   * that the user, the scope and the application credential are still there
   * and enabled: deleting or disabling any of them ends its tokens.
   */
  async validate(token: string | undefined): Promise<ScopedClaims> {
    if (!token) return unauthorized();
    const claims = this.signerOrThrow().verify(token) as ScopedClaims | null;
    if (!claims) return unauthorized('The token is not valid.');
    const now = this.clock.now();
    if (claims.expiresAt * 1000 <= now.getTime()) return unauthorized('The token has expired.');
    const standing = await this.repo.tokenStanding({
      tokenId: claims.jti,
      userId: claims.userId,
      projectId: claims.projectId,
      domainScopeId: claims.scopeDomainId ?? null,
      appCredId: claims.appCredId ?? null,
      // Older tokens carry seconds only: count them as issued at the start of their second.
      issuedAt: new Date(claims.issuedAtMs ?? claims.issuedAt * 1000).toISOString(),
      now: now.toISOString(),
    });
    switch (standing) {
      case 'valid':
        return claims;
      case 'revoked':
        return unauthorized('The token has been revoked.');
      case 'user-gone':
      case 'user-disabled':
        return unauthorized('The user of the token does not exist or is disabled.');
      case 'scope-gone':
        return unauthorized('The project or domain of the token does not exist or is disabled.');
      case 'credential-gone':
        return unauthorized('The application credential of the token was deleted or has expired.');
    }
  }

  /** Turns a validated project-scoped token into the caller of one request. */
  contextFor(claims: TokenClaims, requestId: string): RequestContext {
    if (!claims.projectId) return unauthorized('A project-scoped token is required.');
    return {
      requestId,
      region: this.settings.region,
      accountId: claims.domainId,
      projectId: claims.projectId,
      userId: claims.userId,
      roles: claims.roles.filter(isRole),
      via: 'token',
      tokenId: claims.jti,
    };
  }

  async describe(claims: ScopedClaims): Promise<Omit<IssuedToken, 'token'>> {
    const user = await this.repo.userById(claims.userId);
    const domain = user ? await this.repo.domainById(user.domain_id) : undefined;
    if (!user || !domain) return fail('NotFound', 'Could not find token.');
    const project = claims.projectId ? ((await this.repo.projectById(claims.projectId)) ?? null) : null;
    const projectDomain = project ? ((await this.repo.domainById(project.domain_id)) ?? null) : null;
    const scopeDomain = claims.scopeDomainId
      ? ((await this.repo.domainById(claims.scopeDomainId)) ?? null)
      : null;
    let roles = project
      ? await this.repo.rolesOn(user.id, project.id)
      : scopeDomain
        ? await this.repo.rolesOnDomain(user.id, scopeDomain.id)
        : [];
    let applicationCredential: IssuedToken['applicationCredential'] = null;
    if (claims.appCredId) {
      const grant = await this.applicationCredentials.grantOf(claims.appCredId);
      if (!grant) return fail('NotFound', 'Could not find token.');
      roles = grant.roles;
      applicationCredential = { id: grant.id, name: grant.name, restricted: !grant.unrestricted };
    }
    return { claims, user, domain, project, projectDomain, scopeDomain, roles, applicationCredential };
  }

  async revoke(claims: TokenClaims): Promise<void> {
    await this.repo.revoke(claims.jti, new Date(claims.expiresAt * 1000).toISOString());
  }

  private signerOrThrow(): TokenSigner {
    if (!this.signer) throw new DomainError('ServiceUnavailable', 'Identity is not initialised yet');
    return this.signer;
  }

  private async findDomain(ref: { id?: string; name?: string } | undefined): Promise<DomainRow | undefined> {
    if (!ref) return undefined;
    if (ref.id) return this.repo.domainById(ref.id);
    if (ref.name) return this.repo.domainByName(ref.name);
    return undefined;
  }

  private async findUser(ref: PasswordAuth['user']): Promise<UserRow | undefined> {
    if (ref.id) return this.repo.userById(ref.id);
    if (!ref.name)
      return fail(
        'ValidationFailed',
        'Invalid input for field identity/password/user: id or name is required',
      );
    const domain = await this.findDomain(ref.domain);
    if (!domain) return undefined;
    return this.repo.userByName(domain.id, ref.name);
  }

  private async findProject(ref: {
    id?: string;
    name?: string;
    domain?: { id?: string; name?: string };
  }): Promise<ProjectRow> {
    let project: ProjectRow | undefined;
    if (ref.id) project = await this.repo.projectById(ref.id);
    else if (ref.name) {
      const domain = await this.findDomain(ref.domain);
      if (!ref.domain)
        fail('ValidationFailed', 'Invalid input for field scope/project: a project name needs a domain');
      project = domain ? await this.repo.projectByName(domain.id, ref.name) : undefined;
    } else fail('ValidationFailed', 'Invalid input for field scope/project: id or name is required');
    if (!project) return unauthorized('The project in the scope was not found or is not accessible.');
    return project;
  }
}

/** Keystone's default role inference: admin implies member, member implies reader. */
export function impliedRoles(names: string[]): string[] {
  const out = new Set(names);
  if (out.has('admin')) out.add('member');
  if (out.has('member')) out.add('reader');
  return [...out].sort();
}
