import { isAdmin, type RequestContext } from './context.ts';
import { fail } from './errors.ts';
import type { Image, Visibility } from './image.ts';

export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/**
 * Who may see one image (Glance's rules): its owner and admins always; everyone
 * for public and community images; a member of a shared image in any status
 * (a pending member must see the image to accept it).
 */
export function canSee(ctx: RequestContext, image: Image, membership: MemberStatus | null): boolean {
  if (isAdmin(ctx) || image.owner === ctx.projectId) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  return image.visibility === 'shared' && membership !== null;
}

/** Changing an image belongs to its owner and to admins (which roles may write is the policy's). */
export function assertCanModify(ctx: RequestContext, image: Image): void {
  if (isAdmin(ctx)) return;
  if (image.owner !== ctx.projectId) {
    fail('Forbidden', `You are not permitted to modify image ${image.id}`);
  }
}

/**
 * What `GET /v2/images` shows, as data for the repository to turn into a query.
 * Without a visibility filter, Glance lists the caller's own images, public
 * images and images shared with the caller in the asked member status
 * (accepted by default); community images appear only when asked for.
 */
export interface ListScope {
  projectId: string;
  admin: boolean;
  visibility: Visibility | 'all' | null;
  memberStatus: MemberStatus | 'all';
  /**
   * Account id and organization URNs whose grants reach the caller's project
   * (domain/sharing.ts); absent or empty: only its own member rows count.
   */
  grantKeys?: string[];
}

export function listScope(
  ctx: RequestContext,
  visibility: Visibility | 'all' | null,
  memberStatus: MemberStatus | 'all',
  grantKeys: string[] = [],
): ListScope {
  const scope: ListScope = { projectId: ctx.projectId, admin: isAdmin(ctx), visibility, memberStatus };
  return grantKeys.length ? { ...scope, grantKeys } : scope;
}
