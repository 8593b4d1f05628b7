/**
 * IMS sharing (ims-api.md §4): the batch member routes, sharing with
 * projects, accounts and organizations, and the per-project sharing policy.
 *
 * How shares are stored. Every share is a row of image_members:
 * - `project`: member_id is a project id. This is Glance's member, and the
 *   row carries the project's own answer (pending, accepted, rejected).
 * - `domain`: member_id is an account (Keystone domain) id.
 * - `organization`: member_id (and urn) is the normalised URN of an
 *   organization, its root or one of its units.
 * Account and organization rows are grants, resolved when an image is read:
 * a project is reached by a grant naming its account, or naming the
 * organization of its account or a unit on the path from the account's unit
 * up to the root (its "reach", see SharingReach). So a project created in
 * the account later, or an account that joins the unit later, sees the image
 * without any new row. Each reached project answers for itself: its answer is
 * a row of image_member_answers, and no row means pending. A project that is
 * both a project member and reached by a grant has one answer: the member
 * row's status, which every answer keeps equal to its answer row.
 *
 * Only projects of this deployment's region are reached by grants (one
 * deployment serves one region); a project of another region is refused as a
 * target (IMG.0177).
 */
import { DomainError, fail } from './errors.ts';
import type { Image } from './image.ts';
import type { MemberStatus } from './visibility.ts';

export const MEMBER_TYPES = ['project', 'domain', 'organization'] as const;
export type MemberType = (typeof MEMBER_TYPES)[number];

/** IMS's limits (ims-api.md §4.3); images per request is ours (IMS documents none). */
export const SHARE_LIMITS = {
  /** Members of any type per image (system and data-disk images). */
  maxMembersPerImage: 256,
  /** Full-ECS images have fewer (IMG.0088). */
  maxMembersPerWholeImage: 10,
  maxImagesPerRequest: 100,
  /** Projects + accounts + organizations named in one request. */
  maxTargetsPerRequest: 256,
} as const;

/** Whom one share names. `id` is the member_id stored: project id, account id or URN. */
export interface ShareTarget {
  type: MemberType;
  id: string;
}

/** What a project is reached by: its own id, its account, and its account's organization URNs. */
export interface SharingReach {
  projectId: string;
  accountId: string;
  /** URNs of the organization, its root and every unit from the account's unit up; empty outside one. */
  orgUrns: string[];
}

/** `POST` and `DELETE /v1/cloudimages/members`. Organization references are as given (resolved by the service). */
export interface BatchMembersRequest {
  images: string[];
  projects: string[];
  domains: string[];
  organizations: string[];
}

/** `PUT /v1/cloudimages/members`, by the recipient. */
export interface BatchAnswerRequest {
  images: string[];
  projectId: string;
  status: Exclude<MemberStatus, 'pending'>;
}

const invalid = (why: string, imsCode = 'IMG.0001'): never => {
  throw new DomainError('ValidationFailed', why, { imsCode });
};

function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || body === '')
    return invalid('A request body is required', 'IMG.0007');
  if (typeof body !== 'object' || Array.isArray(body))
    return invalid('The request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** A list of distinct non-empty strings (duplicates collapse: a batch names each once). */
function idList(value: unknown, field: string, max: number): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return invalid(`'${field}' must be an array of strings`);
  const out: string[] = [];
  for (const v of value) {
    if (typeof v !== 'string' || v.trim() === '' || v.length > 400)
      return invalid(`'${field}' must hold non-empty strings of at most 400 characters`);
    if (!out.includes(v)) out.push(v);
  }
  if (out.length > max)
    throw new DomainError('TooManyMembers', `At most ${max} entries in '${field}' per request`);
  return out;
}

function imageList(b: Record<string, unknown>): string[] {
  const images = idList(b.images, 'images', SHARE_LIMITS.maxImagesPerRequest);
  if (images.length === 0) return invalid("'images' must name at least one image", 'IMG.0066');
  return images;
}

/** Reads the add/delete body; at least one of projects, domains, organizations is needed. */
export function parseBatchMembersRequest(body: unknown): BatchMembersRequest {
  const b = objectBody(body);
  const images = imageList(b);
  const max = SHARE_LIMITS.maxTargetsPerRequest;
  const projects = idList(b.projects, 'projects', max);
  const domains = idList(b.domains, 'domains', max);
  const organizations = idList(b.organizations, 'organizations', max);
  const count = projects.length + domains.length + organizations.length;
  if (count === 0)
    return invalid("Name at least one member in 'projects', 'domains' or 'organizations'", 'IMG.0041');
  if (count > max)
    throw new DomainError(
      'TooManyMembers',
      `At most ${max} members (projects, domains, organizations) per request`,
    );
  return { images, projects, domains, organizations };
}

/** Reads the recipient's accept/reject body; `vault_id` (CBR) is accepted and unused here. */
export function parseBatchAnswerRequest(body: unknown): BatchAnswerRequest {
  const b = objectBody(body);
  const images = imageList(b);
  if (typeof b.project_id !== 'string' || b.project_id === '')
    return invalid("'project_id' (the recipient project) is required", 'IMG.0067');
  if (b.status !== 'accepted' && b.status !== 'rejected')
    return invalid("'status' must be 'accepted' or 'rejected'");
  return { images, projectId: b.project_id, status: b.status };
}

const isWholeImage = (image: Image): boolean => image.properties.__whole_image === 'true';

/**
 * Whether the owner may share this image on the IMS routes: its own, active,
 * private (or already shared by it), not public, not encrypted, and with room
 * for `adding` more members. Errors carry the IMS code the job result shows.
 */
