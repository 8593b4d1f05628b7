import { ROLES, type Role } from './context.ts';

/**
 * Every action the policy knows: IMS's fine-grained actions (ims-api.md §7.3),
 * the actions of IMS's own additions (jobs, traces, organizations) and the
 * Keystone admin API's (identity:...), as Keystone names them.
 */
export const ACTIONS = [
  'ims:images:list',
  'ims:images:get',
  'ims:images:create',
  'ims:serverImages:create',
  'ims:dataImages:create',
  'ims:wholeImages:create',
  'ims:images:update',
  'ims:images:upload',
  'ims:images:download',
  'ims:images:delete',
  'ims:images:export',
  'ims:images:copy',
  'ims:images:share',
  'ims:images:answerShare',
  'ims:sharingPolicy:get',
  'ims:sharingPolicy:update',
  'ims:images:deactivate',
  'ims:quotas:get',
  'ims:quotas:update',
  'ims:metadefs:manage',
  'ims:jobs:get',
  'ims:traces:list',
  'ims:organizations:manage',
  'ims:organizations:get',
  'identity:list_domains',
  'identity:get_domain',
  'identity:create_domain',
  'identity:update_domain',
  'identity:delete_domain',
  'identity:list_projects',
  'identity:get_project',
  'identity:create_project',
  'identity:update_project',
  'identity:delete_project',
  'identity:list_user_projects',
  'identity:list_users',
  'identity:get_user',
  'identity:create_user',
  'identity:update_user',
  'identity:delete_user',
  'identity:list_roles',
  'identity:get_role',
  'identity:create_role',
  'identity:delete_role',
  'identity:create_grant',
  'identity:check_grant',
  'identity:revoke_grant',
  'identity:list_grants',
  'identity:list_role_assignments',
  'identity:manage_credentials',
] as const;

export type Action = (typeof ACTIONS)[number];

export const isAction = (name: string): name is Action => (ACTIONS as readonly string[]).includes(name);

/**
 * Who may do an action: `allow` roles may, unless the caller also holds a
 * `deny` role (deny wins). Only `admin` acts beyond the caller's own project
 * (and own user); every other role acts within them.
 */
export interface Rule {
  allow: readonly Role[];
  deny?: readonly Role[];
}

export type PolicyTable = Record<Action, Rule>;

const READ: Rule = { allow: ['reader', 'member', 'admin'] };
const WRITE: Rule = { allow: ['member', 'admin'] };
const ADMIN: Rule = { allow: ['admin'] };

/**
 * The default policy, the one place that says which role may do what:
 * reader reads, member writes in its project, admin does everything.
 */
export const DEFAULT_POLICY: PolicyTable = {
  'ims:images:list': READ,
  'ims:images:get': READ,
  'ims:images:create': WRITE,
  'ims:serverImages:create': WRITE,
  'ims:dataImages:create': WRITE,
  'ims:wholeImages:create': WRITE,
  'ims:images:update': WRITE,
  'ims:images:upload': WRITE,
  'ims:images:download': READ,
  'ims:images:delete': WRITE,
  'ims:images:export': WRITE,
  'ims:images:copy': WRITE,
  'ims:images:share': WRITE,
  // Accepting or rejecting an image shared with one's project.
  'ims:images:answerShare': WRITE,
  // A project's auto-accept rules for images shared with it (IMS sharing).
  'ims:sharingPolicy:get': READ,
  'ims:sharingPolicy:update': WRITE,
  'ims:images:deactivate': WRITE,
  'ims:quotas:get': READ,
  // Setting a project's quotas is the operator's (IMS has no API for it; PUT /v1/cloudimages/quota is ours).
  'ims:quotas:update': ADMIN,
  // Glance's metadata definitions: everyone reads what they can see, admins write (Glance's default).
  'ims:metadefs:manage': ADMIN,
  'ims:jobs:get': READ,
  // Cloud Trace Service: the project's owners (members) and administrators.
  'ims:traces:list': WRITE,
  'ims:organizations:manage': ADMIN,
  'ims:organizations:get': ADMIN,
  'identity:list_domains': ADMIN,
  'identity:get_domain': ADMIN,
  'identity:create_domain': ADMIN,
  'identity:update_domain': ADMIN,
  'identity:delete_domain': ADMIN,
  'identity:list_projects': ADMIN,
  'identity:get_project': ADMIN,
  'identity:create_project': ADMIN,
  'identity:update_project': ADMIN,
  'identity:delete_project': ADMIN,
  'identity:list_user_projects': ADMIN,
  'identity:list_users': ADMIN,
  'identity:get_user': ADMIN,
  'identity:create_user': ADMIN,
  'identity:update_user': ADMIN,
  'identity:delete_user': ADMIN,
  'identity:list_roles': ADMIN,
  'identity:get_role': ADMIN,
  'identity:create_role': ADMIN,
  'identity:delete_role': ADMIN,
  'identity:create_grant': ADMIN,
  'identity:check_grant': ADMIN,
  'identity:revoke_grant': ADMIN,
  'identity:list_grants': ADMIN,
  'identity:list_role_assignments': ADMIN,
  // A user's own access keys and application credentials; admins manage anyone's.
  'identity:manage_credentials': READ,
};

