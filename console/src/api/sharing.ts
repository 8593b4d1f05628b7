import type { ImageMember, ImsClient } from '../../../sdk/client.ts';

/** Glance's image_member_quota. */
export const MAX_MEMBERS = 128;
const PROJECT_ID = /^[0-9a-f]{32}$/i;

export type MemberInputProblem =
  | { kind: 'empty' }
  | { kind: 'invalid' | 'self' | 'duplicate' | 'already'; id: string }
  | { kind: 'tooMany'; max: number };

/**
 * Reads "id1, id2,id3" into project ids, or says what is wrong with each entry.
 * Project ids are Keystone's: 32 hexadecimal characters.
 */
export function parseMemberIds(
  text: string,
  ownProject: string,
  existing: readonly string[],
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
    const id = entry.toLowerCase();
    if (!PROJECT_ID.test(entry)) problems.push({ kind: 'invalid', id: entry });
    else if (id === ownProject.toLowerCase()) problems.push({ kind: 'self', id: entry });
    else if (seen.has(id)) problems.push({ kind: 'duplicate', id: entry });
    else if (have.has(id)) problems.push({ kind: 'already', id: entry });
    else {
      seen.add(id);
      ids.push(id);
    }
  }
  if (entries.length === 0) problems.push({ kind: 'empty' });
  if (existing.length + ids.length > MAX_MEMBERS) problems.push({ kind: 'tooMany', max: MAX_MEMBERS });
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

/** Glance's JSON-patch media type for image updates. */
export const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';
