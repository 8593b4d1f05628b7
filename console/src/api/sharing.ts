import type { ImageMember, ImsClient } from '../../../sdk/client.ts';

/** Glance's image_member_quota. */
export const MAX_MEMBERS = 128;

/** Whom an image is shared with: projects (Glance members), accounts or organizations (IMS batch sharing). */
export type MemberKind = 'project' | 'account' | 'organization';

const PROJECT_ID = /^[0-9a-f]{32}$/i;
/** Keystone domain (account) ids, as IMS makes them. */
const ACCOUNT_ID = /^[0-9a-f]{32}$/i;
// Organizations' URN forms (and bare ids) as src/domain/organization.ts reads them.
const ORG = 'o-[a-z0-9]{1,64}';
const ROOT = 'r-[a-z0-9]{1,64}';
const OU = 'ou-[a-z0-9-]{1,96}';
const ORGANIZATION = new RegExp(
  `^(?:organizations::[A-Za-z0-9_-]{1,64}:(?:organization:${ORG}|root:${ORG}/${ROOT}|ou:${ORG}/${OU})|${ORG}|${ROOT}|${OU})$`,
);
const PATTERNS: Record<MemberKind, RegExp> = {
  project: PROJECT_ID,
  account: ACCOUNT_ID,
  organization: ORGANIZATION,
};

export type MemberInputProblem =
  | { kind: 'empty' }
  | { kind: 'invalid' | 'self' | 'duplicate' | 'already'; id: string }
  | { kind: 'tooMany'; max: number };

/**
 * Reads "id1, id2,id3" into member ids of one kind, or says what is wrong with each
 * entry. Project and account ids are Keystone's (32 hexadecimal characters);
 * organizations are URNs or bare o-, r- and ou- ids.
 */
export function parseMemberIds(
  text: string,
  ownProject: string,
  existing: readonly string[],
  kind: MemberKind = 'project',
): { ids: string[]; problems: MemberInputProblem[] } {
  const entries = text
    .split(/[,，\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  const problems: MemberInputProblem[] = [];
  const ids: string[] = [];
  const seen = new Set<string>();
  const have = new Set(existing.map((e) => e.toLowerCase()));
  for (const entry of entries) {
    // URNs keep their case (account names in them may have capitals); ids do not matter.
    const id = kind === 'organization' ? entry : entry.toLowerCase();
    if (!PATTERNS[kind].test(entry)) problems.push({ kind: 'invalid', id: entry });
    else if (kind === 'project' && id === ownProject.toLowerCase())
      problems.push({ kind: 'self', id: entry });
    else if (seen.has(id)) problems.push({ kind: 'duplicate', id: entry });
    else if (have.has(id)) problems.push({ kind: 'already', id: entry });
    else {
      seen.add(id);
      ids.push(id);
    }
  }
  if (entries.length === 0) problems.push({ kind: 'empty' });
  if (kind === 'project' && existing.length + ids.length > MAX_MEMBERS)
    problems.push({ kind: 'tooMany', max: MAX_MEMBERS });
  return { ids, problems };
}

export async function listMembers(client: ImsClient, imageId: string): Promise<ImageMember[]> {
  const data = await client.GET('/v2/images/{image_id}/members', { path: { image_id: imageId } });
  return (data as { members?: ImageMember[] }).members ?? [];
}

/**
 * Adds members one call each (Glance has no batch call). IMS's batch sharing route
 * (one job for many images and projects) replaces this loop once it exists.
 */
export async function addMembers(
  client: ImsClient,
  imageId: string,
  ids: string[],
): Promise<{ id: string; error: unknown }[]> {
  const results: { id: string; error: unknown }[] = [];
  for (const id of ids) {
    try {
      await client.POST('/v2/images/{image_id}/members', {
        path: { image_id: imageId },
        body: { member: id },
      });
      results.push({ id, error: null });
    } catch (error) {
      results.push({ id, error });
    }
  }
  return results;
}

export async function removeMember(client: ImsClient, imageId: string, memberId: string): Promise<void> {
  await client.DELETE('/v2/images/{image_id}/members/{member_id}', {
    path: { image_id: imageId, member_id: memberId },
  });
}

/**
 * Shares an image with accounts or organizations: IMS's batch sharing route
 * (POST /v1/cloudimages/members, ims-api.md §4.1), answered with the job that
 * adds them (its per-image result shows in the jobs panel).
 */
export async function shareWithAccountsOrOrganizations(
  client: ImsClient,
  imageId: string,
  kind: Exclude<MemberKind, 'project'>,
  ids: string[],
): Promise<string> {
  const targets = kind === 'account' ? { domains: ids } : { organizations: ids };
  const { job_id } = await client.POST('/v1/cloudimages/members', {
    body: { images: [imageId], ...targets },
  });
  if (!job_id) throw new Error('IMS answered the share without a job id');
  return job_id;
}

/** Glance's JSON-patch media type for image updates. */
export const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';
