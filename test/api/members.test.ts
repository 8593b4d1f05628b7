import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
type Caller = { token: string; projectId: string };

let s: TestServer;
/** The project that owns the images, its reader, two member projects (one with a reader) and a stranger. */
let owner: Caller;
let ownerReader: Caller;
let member: Caller;
let memberReader: Caller;
let other: Caller;
let stranger: Caller;
let admin: Caller;

const GLANCE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const MISSING_IMAGE = '7d3c0f5e-4a1b-4c2d-9e8f-0a1b2c3d4e5f';

beforeAll(async () => {
  s = await startTestServer();
  owner = await s.tokenFor('sharer', 'olga', 'member');
  ownerReader = await s.tokenFor('sharer', 'oscar', 'reader');
  member = await s.tokenFor('taker', 'mia', 'member');
  memberReader = await s.tokenFor('taker', 'max', 'reader');
  other = await s.tokenFor('second-taker', 'otto', 'member');
  stranger = await s.tokenFor('outsider', 'sam', 'member');
  const adminProject = await s.request('GET', '/v3/auth/tokens', {
    headers: { 'x-subject-token': s.adminToken },
  });
  admin = {
    token: s.adminToken,
    projectId: ((await adminProject.json()) as { token: { project: { id: string } } }).token.project.id,
  };
});
afterAll(async () => s?.close());

