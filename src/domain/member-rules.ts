import { isAdmin, type RequestContext } from './context.ts';
import { DomainError, fail } from './errors.ts';
import type { Image } from './image.ts';
import { MEMBER_STATUSES, type MemberStatus } from './visibility.ts';

/**
 * One project's membership of one image (Glance's ImageMembership). The
 * member id is whatever the owner gave: Glance shares project to project and
 * does not check that the project exists.
 */
export interface ImageMember {
  imageId: string;
  memberId: string;
  status: MemberStatus;
  createdAt: string;
  updatedAt: string;
}

/** Glance's defaults: `image_member_quota` and the width of its member column. */
export const MEMBER_LIMITS = { maxMembersPerImage: 128, maxMemberIdLength: 255 } as const;

/** What a caller is doing with the members of an image, as Glance words its refusals. */
export type MemberVerb = 'create' | 'list' | 'update' | 'delete';

const isObject = (body: unknown): body is Record<string, unknown> =>
  typeof body === 'object' && body !== null && !Array.isArray(body);

/** Reads `{"member": "<project id>"}`; Glance refuses a missing body, a missing or empty member. */
export function parseNewMember(body: unknown): string {
  if (body === undefined) return fail('BadRequest', 'Body expected in request.');
  if (!isObject(body)) return fail('BadRequest', 'Expected a member in the form: {"member": "member_id"}');
  if (!('member' in body)) return fail('BadRequest', 'Member to be added not specified');
  const member = body.member;
  if (member === null || member === '') return fail('BadRequest', "Member can't be empty");
  if (typeof member !== 'string') return fail('BadRequest', 'Member must be a string (a project id)');
  if ([...member].length > MEMBER_LIMITS.maxMemberIdLength) {
    return fail('BadRequest', `Member must be at most ${MEMBER_LIMITS.maxMemberIdLength} characters`);
  }
  return member;
}

/**
 * Reads `{"status": ...}`. Only the presence of `status` is checked here: as in
 * Glance, its value is judged after the caller's right to change it (checkMemberStatus).
 */
export function parseStatusRequest(body: unknown): unknown {
  if (body === undefined) return fail('BadRequest', 'Body expected in request.');
  if (!isObject(body)) return fail('BadRequest', 'Expected a status in the form: {"status": "status"}');
  if (!('status' in body)) return fail('BadRequest', 'Status not specified');
  return body.status;
}

export function checkMemberStatus(value: unknown): MemberStatus {
  if (typeof value !== 'string' || !(MEMBER_STATUSES as readonly string[]).includes(value)) {
    return fail('BadRequest', 'Incorrect request: Status must be "pending", "accepted" or "rejected".');
  }
  return value as MemberStatus;
}

/**
 * Only images with visibility `shared` have members, whatever their status
 * (queued images too). Rows kept from an earlier `shared` period stay stored
 * but are out of reach until the image is shared again.
 */
export function assertHasMembers(image: Image, verb: MemberVerb): void {
  if (image.visibility !== 'shared') {
    fail(
      'Forbidden',
      `Not allowed to ${verb} members for image ${image.id}: Only shared images have members.`,
    );
  }
}

/** Adding and removing members belongs to the owner and to admins (which roles may: the policy). */
export function assertCanManageMembers(ctx: RequestContext, image: Image, verb: 'create' | 'delete'): void {
  if (isAdmin(ctx)) return;
  if (image.owner !== ctx.projectId) {
    fail(
      'Forbidden',
      `Not allowed to ${verb} members for image ${image.id}: only the image owner may ${verb === 'create' ? 'add' : 'remove'} members.`,
    );
  }
}

/**
 * Whose membership entries a caller may see: the owner and admins see every
 * one, a member only its own (others are simply not found).
 */
export function canSeeMember(ctx: RequestContext, image: Image, memberId: string): boolean {
  return isAdmin(ctx) || image.owner === ctx.projectId || memberId === ctx.projectId;
}

/** Whether the caller sees every member of the image rather than only its own entry. */
export function seesAllMembers(ctx: RequestContext, image: Image): boolean {
  return isAdmin(ctx) || image.owner === ctx.projectId;
}

/**
 * The owner shares; the member answers. Checked before the member is looked
 * up, as Glance does: the owner gets 403 whichever member it names.
 */
export function assertNotOwnerAnswering(ctx: RequestContext, image: Image): void {
  if (!isAdmin(ctx) && image.owner === ctx.projectId) {
    fail(
      'Forbidden',
      `Not allowed to update members for image ${image.id}: the image owner cannot change a member's status.`,
    );
  }
}

/** A member answers for itself; admins may answer for anyone (which roles may: the policy). */
export function assertCanAnswer(ctx: RequestContext, member: ImageMember): void {
  if (isAdmin(ctx)) return;
  if (member.memberId !== ctx.projectId) {
    fail('Forbidden', `Not allowed to update members for image ${member.imageId}: you are not this member.`);
  }
}

/** Glance checks the limit before the duplicate: a full image refuses even a known member with 413. */
export function assertMemberCapacity(imageId: string, current: number): void {
  const attempted = current + 1;
  const maximum = MEMBER_LIMITS.maxMembersPerImage;
  if (attempted > maximum) {
    throw new DomainError(
      'TooManyMembers',
      `Image member limit exceeded for image ${imageId}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${attempted}, Maximum: ${maximum}`,
    );
  }
}

/** A new membership always starts `pending`: the member decides whether the image shows in its lists. */
export function newMember(image: Image, memberId: string, now: string): ImageMember {
  return { imageId: image.id, memberId, status: 'pending', createdAt: now, updatedAt: now };
}

export function memberNotFound(imageId: string, memberId: string): never {
  return fail('NotFound', `${memberId} not found in the member list of the image ${imageId}.`);
}