export function assertShareable(image: Image, ownerProject: string, current: number, adding: number): void {
  if (image.owner !== ownerProject)
    fail('NotImageOwner', `Image ${image.id} belongs to another project: only its owner may share it`);
  if (image.visibility === 'public' || image.visibility === 'community')
    fail(
      'PublicImageNotShareable',
      `Image ${image.id} is ${image.visibility}: only private images are shared`,
    );
  if (image.status !== 'active')
    fail('ImageNotActive', `Image ${image.id} is ${image.status}: only active images can be shared`);
  assertNoKmsKey(image);
  const max = isWholeImage(image) ? SHARE_LIMITS.maxMembersPerWholeImage : SHARE_LIMITS.maxMembersPerImage;
  if (current + adding > max)
    throw new DomainError(
      'TooManyMembers',
      `Image ${image.id} would have ${current + adding} members: at most ${max}`,
    );
}

/**
 * An encrypted image is shared only once its owner has authorised the KMS key to the members
 * (ims-api.md §4.3). This deployment has no KMS: it encrypts nothing (`cmk_id` is refused with
 * IMG.0095), so no key can be authorised, and an image that carries one (`__system__cmkid`,
 * e.g. moved here from another deployment) is not shared, on the IMS and the Glance routes
 * alike. The IMS code is in the text for Glance's body.
 */
export function assertNoKmsKey(image: Image): void {
  if (image.properties.__system__cmkid)
    fail(
      'EncryptedImageNotShareable',
      `IMG.0098: image ${image.id} is encrypted with a KMS key, and this deployment has no KMS to authorise the key to members`,
    );
}

/** Removing members is the owner's, whatever the image's state. */
export function assertOwnsImage(image: Image, ownerProject: string): void {
  if (image.owner !== ownerProject)
    fail(
      'NotImageOwner',
      `Image ${image.id} belongs to another project: only its owner may change its members`,
    );
}

/**
 * An owner deletes an image shared by project id (its members lose it) but
 * not while accounts or organizations hold it: the error names them.
 */
export function assertDeletableWhileShared(imageId: string, grants: ShareTarget[]): void {
  if (grants.length === 0) return;
  const names = grants.map((g) => `${g.type} ${g.id}`).join(', ');
  fail(
    'SharedWithAccounts',
    // The IMS code is in the text too: Glance's DELETE /v2/images answers with Glance's shape.
    `IMG.0105: image ${imageId} is shared with accounts or organizations; remove these members first: ${names}`,
  );
}

/** Whether a grant of this type and member id reaches a project with this reach. */
export function reaches(target: ShareTarget, reach: SharingReach): boolean {
  if (target.type === 'project') return target.id === reach.projectId;
  if (target.type === 'domain') return target.id === reach.accountId;
  return reach.orgUrns.includes(target.id);
}

/** The keys of grants (account id, URNs) that reach a project, for queries. */
export const grantKeys = (reach: SharingReach): string[] => [reach.accountId, ...reach.orgUrns];

/** A project's auto-accept rules (PUT /v1/{project_id}/cloudimages/sharing-policy). */
export interface SharingPolicy {
  /** Accept at once images shared by another project of the same account. */
  acceptOwnAccount: boolean;
  /** Accept at once images whose owner's account is in one of these organizations or units (URNs). */
  acceptOrganizations: string[];
  updatedAt: string | null;
}

export const NO_POLICY: SharingPolicy = { acceptOwnAccount: false, acceptOrganizations: [], updatedAt: null };

/** Reads the policy body; organization references are resolved and normalised by the service. */
export function parseSharingPolicy(body: unknown): {
  acceptOwnAccount: boolean;
  acceptOrganizations: string[];
} {
  const b = objectBody(body);
  const p = (b.sharing_policy ?? b) as unknown;
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    return invalid('The body must be {"sharing_policy": {...}}');
  const q = p as Record<string, unknown>;
  for (const key of Object.keys(q))
    if (key !== 'accept_own_account' && key !== 'accept_organizations')
      invalid(`Unknown field '${key}': accept_own_account and accept_organizations are known`);
  const own = q.accept_own_account ?? false;
  if (typeof own !== 'boolean') return invalid("'accept_own_account' must be true or false");
  const orgs = idList(q.accept_organizations, 'accept_organizations', 20);
  return { acceptOwnAccount: own, acceptOrganizations: orgs };
}

/**
 * The rule of a project's policy that accepts, at the moment it is shared, an
 * image of an owner in `ownerAccount`, whose organization URNs (the owner
 * account's reach) are `ownerOrgUrns`: `accept_own_account` or
 * `accept_organizations:<urn>`; null when none does. The audit event of the
 * automatic accept names it.
 */
export function acceptingRule(
  policy: SharingPolicy,
  recipientAccount: string,
  ownerAccount: string,
  ownerOrgUrns: string[],
): string | null {
  if (policy.acceptOwnAccount && recipientAccount === ownerAccount) return 'accept_own_account';
  const urn = policy.acceptOrganizations.find((u) => ownerOrgUrns.includes(u));
  return urn === undefined ? null : `accept_organizations:${urn}`;
}

/** A project whose sharing policy accepts a share, and the rule that does. */
export interface AutomaticAccept {
  projectId: string;
  accountId: string;
  rule: string;
}

/**
 * Who the audit trail names as the actor of an automatic accept: no user
 * answered, the project's policy did (`GET /v1/{project_id}/traces?user=`
 * finds these by this id).
 */
export const policyActor = (rule: string): string => `sharing-policy:${rule}`;

/** One image's outcome in a batch job (`entities.results[]`); status lower case, as IMS shows it. */
export interface ShareResult {
  image_id: string;
  project_id: string;
  status: 'success' | 'failed';
  error_code?: string;
  error_msg?: string;
}