const createImage = async (body: Json = {}, caller = owner): Promise<string> => {
  const res = await s.request('POST', '/v2/images', {
    token: caller.token,
    body: { name: 'shared', ...body },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as Json).id as string;
};
const membersPath = (imageId: string, memberId?: string) =>
  `/v2/images/${imageId}/members${memberId === undefined ? '' : `/${encodeURIComponent(memberId)}`}`;
const add = (imageId: string, memberId: unknown, caller = owner) =>
  s.request('POST', membersPath(imageId), { token: caller.token, body: { member: memberId } });
const answer = (imageId: string, memberId: string, status: unknown, caller = member) =>
  s.request('PUT', membersPath(imageId, memberId), { token: caller.token, body: { status } });
const remove = (imageId: string, memberId: string, caller = owner) =>
  s.request('DELETE', membersPath(imageId, memberId), { token: caller.token });
const show = (imageId: string, memberId: string, caller: Caller) =>
  s.request('GET', membersPath(imageId, memberId), { token: caller.token });
const listMembers = async (imageId: string, caller = owner): Promise<Json[]> => {
  const res = await s.request('GET', membersPath(imageId), { token: caller.token });
  expect(res.status, await res.clone().text()).toBe(200);
  const body = (await res.json()) as { members: Json[]; schema: string };
  expect(body.schema).toBe('/v2/schemas/members');
  return body.members;
};
const added = async (imageId: string, memberId: string, caller = owner): Promise<Json> => {
  const res = await add(imageId, memberId, caller);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Json;
};
const answered = async (imageId: string, status: string, caller = member): Promise<Json> => {
  const res = await answer(imageId, caller.projectId, status, caller);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Json;
};
/** Whether the image is in the caller's `GET /v2/images` with this query. */
const listed = async (imageId: string, caller: Caller, query = ''): Promise<boolean> => {
  const res = await s.request('GET', `/v2/images?limit=1000${query ? `&${query}` : ''}`, {
    token: caller.token,
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { images: Json[] }).images.some((i) => i.id === imageId);
};
const imageStatus = async (imageId: string, caller: Caller) =>
  (await s.request('GET', `/v2/images/${imageId}`, { token: caller.token })).status;
const message = async (res: Response) => ((await res.json()) as Json).message as string;

describe(`Glance image members: lifecycle (${TEST_DB})`, () => {
  it('shares a queued image, lets the member accept, reject and accept again, and withdraws it', async () => {
    const id = await createImage();

    // the owner shares; the new member is pending
    const res = await add(id, member.projectId);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const created = (await res.json()) as Json;
    expect(Object.keys(created).sort()).toEqual([
      'created_at',
      'image_id',
      'member_id',
      'schema',
      'status',
      'updated_at',
    ]);
    expect(created).toMatchObject({
      image_id: id,
      member_id: member.projectId,
      status: 'pending',
      schema: '/v2/schemas/member',
    });
    expect(created.created_at).toMatch(GLANCE_TIME);
    expect(created.updated_at).toBe(created.created_at);

    // pending: the member can reach the image but does not see it in its default list
    expect(await imageStatus(id, member)).toBe(200);
    expect(await imageStatus(id, memberReader)).toBe(200);
    expect(await listed(id, member)).toBe(false);
    expect(await listed(id, member, 'visibility=shared')).toBe(false);
    expect(await listed(id, member, 'member_status=pending')).toBe(true);
    expect(await listed(id, member, 'visibility=shared&member_status=pending')).toBe(true);
    expect(await listed(id, member, 'member_status=all')).toBe(true);
    expect(await listed(id, member, 'member_status=rejected')).toBe(false);
    expect(await listed(id, member, 'visibility=all&member_status=pending')).toBe(true);

    // both sides read the membership
    expect(await listMembers(id)).toEqual([created]);
    expect(await listMembers(id, member)).toEqual([created]);
    expect(await (await show(id, member.projectId, member)).json()).toEqual(created);
    expect(await (await show(id, member.projectId, owner)).json()).toEqual(created);

    // accepted: the image shows in the member's default list
    const accepted = await answered(id, 'accepted');
    expect(accepted).toMatchObject({ status: 'accepted', member_id: member.projectId, image_id: id });
    expect(accepted.created_at).toBe(created.created_at);
    expect(String(accepted.updated_at) >= String(created.updated_at)).toBe(true);
    expect(accepted.updated_at).toMatch(GLANCE_TIME);
    expect(await listed(id, member)).toBe(true);
    expect(await listed(id, member, 'visibility=shared')).toBe(true);
    expect(await listed(id, member, 'member_status=pending')).toBe(false);
    expect(await listed(id, member, 'visibility=all')).toBe(true);
    expect(await listed(id, memberReader)).toBe(true);
    expect((await listMembers(id))[0]).toMatchObject({ status: 'accepted' });

    // rejected: hidden from the default list, still reachable by id
    await answered(id, 'rejected');
    expect(await listed(id, member)).toBe(false);
    expect(await listed(id, member, 'visibility=shared')).toBe(false);
    expect(await listed(id, member, 'member_status=rejected')).toBe(true);
    expect(await listed(id, member, 'visibility=shared&member_status=rejected')).toBe(true);
    expect(await imageStatus(id, member)).toBe(200);

    // and back: accepted again, even pending again
    await answered(id, 'accepted');
    expect(await listed(id, member)).toBe(true);
    await answered(id, 'pending');
    expect(await listed(id, member, 'member_status=pending')).toBe(true);
    await answered(id, 'accepted');

    // the owner's lists are not affected by member status
    expect(await listed(id, owner)).toBe(true);
    expect(await listed(id, owner, 'visibility=shared&member_status=rejected')).toBe(true);

    // the owner withdraws the share: the member loses the image
    const removed = await remove(id, member.projectId);
    expect(removed.status).toBe(204);
    expect(await removed.text()).toBe('');
    expect(await imageStatus(id, member)).toBe(404);
    expect(await listed(id, member, 'member_status=all')).toBe(false);
    expect(await listed(id, member, 'visibility=shared&member_status=all')).toBe(false);
    expect((await s.request('GET', membersPath(id), { token: member.token })).status).toBe(404);
    expect(await listMembers(id)).toEqual([]);
    // and may share again: a fresh pending membership
    expect(await added(id, member.projectId)).toMatchObject({ status: 'pending' });
  });

  it('shows each member only its own entry; the owner, its readers and admins see all', async () => {
    const id = await createImage();
    await added(id, member.projectId);
    await added(id, other.projectId);
    const all = await listMembers(id);
    expect(all.map((m) => m.member_id).sort()).toEqual([member.projectId, other.projectId].sort());
    expect(await listMembers(id, ownerReader)).toEqual(all);
    expect(await listMembers(id, admin)).toEqual(all);
    expect((await listMembers(id, member)).map((m) => m.member_id)).toEqual([member.projectId]);
    expect((await listMembers(id, memberReader)).map((m) => m.member_id)).toEqual([member.projectId]);
    expect((await listMembers(id, other)).map((m) => m.member_id)).toEqual([other.projectId]);

    // another member's entry, or anything for a stranger, is not found
    expect((await show(id, other.projectId, member)).status).toBe(404);
    expect((await show(id, member.projectId, stranger)).status).toBe(404);
    expect((await show(id, 'nobody', owner)).status).toBe(404);
    expect((await s.request('GET', membersPath(id), { token: stranger.token })).status).toBe(404);
    expect((await show(id, other.projectId, admin)).status).toBe(200);

    // each member answers for itself only; one's answer does not change the other's lists
    await answered(id, 'accepted', other);
    expect(await listed(id, other)).toBe(true);
    expect(await listed(id, member)).toBe(false);
  });

  it('keeps members of an image made private, without access, and restores them when shared again', async () => {
    const id = await createImage();
    await added(id, member.projectId);
    await answered(id, 'accepted');
    const patch = (visibility: string) =>
      s.request('PATCH', `/v2/images/${id}`, {
        token: owner.token,
        body: [{ op: 'replace', path: '/visibility', value: visibility }],
        headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      });

    expect((await patch('private')).status).toBe(200);
    expect(await imageStatus(id, member)).toBe(404);
    expect(await listed(id, member)).toBe(false);
    expect(await listed(id, member, 'member_status=all')).toBe(false);
    expect(await listed(id, member, 'visibility=private')).toBe(false);
    expect(await listed(id, member, 'visibility=shared&member_status=all')).toBe(false);
    expect((await s.request('GET', membersPath(id), { token: member.token })).status).toBe(404);
    expect((await answer(id, member.projectId, 'rejected')).status).toBe(404);
    const listing = await s.request('GET', membersPath(id), { token: owner.token });
    expect(listing.status).toBe(403);
    expect(await message(listing)).toContain('Only shared images have members');

    expect((await patch('shared')).status).toBe(200);
    expect(await imageStatus(id, member)).toBe(200);
    expect(await listed(id, member)).toBe(true);
    expect(await listMembers(id)).toEqual([expect.objectContaining({ status: 'accepted' })]);
  });

  it('gives members of an image that is deleted nothing more', async () => {
    const id = await createImage();
    await added(id, member.projectId);
    await answered(id, 'accepted');
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: owner.token })).status).toBe(204);
    expect(await imageStatus(id, member)).toBe(404);
    expect(await listed(id, member, 'member_status=all')).toBe(false);
    expect((await s.request('GET', membersPath(id), { token: member.token })).status).toBe(404);
    expect((await s.request('GET', membersPath(id), { token: owner.token })).status).toBe(404);
    expect((await add(id, other.projectId)).status).toBe(404);
  });

  it('lets admins list, answer for a member and remove members of any shared image', async () => {
    const id = await createImage();
    expect(await added(id, member.projectId, admin)).toMatchObject({ status: 'pending' });
    expect(await listMembers(id, admin)).toHaveLength(1);
    const res = await answer(id, member.projectId, 'accepted', admin);
    expect(res.status).toBe(200);
    expect(await listed(id, member)).toBe(true);
    expect((await remove(id, member.projectId, admin)).status).toBe(204);
    expect(await imageStatus(id, member)).toBe(404);
    // Glance's modify_member is "role:admin or (role:member and project_id:%(member_id)s)", and
    // its owner check spares admins: an admin answers for a member of its own image too.
    const own = await createImage({}, admin);
    await added(own, member.projectId, admin);
    expect((await answer(own, member.projectId, 'accepted', admin)).status).toBe(200);
    expect(await listed(own, member)).toBe(true);
  });

  it("accepts the owner's own project as a member, as Glance does, but not its answer", async () => {
    const id = await createImage();
    expect(await added(id, owner.projectId)).toMatchObject({ member_id: owner.projectId, status: 'pending' });
    expect((await answer(id, owner.projectId, 'accepted', owner)).status).toBe(403);
    expect((await remove(id, owner.projectId)).status).toBe(204);
  });

  it('takes the member id as given, any string of up to 255 characters', async () => {
    const id = await createImage();
    const odd = 'Project With Spaces/and-Slash';
    expect(await added(id, odd)).toMatchObject({ member_id: odd });
    expect((await show(id, odd, owner)).status).toBe(200);
    expect((await remove(id, odd)).status).toBe(204);
    expect((await added(id, 'x'.repeat(255))).member_id).toHaveLength(255);
  });
});

