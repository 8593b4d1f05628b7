import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type { AppCredRow, IdentityRepository, RoleRow, UserRow } from '../adapters/db/identity-repository.ts';
import { hashPassword, verifyPassword } from '../adapters/identity/passwords.ts';
import { fail } from '../domain/errors.ts';
import { parseApplicationCredential } from '../domain/identity-input.ts';
import type { AppCredGrant, ScopedClaims } from './identity.ts';
import type { Policy } from './policy.ts';
import { currentAudit } from '../adapters/audit-scope.ts';

/** `auth.identity.application_credential` of `POST /v3/auth/tokens`. */
export interface AppCredAuth {
  id?: string;
  name?: string;
  user?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
  secret?: string;
  /** The request also named a scope, which Keystone refuses for this method. */
  scopeRequested: boolean;
}

/** An application credential with its roles, as the API shows it. */
export interface ApplicationCredential {
  row: AppCredRow;
  roles: RoleRow[];
  /** Only in the answer to its creation: the secret is never stored. */
  secret?: string;
}

const unauthorized = (why = 'The request you have made requires authentication.'): never =>
  fail('Unauthorized', why);

/** Keystone's default implied roles: admin implies member, member implies reader. */
function effectiveRoleNames(direct: RoleRow[]): Set<string> {
  const names = new Set(direct.map((r) => r.name));
  if (names.has('admin')) names.add('member');
  if (names.has('member')) names.add('reader');
  return names;
}

/**
 * Application credentials (Keystone v3): a user delegates some of their roles
 * on one project to a program, which authenticates with the credential's id
 * (or name and user) and a secret shown once and stored as a scrypt hash.
 */
export class ApplicationCredentialService {
  constructor(
    private readonly repo: IdentityRepository,
    private readonly clock: Clock,
    private readonly policy: Policy,
  ) {}

  async create(caller: ScopedClaims, userId: string, body: unknown): Promise<ApplicationCredential> {
    await this.requireUnrestricted(caller);
    if (caller.userId !== userId)
      fail(
        'Forbidden',
        'You are not authorized to perform the requested action: Cannot create an application credential for another user.',
      );
    if (!caller.projectId)
      fail('Forbidden', 'An application credential is created with a project-scoped token.');
    const input = parseApplicationCredential(body);
    const now = this.clock.now();
    if (input.expiresAt && input.expiresAt.getTime() <= now.getTime())
      fail('ValidationFailed', "Invalid application credential: 'expires_at' must be in the future.");

    // The roles the user holds on the project now, and that the creating token carries.
    const held = effectiveRoleNames(await this.repo.rolesOn(userId, caller.projectId!));
    const allowed = new Set(caller.roles.filter((r) => held.has(r)));
    const all = await this.repo.listRoles();
    let roles: RoleRow[];
    if (input.roles === null) roles = all.filter((r) => allowed.has(r.name));
    else {
      roles = [];
      for (const ref of input.roles) {
        const role = all.find((r) => (ref.id !== undefined ? r.id === ref.id : r.name === ref.name));
        if (!role || !allowed.has(role.name))
          fail(
            'ValidationFailed',
            'Invalid application credential: Cannot create an application credential with unassigned role',
          );
        if (!roles.some((r) => r.id === role!.id)) roles.push(role!);
      }
    }
    if (roles.length === 0)
      fail('ValidationFailed', 'Invalid application credential: the token carries no role to delegate.');

    const secret = input.secret ?? randomBytes(64).toString('base64url');
    const row: AppCredRow = {
      id: randomUUID().replace(/-/g, ''),
      user_id: userId,
      project_id: caller.projectId!,
      name: input.name,
      description: input.description,
      secret_hash: await hashPassword(secret),
      expires_at: input.expiresAt?.toISOString() ?? null,
      unrestricted: input.unrestricted ? 1 : 0,
      created_at: now.toISOString(),
    };
    currentAudit()?.resource(row.id, row.name);
    await this.repo.transaction(async (repo) => {
      const created = await repo.insertApplicationCredential(
        row,
        roles.map((r) => r.id),
      );
      // Thrown inside: the transaction (and the audit event it would carry) rolls back.
      if (!created)
        fail(
          'Conflict',
          `Conflict occurred attempting to store application_credential - Duplicate entry found with name ${input.name}.`,
        );
    });
    return { row, roles, secret };
  }

  async list(caller: ScopedClaims, userId: string, name?: string): Promise<ApplicationCredential[]> {
    this.requireOwnerOrAdmin(caller, userId, 'list_application_credentials');
    if (!(await this.repo.userById(userId))) fail('NotFound', `Could not find user: ${userId}.`);
    const rows = await this.repo.listApplicationCredentials(userId, name === undefined ? {} : { name });
    const roles = await this.repo.applicationCredentialRoles(rows.map((r) => r.id));
    return rows.map((row) => ({ row, roles: roles.get(row.id) ?? [] }));
  }