/** What the action is done to: the project (and user) it belongs to, when it matters. */
export interface PolicyTarget {
  projectId?: string | null;
  userId?: string;
}

/** The caller as the policy sees it. */
export interface PolicySubject {
  roles: readonly string[];
  projectId: string | null;
  userId: string;
}

/** Whether the table lets the subject do the action to the target. Pure. */
export function permits(
  table: PolicyTable,
  subject: PolicySubject,
  action: Action,
  target: PolicyTarget = {},
): boolean {
  const rule = table[action];
  const held = subject.roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r));
  if (held.some((r) => rule.deny?.includes(r))) return false;
  return held.some((role) => {
    if (!rule.allow.includes(role)) return false;
    if (role === 'admin') return true;
    const ownProject =
      target.projectId === undefined || (target.projectId !== null && target.projectId === subject.projectId);
    const ownUser = target.userId === undefined || target.userId === subject.userId;
    return ownProject && ownUser;
  });
}

/**
 * Reads an operator's policy file (JSON: `{"action": {"allow": [...], "deny": [...]}}`):
 * the actions it names get the rule given (an `allow` left out keeps the default's),
 * the others keep theirs. Throws a
 * readable list of problems.
 */
export function parsePolicyOverride(text: string, origin: string): PolicyTable {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${origin}: not JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new Error(`${origin}: must be a JSON object of action -> {allow, deny}`);
  const problems: string[] = [];
  const table: PolicyTable = { ...DEFAULT_POLICY };
  const roleList = (v: unknown, where: string): Role[] | null => {
    if (
      !Array.isArray(v) ||
      !v.every((r) => typeof r === 'string' && (ROLES as readonly string[]).includes(r))
    ) {
      problems.push(`${where} must be a list of roles (${ROLES.join(', ')})`);
      return null;
    }
    return v as Role[];
  };
  for (const [action, value] of Object.entries(raw)) {
    if (!isAction(action)) {
      problems.push(`unknown action "${action}"`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`"${action}" must be an object {allow, deny}`);
      continue;
    }
    const { allow, deny, ...extra } = value as Record<string, unknown>;
    if (Object.keys(extra).length)
      problems.push(`"${action}" has unknown keys ${Object.keys(extra).join(', ')}`);
    const allowed = allow === undefined ? DEFAULT_POLICY[action].allow : roleList(allow, `"${action}".allow`);
    const denied = deny === undefined ? [] : roleList(deny, `"${action}".deny`);
    if (allowed && denied) table[action] = { allow: allowed, deny: denied };
  }
  if (problems.length) throw new Error(`${origin}: ${problems.join('; ')}`);
  return table;
}