describe(`Glance image members: refusals (${TEST_DB})`, () => {
  let id: string;
  let before: Json[];

  /** The image's members as the owner sees them; every refusal must leave them exactly so. */
  const unchanged = async () => expect(await listMembers(id)).toEqual(before);

  beforeAll(async () => {
    id = await createImage({ name: 'guarded' });
    await added(id, member.projectId);
    await added(id, other.projectId);
    await answered(id, 'accepted', other);
    before = await listMembers(id);
  });

  it('lets only the owner (or an admin) add members', async () => {
    let res = await add(id, stranger.projectId, member);
    expect(res.status).toBe(403);
    expect(await message(res)).toContain('only the image owner may add members');
    expect((await add(id, stranger.projectId, other)).status).toBe(403);
    res = await add(id, stranger.projectId, ownerReader);
    expect(res.status).toBe(403);
    expect(await message(res)).toContain('reader role');
    // a stranger does not even see the image
    expect((await add(id, stranger.projectId, stranger)).status).toBe(404);
    expect((await add(id, member.projectId, memberReader)).status).toBe(403);
    await unchanged();
  });

  it('lets only the owner (or an admin) remove members', async () => {
    expect((await remove(id, member.projectId, member)).status).toBe(403);
    expect((await remove(id, other.projectId, member)).status).toBe(403);
    expect((await remove(id, member.projectId, ownerReader)).status).toBe(403);
    expect((await remove(id, member.projectId, stranger)).status).toBe(404);
    const missing = await remove(id, 'nobody');
    expect(missing.status).toBe(404);
    expect(await message(missing)).toBe(`nobody not found in the member list of the image ${id}.`);
    await unchanged();
  });

  it('lets only the member itself change its status', async () => {
    // the owner, whatever its role, cannot answer for a member
    let res = await answer(id, member.projectId, 'accepted', owner);
    expect(res.status).toBe(403);
    expect(await message(res)).toContain("cannot change a member's status");
    expect((await answer(id, member.projectId, 'accepted', ownerReader)).status).toBe(403);
    expect((await answer(id, 'nobody', 'accepted', owner)).status).toBe(403);
    // a member cannot answer for another member: that entry is not found for it
    expect((await answer(id, other.projectId, 'rejected', member)).status).toBe(404);
    expect((await answer(id, member.projectId, 'accepted', other)).status).toBe(404);
    // a reader of the member project cannot answer either
    res = await answer(id, member.projectId, 'accepted', memberReader);
    expect(res.status).toBe(403);
    expect(await message(res)).toContain('reader role');
    // strangers do not see the image
    expect((await answer(id, member.projectId, 'accepted', stranger)).status).toBe(404);
    // an admin answering for a project that is not a member
    expect((await answer(id, 'nobody', 'accepted', admin)).status).toBe(404);
    await unchanged();
    expect(await listed(id, member)).toBe(false);
  });

  it('refuses bad statuses and bodies with 400', async () => {
    const res = await answer(id, member.projectId, 'notavalidstatus');
    expect(res.status).toBe(400);
    expect(await message(res)).toBe('Incorrect request: Status must be "pending", "accepted" or "rejected".');
    for (const status of ['ACCEPTED', '', null, 1, ['accepted']]) {
      expect((await answer(id, member.projectId, status)).status, JSON.stringify(status)).toBe(400);
    }
    const put = (body: string | undefined) =>
      s.request('PUT', membersPath(id, member.projectId), {
        token: member.token,
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      });
    for (const body of ['{"status": "accepted"', '{}', '[]', '"accepted"', undefined]) {
      expect((await put(body)).status, String(body)).toBe(400);
    }
    expect(await message(await put('{}'))).toBe('Status not specified');
    expect(await message(await put(undefined))).toBe('Body expected in request.');
    expect(await message(await put('{"status": '))).toBe('Malformed JSON in request body.');

    const post = (body: string) =>
      s.request('POST', membersPath(id), {
        token: owner.token,
        body,
        headers: { 'content-type': 'application/json' },
      });
    for (const body of ['{"member": ', '{}', '{"member": ""}', '{"member": null}', '{"member": 7}', '[]']) {
      expect((await post(body)).status, body).toBe(400);
    }
    expect(await message(await post('{}'))).toBe('Member to be added not specified');
    expect(await message(await post('{"member": ""}'))).toBe("Member can't be empty");
    expect((await add(id, 'y'.repeat(256))).status).toBe(400);
    await unchanged();
  });

  it('refuses a duplicate member with 409', async () => {
    const res = await add(id, member.projectId);
    expect(res.status).toBe(409);
    expect(await message(res)).toBe(`Member ${member.projectId} is duplicated for image ${id}`);
    await unchanged();
  });

  it('answers 404 for an unknown image on every member route', async () => {
    expect((await add(MISSING_IMAGE, member.projectId)).status).toBe(404);
    expect((await s.request('GET', membersPath(MISSING_IMAGE), { token: owner.token })).status).toBe(404);
    expect((await show(MISSING_IMAGE, member.projectId, owner)).status).toBe(404);
    expect((await answer(MISSING_IMAGE, member.projectId, 'accepted')).status).toBe(404);
    expect((await remove(MISSING_IMAGE, member.projectId)).status).toBe(404);
    const res = await s.request('GET', membersPath('not-a-uuid'), { token: owner.token });
    expect(res.status).toBe(404);
    expect(await message(res)).toContain('No image found');
  });

  it('needs a token', async () => {
    expect((await s.request('GET', membersPath(id), { token: null })).status).toBe(401);
    expect((await s.request('POST', membersPath(id), { token: null, body: { member: 'x' } })).status).toBe(
      401,
    );
    await unchanged();
  });
});

