import { DomainError } from './errors.ts';

export const ROLES = ['admin', 'member', 'reader'] as const;
export type Role = (typeof ROLES)[number];

/** Whether a role name is one the policy knows (operators may define others). */
export const isRole = (name: string): name is Role => (ROLES as readonly string[]).includes(name);

/** The caller, resolved once per request by the identity layer. */
export interface RequestContext {
  requestId: string;
  region: string;
  accountId: string;
  projectId: string;
  userId: string;
  roles: Role[];
  via: 'token' | 'aksk';
  /** Id of the token used, so that it can be revoked. */
  tokenId?: string;
}

export const isAdmin = (ctx: RequestContext): boolean => ctx.roles.includes('admin');
/** Reader-only callers may look but never change anything. */
export const canWrite = (ctx: RequestContext): boolean =>
  ctx.roles.includes('admin') || ctx.roles.includes('member');

/** IMS paths that name a project must name the caller's (IMS documents 403 IMG.0030 otherwise). */
export function assertProjectInPath(ctx: RequestContext, projectId: string): void {
  if (projectId !== ctx.projectId) {
    throw new DomainError('Forbidden', 'The project id in the path does not match the credentials.', {
      imsCode: 'IMG.0030',
    });
  }
}
