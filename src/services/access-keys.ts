import { randomInt } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type { AccessKeyRepository, AccessKeyRow } from '../adapters/db/access-key-repository.ts';
import type { IdentityRepository } from '../adapters/db/identity-repository.ts';
import {
  parseAuthorization,
  verifySignature,
  type SignedRequest,
} from '../adapters/identity/aksk-signature.ts';
import type { SecretBox } from '../adapters/identity/secret-box.ts';
import type { TokenClaims } from '../adapters/identity/tokens.ts';
import { isRole, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import { impliedRoles } from './identity.ts';
import type { Policy } from './policy.ts';
import { currentAudit } from '../adapters/audit-scope.ts';

/** Huawei IAM allows two access keys per user. */
export const MAX_KEYS_PER_USER = 2;

export interface AccessKeyView {
  access: string;
  user_id: string;
  status: 'active' | 'inactive';
  description: string;
  create_time: string;
  last_use_time: string | null;
}

/** A request as it arrived, for signature checking; the secret and the clock are the service's. */
export type ReceivedSignedRequest = Omit<SignedRequest, 'secretKey' | 'now' | 'maxSkewSeconds'> & {
  requestId: string;
  region: string;
};

const AK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SK_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomText = (alphabet: string, length: number) =>
  Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');

const unauthorized = (message: string): never => fail('Unauthorized', message);

function view(row: AccessKeyRow): AccessKeyView {
  return {
    access: row.access_key,
    user_id: row.user_id,
    status: row.status as AccessKeyView['status'],
    description: row.description,
    create_time: row.created_at,
    last_use_time: row.last_used_at,
  };
}

/** Access keys: issued to users, and the check of requests signed with them. */
export class AccessKeyService {
  constructor(
    private readonly keys: AccessKeyRepository,
    private readonly identity: IdentityRepository,
    private readonly box: SecretBox,
    private readonly clock: Clock,
    private readonly policy: Policy,
    private readonly maxSkewSeconds = 900,
  ) {}

  /** A user manages their own keys; an admin manages anyone's. */
  private async assertManages(caller: TokenClaims, userId: string): Promise<void> {
    if (!this.policy.allows(caller, 'identity:manage_credentials', { userId })) {
      fail('Forbidden', 'You are not authorized to manage the access keys of another user.');
    }
    if (!(await this.identity.userById(userId))) fail('NotFound', `Could not find user: ${userId}.`);
  }

  /** Returns the key with its secret: the only time the secret is shown. */
  async create(
    caller: TokenClaims,
    userId: string,
    description: string,
  ): Promise<AccessKeyView & { secret: string }> {
    await this.assertManages(caller, userId);
    if ([...description].length > 255)
      fail('ValidationFailed', "Invalid value for 'description': at most 255 characters");
    if ((await this.keys.countByUser(userId)) >= MAX_KEYS_PER_USER) {
      fail('Conflict', `A user has at most ${MAX_KEYS_PER_USER} access keys; delete one first.`);
    }
    const access = randomText(AK_ALPHABET, 20);
    currentAudit()?.resource(access);
    const secret = randomText(SK_ALPHABET, 40);
    const row: AccessKeyRow = {
      access_key: access,
      user_id: userId,
      secret_sealed: this.box.seal(secret, access),
      status: 'active',
      description,
      created_at: this.clock.now().toISOString(),
      last_used_at: null,
    };
    await this.keys.insert(row);
    return { ...view(row), secret };
  }

  async list(caller: TokenClaims, userId: string): Promise<AccessKeyView[]> {
    await this.assertManages(caller, userId);
    return (await this.keys.listByUser(userId)).map(view);
  }

  async get(caller: TokenClaims, access: string): Promise<AccessKeyView> {
    const row = await this.keys.find(access);
    // Another user's key is reported as missing, not as forbidden: its existence is not shown.
    if (!row || !this.policy.allows(caller, 'identity:manage_credentials', { userId: row.user_id })) {
      return fail('NotFound', `Could not find access key: ${access}.`);
    }
    return view(row);
  }

  async update(
    caller: TokenClaims,
    access: string,
    changes: { status?: unknown; description?: unknown },
  ): Promise<AccessKeyView> {
    await this.get(caller, access);
    const set: { status?: string; description?: string } = {};
    if (changes.status !== undefined) {
      if (changes.status !== 'active' && changes.status !== 'inactive') {
        fail('ValidationFailed', "Invalid value for 'status': must be active or inactive");
      }
      set.status = changes.status as string;
    }
    if (changes.description !== undefined) {
      if (typeof changes.description !== 'string' || [...changes.description].length > 255) {
        fail('ValidationFailed', "Invalid value for 'description': a string of at most 255 characters");
      }
      set.description = changes.description as string;
    }
    if (Object.keys(set).length) await this.keys.update(access, set);
    return this.get(caller, access);
  }

  async delete(caller: TokenClaims, access: string): Promise<void> {
    await this.get(caller, access);
    await this.keys.delete(access);
  }

  /**
   * Checks a signed request and returns its caller. The project comes from
   * X-Project-Id (it must belong to the key owner's account and the owner must
   * hold a role on it); without it, from the owner's default project or only project.
   */
  async authenticate(req: ReceivedSignedRequest): Promise<RequestContext> {
    const { user, row, now } = await this.verified(req);
    const projectId = await this.projectFor(
      user.id,
      user.domain_id,
      user.default_project_id,
      req.headers['x-project-id'],
    );
    const roles = await this.identity.rolesOn(user.id, projectId);
    if (roles.length === 0) fail('Forbidden', `The user has no role on project ${projectId}.`);
    await this.keys.touch(row.access_key, now.toISOString());
    return {
      requestId: req.requestId,
      region: req.region,
      accountId: user.domain_id,
      projectId,
      userId: user.id,
      roles: impliedRoles(roles.map((r) => r.name)).filter(isRole),
      via: 'aksk',
    };
  }

  /** Checks a signed request to an account-level API (no project): returns the key owner's user id. */
  async authenticateAccount(req: ReceivedSignedRequest): Promise<string> {
    const { user, row, now } = await this.verified(req);
    await this.keys.touch(row.access_key, now.toISOString());
    return user.id;
  }

  /** The key and its enabled owner, when the signature is good. */
  private async verified(req: ReceivedSignedRequest) {
    const authorization = req.headers.authorization;
    const parsed = parseAuthorization(typeof authorization === 'string' ? authorization : undefined);
    if (!parsed.ok) return unauthorized(`Incorrect IAM authentication information: ${parsed.detail}`);
    const row = await this.keys.find(parsed.accessKey);
    const user = row && row.status === 'active' ? await this.identity.userById(row.user_id) : undefined;
    const domain = user ? await this.identity.domainById(user.domain_id) : undefined;
    if (!row || !user || !user.enabled || !domain?.enabled) {
      return unauthorized('Incorrect IAM authentication information: the access key is unknown or disabled.');
    }
    const secret = this.box.open(row.secret_sealed, row.access_key);
    if (secret === null)
      throw new DomainError('Internal', 'The access key cannot be read with this server master key.');
    const now = this.clock.now();
    const result = verifySignature({ ...req, secretKey: secret, now, maxSkewSeconds: this.maxSkewSeconds });
    if (!result.ok) return unauthorized(`Incorrect IAM authentication information: ${result.detail}`);
    return { user, row, now };
  }

  private async projectFor(
    userId: string,
    domainId: string,
    defaultProjectId: string | null,
    header: string | string[] | undefined,
  ): Promise<string> {
    if (typeof header === 'string' && header !== '') {
      const project = await this.identity.projectById(header);
      if (!project || project.domain_id !== domainId || !project.enabled) {
        return fail('Forbidden', `X-Project-Id ${header} is not a project of this account.`, {
          imsCode: 'IMG.0030',
        });
      }
      return project.id;
    }
    if (defaultProjectId && (await this.identity.rolesOn(userId, defaultProjectId)).length)
      return defaultProjectId;
    const projects = await this.identity.projectIdsWithRoles(userId);
    if (projects.length === 1) return projects[0]!;
    return fail('Forbidden', 'X-Project-Id is required: the user has a role on several projects (or none).', {
      imsCode: 'IMG.0104',
    });
  }
}