describe(`Glance image members: only shared images have them (${TEST_DB})`, () => {
  it.each(['private', 'community'])('refuses members on a %s image', async (visibility) => {
    const id = await createImage({ visibility });
    let res = await add(id, member.projectId);
    expect(res.status).toBe(403);
    expect(await message(res)).toContain('Only shared images have members.');
    res = await s.request('GET', membersPath(id), { token: owner.token });
    expect(res.status).toBe(403);
    expect(await message(res)).toContain('Only shared images have members.');
    expect((await show(id, member.projectId, owner)).status).toBe(404);
    expect((await remove(id, member.projectId)).status).toBe(403);
    expect((await answer(id, member.projectId, 'accepted')).status).toBe(
      visibility === 'private' ? 404 : 403,
    );
  });

  it('refuses members on an image encrypted with a KMS key (no KMS here to authorise it), even for an admin', async () => {
    const id = await createImage();
    await s.server.db.kysely
      .insertInto('image_properties')
      .values({ image_id: id, name: '__system__cmkid', value: 'kms-key-1' })
      .execute();
    for (const caller of [owner, admin]) {
      const res = await add(id, member.projectId, caller);
      expect(res.status).toBe(403);
      expect(await message(res)).toContain('IMG.0098');
    }
    expect(await listMembers(id)).toEqual([]);
    expect((await s.request('GET', `/v2/images/${id}`, { token: member.token })).status).toBe(404);
  });

  it('refuses members on a public image, even for an admin', async () => {
    const id = await createImage({ visibility: 'public' }, admin);
    expect((await add(id, member.projectId, admin)).status).toBe(403);
    expect((await s.request('GET', membersPath(id), { token: member.token })).status).toBe(403);
    expect((await show(id, member.projectId, member)).status).toBe(404);
  });
});