  async get(caller: ScopedClaims, userId: string, id: string): Promise<ApplicationCredential> {
    const row = await this.owned(caller, userId, id, 'get_application_credential');
    const roles = await this.repo.applicationCredentialRoles([row.id]);
    return { row, roles: roles.get(row.id) ?? [] };
  }

  async delete(caller: ScopedClaims, userId: string, id: string): Promise<void> {
    const row = await this.owned(caller, userId, id, 'delete_application_credential');
    await this.requireUnrestricted(caller);
    // Its tokens end with it: validation checks that the credential still exists.
    await this.repo.deleteApplicationCredential(row.id);
  }

  /** Checks an authentication request; the caller issues the token. */
  async resolveForAuth(auth: AppCredAuth): Promise<{ user: UserRow; grant: AppCredGrant }> {
    if (auth.scopeRequested) return unauthorized('Application credentials cannot request a scope.');
    let cred: AppCredRow | undefined;
    let user: UserRow | undefined;
    if (auth.id) {
      cred = await this.repo.applicationCredentialById(auth.id);
      if (!cred) return unauthorized();
      user = await this.repo.userById(cred.user_id);
      if (auth.user && (await this.findUser(auth.user))?.id !== cred.user_id) return unauthorized();
    } else if (auth.name) {
      if (!auth.user)
        fail(
          'ValidationFailed',
          "Invalid input for field 'identity/application_credential/user': required with a name",
        );
      user = await this.findUser(auth.user!);
      cred = user ? await this.repo.applicationCredentialByName(user.id, auth.name) : undefined;
    } else {
      fail(
        'ValidationFailed',
        "Invalid input for field 'identity/application_credential': id or name is required",
      );
    }
    if (!cred || !user || !user.enabled) return unauthorized();
    const domain = await this.repo.domainById(user.domain_id);
    if (!domain?.enabled) return unauthorized();
    if (typeof auth.secret !== 'string' || !(await verifyPassword(auth.secret, cred.secret_hash)))
      return unauthorized('Invalid application credential: the secret does not match.');
    if (cred.expires_at && cred.expires_at <= this.clock.now().toISOString())
      return unauthorized('The application credential has expired.');
    const grant = await this.grantOf(cred.id);
    if (!grant || grant.roles.length === 0)
      return unauthorized(`User ${user.id} no longer holds the roles of application credential ${cred.id}.`);
    return { user, grant };
  }

  /** The credential's roles that its user still holds on its project (Keystone re-checks them on every use). */
  async grantOf(id: string): Promise<AppCredGrant | null> {
    const cred = await this.repo.applicationCredentialById(id);
    if (!cred) return null;
    const held = effectiveRoleNames(await this.repo.rolesOn(cred.user_id, cred.project_id));
    const roles = ((await this.repo.applicationCredentialRoles([cred.id])).get(cred.id) ?? []).filter((r) =>
      held.has(r.name),
    );
    return {
      id: cred.id,
      name: cred.name,
      unrestricted: cred.unrestricted === 1,
      projectId: cred.project_id,
      roles,
      expiresAt: cred.expires_at,
    };
  }

  private async owned(caller: ScopedClaims, userId: string, id: string, action: string): Promise<AppCredRow> {
    const row = await this.repo.applicationCredentialById(id);
    // The owner is the credential's user, never the path's (Keystone closes the same loophole).
    this.requireOwnerOrAdmin(caller, row?.user_id ?? userId, action);
    if (!row || row.user_id !== userId)
      return fail('NotFound', `Could not find Application Credential: ${id}.`);
    return row;
  }

  private requireOwnerOrAdmin(caller: ScopedClaims, userId: string, action: string): void {
    if (!this.policy.allows(caller, 'identity:manage_credentials', { userId }))
      fail('Forbidden', `You are not authorized to perform the requested action: identity:${action}.`);
  }

  /** A restricted credential's token may not manage credentials (it could mint itself more). */
  private async requireUnrestricted(caller: ScopedClaims): Promise<void> {
    if (!caller.appCredId) return;
    const cred = await this.repo.applicationCredentialById(caller.appCredId);
    if (!cred || cred.unrestricted !== 1)
      fail(
        'Forbidden',
        "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.",
      );
  }

  private async findUser(ref: NonNullable<AppCredAuth['user']>): Promise<UserRow | undefined> {
    if (ref.id) return this.repo.userById(ref.id);
    if (!ref.name || !ref.domain || (!ref.domain.id && !ref.domain.name))
      return fail('ValidationFailed', "Invalid input for field 'identity/application_credential/user'");
    const domain = ref.domain.id
      ? await this.repo.domainById(ref.domain.id)
      : await this.repo.domainByName(ref.domain.name!);
    return domain ? this.repo.userByName(domain.id, ref.name) : undefined;
  }
}
