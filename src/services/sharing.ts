/**
 * IMS sharing (ims-api.md §4; the model: domain/sharing.ts). The batch routes
 * check the request as a whole here (its shape, limits, targets, URNs) and
 * answer with a job; what concerns each image is judged by the job
 * (jobs/members-handler.ts), image by image.
 */
import type { Repositories } from '../adapters/db/repositories.ts';
import type { IncomingShare, SharedMember } from '../adapters/db/sharing-repository.ts';
import { assertProjectInPath, isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import { parseOrgRef } from '../domain/organization.ts';
import {
  NO_POLICY,
  acceptingRule,
  parseBatchAnswerRequest,
  parseBatchMembersRequest,
  parseSharingPolicy,
  type AutomaticAccept,
  type MemberType,
  type ShareTarget,
  type SharingPolicy,
} from '../domain/sharing.ts';
import type { MemberStatus } from '../domain/visibility.ts';
import type { Clock } from '../adapters/clock.ts';
import type { ImageService } from './images.ts';
import type { JobService } from './jobs/service.ts';
import type { OrganizationService } from './organizations.ts';
import type { Policy } from './policy.ts';
import { ADD_IMAGE_MEMBERS, DELETE_IMAGE_MEMBERS, UPDATE_IMAGE_MEMBERS } from './sharing-kinds.ts';
import { currentAudit } from '../adapters/audit-scope.ts';

/** One member as the IMS member routes show it. */
export interface MemberView {
  imageId: string;
  memberId: string;
  memberType: MemberType;
  urn: string | null;
  status: MemberStatus;
  createdAt: string;
  updatedAt: string;
}

export class SharingService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly organizations: OrganizationService,
    private readonly jobs: JobService,
    private readonly clock: Clock,
    private readonly policy: Policy,
  ) {}

  /** `POST /v1/cloudimages/members`. */
  async add(ctx: RequestContext, body: unknown): Promise<{ jobId: string }> {
    this.policy.authorize(ctx, 'ims:images:share');
    const req = parseBatchMembersRequest(body);
    const targets: ShareTarget[] = [];
    for (const id of req.projects) targets.push(await this.projectTarget(ctx, id));
    for (const id of req.domains) targets.push(await this.domainTarget(id));
    const ownerUrns = await this.db.sharing.orgUrnsOf(ctx.accountId);
    for (const ref of req.organizations) targets.push(await this.orgTarget(ref, ownerUrns));
    const autoAccept = await this.autoAccepting(ctx, targets, ownerUrns);
    this.auditImages(req.images);
    const job = await this.jobs.enqueue(ctx, ADD_IMAGE_MEMBERS, {
      owner: ctx.projectId,
      userId: ctx.userId,
      images: req.images,
      targets,
      autoAccept,
    });
    return { jobId: job.id };
  }

  /** `DELETE /v1/cloudimages/members`: members that are not there are gone already. */
  async remove(ctx: RequestContext, body: unknown): Promise<{ jobId: string }> {
    this.policy.authorize(ctx, 'ims:images:share');
    const req = parseBatchMembersRequest(body);
    const targets: ShareTarget[] = [
      ...req.projects.map((id): ShareTarget => ({ type: 'project', id })),
      ...req.domains.map((id): ShareTarget => ({ type: 'domain', id })),
    ];
    for (const ref of req.organizations)
      targets.push({ type: 'organization', id: await this.storedUrn(ref) });
    this.auditImages(req.images);
    const job = await this.jobs.enqueue(ctx, DELETE_IMAGE_MEMBERS, {
      owner: ctx.projectId,
      images: req.images,
      targets,
    });
    return { jobId: job.id };
  }

  /** `PUT /v1/cloudimages/members`: the recipient accepts or rejects, for its own project only. */
  async answer(ctx: RequestContext, body: unknown): Promise<{ jobId: string }> {
    const req = parseBatchAnswerRequest(body);
    if (req.projectId !== ctx.projectId)
      throw new DomainError(
        'Forbidden',
        `A project answers for itself: project_id ${req.projectId} is not the caller's project`,
        { imsCode: 'IMG.0030' },
      );
    this.policy.authorize(ctx, 'ims:images:answerShare', { projectId: req.projectId });
    const reach = await this.db.sharing.reach(ctx.projectId, ctx.accountId, ctx.region);
    this.auditImages(req.images);
    const job = await this.jobs.enqueue(ctx, UPDATE_IMAGE_MEMBERS, {
      reach,
      images: req.images,
      status: req.status,
    });
    return { jobId: job.id };
  }

  /**
   * The members of an image: the owner (and admins) see every one; a project
   * it is shared with sees its own entry, however the share reached it.
   */
  async members(ctx: RequestContext, pathProject: string, imageId: string): Promise<MemberView[]> {
    assertProjectInPath(ctx, pathProject);
    const image = await this.images.get(ctx, imageId);
    this.policy.authorize(ctx, 'ims:images:get');
    if (isAdmin(ctx) || image.owner === ctx.projectId)
      return (await this.db.sharing.members(image.id)).map(view);
    const reach = await this.db.sharing.reach(ctx.projectId, ctx.accountId, ctx.region);
    const reached = await this.db.sharing.reachedBy(image.id, reach);
    if (!reached) return [];
    return [{ ...view(reached.member), memberId: ctx.projectId, status: reached.status }];
  }

  async member(
    ctx: RequestContext,
    pathProject: string,
    imageId: string,
    memberId: string,
  ): Promise<MemberView> {
    const found = (await this.members(ctx, pathProject, imageId)).find((m) => m.memberId === memberId);
    return found ?? fail('NotFound', `${memberId} not found in the member list of the image ${imageId}.`);
  }

  /** The recipient's view: every image shared with the project, by whom and when. */
  async incoming(ctx: RequestContext, pathProject: string): Promise<IncomingShare[]> {
    assertProjectInPath(ctx, pathProject);
    this.policy.authorize(ctx, 'ims:images:list');
    return this.db.sharing.incoming(await this.db.sharing.reach(ctx.projectId, ctx.accountId, ctx.region));
  }

  async getPolicy(ctx: RequestContext, pathProject: string): Promise<SharingPolicy> {
    assertProjectInPath(ctx, pathProject);
    this.policy.authorize(ctx, 'ims:sharingPolicy:get', { projectId: pathProject });
    return (await this.db.sharing.policy(pathProject)) ?? NO_POLICY;
  }

  /**
   * Sets the project's auto-accept rules. They apply to shares made from now
   * on; shares waiting for an answer keep waiting.
   */
  async setPolicy(ctx: RequestContext, pathProject: string, body: unknown): Promise<SharingPolicy> {
    assertProjectInPath(ctx, pathProject);
    this.policy.authorize(ctx, 'ims:sharingPolicy:update', { projectId: pathProject });
    const input = parseSharingPolicy(body);
    const acceptOrganizations: string[] = [];
    for (const ref of input.acceptOrganizations) {
      const urn = await this.resolveUrn(ref);
      if (!acceptOrganizations.includes(urn)) acceptOrganizations.push(urn);
    }
    currentAudit()?.resource(pathProject);
    const policy = { acceptOwnAccount: input.acceptOwnAccount, acceptOrganizations, updatedAt: this.now() };
    await this.db.transaction((tx) => tx.sharing.setPolicy(pathProject, policy));
    return policy;
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  /** The audit event of a batch names its image (or the first of them, with the count). */
  private auditImages(images: string[]): void {
    const [first] = images;
    if (first) currentAudit()?.resource(first, images.length > 1 ? `${images.length} images` : null);
  }

  private async projectTarget(ctx: RequestContext, id: string): Promise<ShareTarget> {
    if (id === ctx.projectId)
      fail('ShareWithSelf', `Project ${id} is your own: an image is not shared with its owner`);
    const project = await this.db.sharing.project(id);
    if (!project) return fail('ShareTargetNotFound', `Project ${id} does not exist`);
    if (project.region !== ctx.region)
      fail(
        'ShareAcrossRegions',
        `Project ${id} is in region ${project.region}: images are shared within ${ctx.region} only`,
      );
    return { type: 'project', id };
  }

  private async domainTarget(id: string): Promise<ShareTarget> {
    if (!(await this.db.sharing.domainExists(id)))
      fail('ShareTargetNotFound', `Account (domain) ${id} does not exist`);
    return { type: 'domain', id };
  }

  /**
   * An organization or unit the owner's account belongs to (any of its units):
   * a malformed reference is a 400 (IMG.0001), an unknown one IMG.0108, and
   * another organization's IMG.0161.
   */
  private async orgTarget(ref: string, ownerUrns: string[]): Promise<ShareTarget> {
    const urn = await this.resolveUrn(ref);
    const orgOf = (u: string) => {
      const r = parseOrgRef(u);
      return r.kind === 'organization' ? r.orgId : (r.orgId ?? '');
    };
    const ownerOrg = ownerUrns[0] ? orgOf(ownerUrns[0]) : null;
    if (orgOf(urn) !== ownerOrg)
      fail(
        'ForeignOrganization',
        `${urn} is not an organization your account belongs to: share within your own organization`,
      );
    return { type: 'organization', id: urn };
  }

  /** The normalised URN a reference names; malformed: IMG.0001; naming nothing: IMG.0108. */
  private async resolveUrn(ref: string): Promise<string> {
    try {
      parseOrgRef(ref);
    } catch {
      return fail(
        'ValidationFailed',
        `Malformed organization URN: ${ref.slice(0, 200)} (expected organizations::<account>:organization:o-…, …:root:o-…/r-… or …:ou:o-…/ou-…)`,
      );
    }
    try {
      return await this.organizations.normalize(ref);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'NotFound')
        return fail('ShareTargetNotFound', `No organization or unit is named ${ref.slice(0, 200)}`);
      throw err;
    }
  }

  /** The URN a DELETE names: as stored; an organization deleted since is matched by its URN as given. */
  private async storedUrn(ref: string): Promise<string> {
    try {
      return await this.resolveUrn(ref);
    } catch (err) {
      if (
        err instanceof DomainError &&
        err.code === 'ShareTargetNotFound' &&
        ref.startsWith('organizations::')
      )
        return ref;
      throw err;
    }
  }

  /** Projects reached by the targets whose sharing policy accepts a share from the caller, with the rule that does. */
  private async autoAccepting(
    ctx: RequestContext,
    targets: ShareTarget[],
    ownerUrns: string[],
  ): Promise<AutomaticAccept[]> {
    const accounts = new Set<string>();
    const projects = new Set<string>();
    const grantAccounts = new Set<string>();
    for (const t of targets) {
      if (t.type === 'project') {
        projects.add(t.id);
        const p = await this.db.sharing.project(t.id);
        if (p) accounts.add(p.domainId);
      } else if (t.type === 'domain') grantAccounts.add(t.id);
      else for (const a of await this.organizations.accountsInOrganization(t.id)) grantAccounts.add(a);
    }
    const candidates = await this.db.sharing.policiesIn([...accounts, ...grantAccounts], ctx.region);
    const accepts: AutomaticAccept[] = [];
    for (const c of candidates) {
      if (c.projectId === ctx.projectId) continue;
      if (!projects.has(c.projectId) && !grantAccounts.has(c.accountId)) continue;
      const rule = acceptingRule(c.policy, c.accountId, ctx.accountId, ownerUrns);
      if (rule !== null) accepts.push({ projectId: c.projectId, accountId: c.accountId, rule });
    }
    return accepts;
  }
}

function view(m: SharedMember): MemberView {
  return {
    imageId: m.imageId,
    memberId: m.memberId,
    memberType: m.memberType,
    urn: m.urn,
    status: m.status,
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
  };
}