describe(`GET /v2/images: shared images by member status (${TEST_DB})`, () => {
  it('lists what an owner, a member in each status and a stranger see, as Glance does', async () => {
    const pending = await createImage({ name: 'pending' });
    const accepted = await createImage({ name: 'accepted' });
    const rejected = await createImage({ name: 'rejected' });
    const unshared = await createImage({ name: 'unshared' });
    const community = await createImage({ name: 'community', visibility: 'community' });
    for (const id of [pending, accepted, rejected]) await added(id, member.projectId);
    await answered(accepted, 'accepted');
    await answered(rejected, 'rejected');
    const mine = [pending, accepted, rejected, unshared, community];

    const seen = async (caller: Caller, query = '') => {
      const out: string[] = [];
      for (const id of mine) if (await listed(id, caller, query)) out.push(id);
      return out;
    };
    // the member: accepted by default; each status on request; community only when asked
    expect(await seen(member)).toEqual([accepted]);
    expect(await seen(member, 'member_status=accepted')).toEqual([accepted]);
    expect(await seen(member, 'member_status=pending')).toEqual([pending]);
    expect(await seen(member, 'member_status=rejected')).toEqual([rejected]);
    expect(await seen(member, 'member_status=all')).toEqual([pending, accepted, rejected]);
    expect(await seen(member, 'visibility=shared')).toEqual([accepted]);
    expect(await seen(member, 'visibility=shared&member_status=all')).toEqual([pending, accepted, rejected]);
    expect(await seen(member, 'visibility=all&member_status=all')).toEqual([
      pending,
      accepted,
      rejected,
      community,
    ]);
    expect(await seen(member, 'visibility=community')).toEqual([community]);
    expect(await seen(member, 'visibility=private')).toEqual([]);
    // the owner: all its images, whatever the member status filter; community ones too
    expect(await seen(owner)).toEqual(mine);
    expect(await seen(owner, 'member_status=pending')).toEqual(mine);
    expect(await seen(owner, 'visibility=shared&member_status=rejected')).toEqual([
      pending,
      accepted,
      rejected,
      unshared,
    ]);
    // a stranger: only the community image, and only when asked for
    expect(await seen(stranger, 'member_status=all')).toEqual([]);
    expect(await seen(stranger, 'visibility=shared&member_status=all')).toEqual([]);
    expect(await seen(stranger, 'visibility=all&member_status=all')).toEqual([community]);
    // an admin lists every shared image whatever the status filter
    expect(await seen(admin, 'visibility=shared&member_status=pending')).toEqual([
      pending,
      accepted,
      rejected,
      unshared,
    ]);

    const res = await s.request('GET', '/v2/images?member_status=maybe', { token: member.token });
    expect(res.status).toBe(400);
  });
});

