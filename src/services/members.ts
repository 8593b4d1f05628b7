import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { RequestContext } from '../domain/context.ts';
import { fail } from '../domain/errors.ts';
import type { Image } from '../domain/image.ts';
import {
  assertCanAnswer,
  assertCanManageMembers,
  assertHasMembers,
  assertMemberCapacity,
  assertNotOwnerAnswering,
  canSeeMember,
  checkMemberStatus,
  memberNotFound,
  newMember,
  seesAllMembers,
  type ImageMember,
} from '../domain/member-rules.ts';
import { assertNoKmsKey } from '../domain/sharing.ts';
import type { ImageService } from './images.ts';
import type { Policy } from './policy.ts';
import { currentAudit } from '../adapters/audit-scope.ts';

/**
 * The Glance members API: the owner shares a `shared` image with projects and
 * withdraws it; each member accepts or rejects it for itself. Whoever cannot
 * see the image gets 404 from the image lookup, before any member rule.
 */
export class MemberService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly clock: Clock,
    private readonly policy: Policy,
  ) {}

  private now(): string {
    return this.clock.now().toISOString();
  }

  async add(ctx: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const image = await this.images.get(ctx, imageId);
    currentAudit()?.resource(image.id, image.name);
    assertHasMembers(image, 'create');
    assertCanManageMembers(ctx, image, 'create');
    this.policy.authorize(ctx, 'ims:images:share', { projectId: image.owner });
    assertNoKmsKey(image);
    const member = newMember(image, memberId, this.now());
    return this.db.transaction(async (tx) => {
      // The image row is held, so two additions cannot both take the last place.
      const visibility = await tx.members.lockImage(image.id);
      if (visibility === null) return fail('ImageNotFound', `No image found with ID ${imageId}`);
      assertHasMembers({ ...image, visibility }, 'create');
      assertMemberCapacity(image.id, await tx.members.count(image.id));
      if (!(await tx.members.insert(member))) {
        fail('Conflict', `Member ${memberId} is duplicated for image ${image.id}`);
      }
      // A project that already answered through an account or organization share keeps its answer.
      const answer = await tx.sharing.answer(image.id, memberId);
      if (answer === null || answer === member.status) return member;
      await tx.members.setStatus(image.id, memberId, answer, member.updatedAt);
      return { ...member, status: answer };
    });
  }

  /** The owner and admins get every member; a member gets its own entry only. */
  async list(ctx: RequestContext, imageId: string): Promise<ImageMember[]> {
    const image = await this.images.get(ctx, imageId);
    assertHasMembers(image, 'list');
    return seesAllMembers(ctx, image)
      ? this.db.members.list(image.id)
      : this.db.members.list(image.id, ctx.projectId);
  }

  /** As in Glance, every refusal here is a 404: whether a project is a member is not told to others. */
  async show(ctx: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const image = await this.images.get(ctx, imageId);
    if (image.visibility !== 'shared') return memberNotFound(image.id, memberId);
    return this.visibleMember(ctx, image, memberId);
  }

  /** Any status may follow any other (pending, accepted, rejected), answered by the member itself. */
  async setStatus(
    ctx: RequestContext,
    imageId: string,
    memberId: string,
    requested: unknown,
  ): Promise<ImageMember> {
    const image = await this.images.get(ctx, imageId);
    assertHasMembers(image, 'update');
    assertNotOwnerAnswering(ctx, image);
    const member = await this.visibleMember(ctx, image, memberId);
    this.policy.authorize(ctx, 'ims:images:answerShare', { projectId: member.memberId });
    assertCanAnswer(ctx, member);
    const status = checkMemberStatus(requested);
    // The answer row too, so that an account or organization share reaching the project agrees.
    const updated = await this.db.transaction(async (tx) => {
      if (!(await tx.members.setStatus(image.id, member.memberId, status, this.now()))) return null;
      await tx.sharing.setAnswer(image.id, member.memberId, status, 'project', this.now());
      return tx.members.find(image.id, member.memberId);
    });
    return updated ?? memberNotFound(image.id, memberId);
  }

  async remove(ctx: RequestContext, imageId: string, memberId: string): Promise<void> {
    const image = await this.images.get(ctx, imageId);
    assertHasMembers(image, 'delete');
    assertCanManageMembers(ctx, image, 'delete');
    this.policy.authorize(ctx, 'ims:images:share', { projectId: image.owner });
    const removed = await this.db.transaction((tx) => tx.sharing.remove(image.id, memberId));
    if (!removed) memberNotFound(image.id, memberId);
  }

  private async visibleMember(ctx: RequestContext, image: Image, memberId: string): Promise<ImageMember> {
    if (!canSeeMember(ctx, image, memberId)) return memberNotFound(image.id, memberId);
    return (await this.db.members.find(image.id, memberId)) ?? memberNotFound(image.id, memberId);
  }
}