describe(`Glance image members: limits and races (${TEST_DB})`, () => {
  it('allows 128 members per image, then answers 413', async () => {
    const id = await createImage({ name: 'popular' });
    for (let i = 0; i < 120; i++) await added(id, `project-${i}`);
    // concurrent additions cannot both take the last places
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => add(id, `late-${i}`).then((r) => r.status)),
    );
    expect(results.filter((c) => c === 200)).toHaveLength(8);
    expect(results.filter((c) => c === 413)).toHaveLength(4);
    expect(await listMembers(id)).toHaveLength(128);

    const res = await add(id, 'one-too-many');
    expect(res.status).toBe(413);
    expect(await message(res)).toContain('Attempted: 129, Maximum: 128');
    // as in Glance, the limit is checked before the duplicate
    expect((await add(id, 'project-0')).status).toBe(413);
    expect((await remove(id, 'project-0')).status).toBe(204);
    expect((await add(id, 'one-too-many')).status).toBe(200);
  });

  it('adds a member once when the same addition races', async () => {
    const id = await createImage({ name: 'raced' });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => add(id, member.projectId).then((r) => r.status)),
    );
    expect(results.filter((c) => c === 200)).toHaveLength(1);
    expect(results.filter((c) => c === 409)).toHaveLength(5);
    expect(await listMembers(id)).toHaveLength(1);
  });
});
