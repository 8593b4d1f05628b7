/**
 * IMS sharing (ims-api.md §4, issue 6): the batch member jobs by project,
 * account and organization, the member views, the rules from the owner's and
 * the member's side, hostile calls, the sharing policy and the recipient's
 * view, on SQLite and PostgreSQL (IMS_TEST_DB).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { openDatabase, type Db } from '../../src/adapters/db/database.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { createAuditService } from '../../src/services/audit/create.ts';
import { addMembersHandler } from '../../src/services/jobs/members-handler.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { activeImage, expectImsError, type Json } from './ims-helpers.ts';

type Caller = { token: string; projectId: string; userId: string; accountId: string };

let s: TestServer;
let db: Db;
let roleId: string;
const uniq = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;

async function admin(method: string, path: string, body?: unknown): Promise<Json> {
  const res = await s.request(method, path, body === undefined ? {} : { body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Json) : {};
}

const newAccount = async (): Promise<string> =>
  (await admin('POST', '/v3/domains', { domain: { name: uniq('acct') } })).domain.id as string;

/** A project of the account with a member user, and that user's token. */
async function projectIn(accountId: string, role = 'member'): Promise<Caller> {
  const project = (
    await admin('POST', '/v3/projects', { project: { name: uniq('p'), domain_id: accountId } })
  ).project as Json;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const user = (
    await admin('POST', '/v3/users', { user: { name: uniq('u'), password, domain_id: accountId } })
  ).user as Json;
  const roles = (await admin('GET', '/v3/roles')).roles as Json[];
  const rid = role === 'member' ? roleId : (roles.find((r) => r.name === role)!.id as string);
  await admin('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${rid}`);
  const auth = {
    identity: { methods: ['password'], password: { user: { id: user.id, password } } },
    scope: { project: { id: project.id } },
  };
  const res = await s.request('POST', '/v3/auth/tokens', { token: null, body: { auth } });
  expect(res.status, await res.clone().text()).toBe(201);
  return {
    token: res.headers.get('x-subject-token')!,
    projectId: project.id as string,
    userId: user.id as string,
    accountId,
  };
}

const call = (c: Caller, method: string, path: string, body?: unknown) =>
  s.request(method, path, { token: c.token, ...(body === undefined ? {} : { body }) });

async function waitJob(c: Caller, res: Response): Promise<Json> {
  const text = await res.text();
  expect(res.status, text).toBe(200);
  const jobId = (JSON.parse(text) as Json).job_id as string;
  expect(Object.keys(JSON.parse(text) as Json)).toEqual(['job_id']);
  for (let i = 0; i < 400; i++) {
    const job = (await (await call(c, 'GET', `/v1/${c.projectId}/jobs/${jobId}`)).json()) as Json;
    if (job.status === 'SUCCESS' || job.status === 'FAIL') return job;
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error(`job ${jobId} did not end`);
}

const share = (c: Caller, body: Json) => call(c, 'POST', '/v1/cloudimages/members', body);
const unshare = (c: Caller, body: Json) => call(c, 'DELETE', '/v1/cloudimages/members', body);
const answer = (c: Caller, images: string[], status: string, projectId = c.projectId) =>
  call(c, 'PUT', '/v1/cloudimages/members', { images, project_id: projectId, status });

async function succeeded(c: Caller, res: Promise<Response>, type?: string): Promise<Json> {
  const job = await waitJob(c, await res);
  expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
  if (type) expect(job.job_type).toBe(type);
  return job;
}

/** Whether the image is in the caller's GET /v2/images with this query. */
async function listed(c: Caller, imageId: string, query = ''): Promise<boolean> {
  const res = await call(c, 'GET', `/v2/images?limit=1000${query ? `&${query}` : ''}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { images: Json[] }).images.some((i) => i.id === imageId);
}
async function listedIms(c: Caller, imageId: string, query = ''): Promise<Json | undefined> {
  const res = await call(c, 'GET', `/v2/cloudimages?limit=1000${query ? `&${query}` : ''}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { images: Json[] }).images.find((i) => i.id === imageId);
}
const canGet = async (c: Caller, imageId: string) => (await call(c, 'GET', `/v2/images/${imageId}`)).status;
const visibility = async (c: Caller, imageId: string) =>
  ((await (await call(c, 'GET', `/v2/images/${imageId}`)).json()) as Json).visibility as string;
async function membersOf(c: Caller, imageId: string, query = ''): Promise<Json> {
  const res = await call(c, 'GET', `/v1/${c.projectId}/cloudimages/${imageId}/members${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Json;
}
const privateImage = (c: Caller, name = 'img') => activeImage(s, c, { name, visibility: 'private' } as Json);

beforeAll(async () => {
  s = await startTestServer({ IMS_DEFAULT_IMAGE_QUOTA: '40' }, { worker: true });
  db = openDatabase(s.config.databaseUrl, s.dataDir);
  roleId = ((await admin('GET', '/v3/roles')).roles as Json[]).find((r) => r.name === 'member')!.id as string;
});
afterAll(async () => {
  await db?.close();
  await s?.close();
});

describe(`IMS batch sharing by project (${TEST_DB})`, () => {
  let owner: Caller;
  let member: Caller;
  let stranger: Caller;
  beforeAll(async () => {
    owner = await projectIn(await newAccount());
    member = await projectIn(await newAccount());
    stranger = await projectIn(await newAccount());
  });

  it('shares private images, which become shared; the member accepts; member views from both sides', async () => {
    const a = await privateImage(owner, 'a');
    const b = await privateImage(owner, 'b');
    expect(await canGet(member, a)).toBe(404);
    const job = await succeeded(
      owner,
      share(owner, { images: [a, b], projects: [member.projectId] }),
      'imsAddImageMembersJob',
    );
    expect(job.entities.results).toEqual([
      { image_id: a, project_id: owner.projectId, status: 'success' },
      { image_id: b, project_id: owner.projectId, status: 'success' },
    ]);
    expect(await visibility(owner, a)).toBe('shared');
    // Pending: seen when asked for, not in the default list.
    expect(await canGet(member, a)).toBe(200);
    expect(await listed(member, a)).toBe(false);
    expect(await listed(member, a, 'visibility=shared&member_status=pending')).toBe(true);
    expect(await listedIms(member, a, 'visibility=shared&member_status=pending')).toBeTruthy();

    const owned = await membersOf(owner, a);
    expect(owned.schema).toBe('/v2/schemas/members');
    expect(owned.page_info).toEqual({ current_count: 1 });
    expect(owned.members).toEqual([
      expect.objectContaining({
        image_id: a,
        member_id: member.projectId,
        member_type: 'project',
        status: 'pending',
        schema: '/v2/schemas/member',
      }),
    ]);
    expect(owned.members[0].urn).toBeUndefined();

    await succeeded(member, answer(member, [a, b], 'accepted'), 'imsUpdateImageMembersJob');
    expect(await listed(member, a)).toBe(true);
    const ims = await listedIms(member, a);
    expect(ims?.__imagetype).toBe('shared');
    expect((await membersOf(member, a)).members).toEqual([
      expect.objectContaining({ member_id: member.projectId, status: 'accepted', member_type: 'project' }),
    ]);
    const one = await call(
      member,
      'GET',
      `/v1/${member.projectId}/cloudimages/${a}/members/${member.projectId}`,
    );
    expect(((await one.json()) as Json).status).toBe('accepted');
    // A member sees no one else's entry; the owner's entry is not a member.
    await expectImsError(
      await call(member, 'GET', `/v1/${member.projectId}/cloudimages/${a}/members/${owner.projectId}`),
      404,
      'IMG.0121',
    );
    // The path's project must be the caller's.
    await expectImsError(
      await call(member, 'GET', `/v1/${owner.projectId}/cloudimages/${a}/members`),
      403,
      'IMG.0030',
    );
    // A stranger does not learn that the image exists.
    await expectImsError(
      await call(stranger, 'GET', `/v1/${stranger.projectId}/cloudimages/${a}/members`),
      404,
      'IMG.0027',
    );

    // Rejecting hides it from the default list again; accepting brings it back.
    await succeeded(member, answer(member, [a], 'rejected'));
    expect(await listed(member, a)).toBe(false);
    expect(await listed(member, a, 'visibility=shared&member_status=rejected')).toBe(true);
    await succeeded(member, answer(member, [a], 'accepted'));
    expect(await listed(member, a)).toBe(true);

    // The recipient's view: who shared what, and when.
    const view = (await (
      await call(member, 'GET', `/v1/${member.projectId}/cloudimages/shared-with-me`)
    ).json()) as Json;
    const entry = (view.shares as Json[]).find((x) => x.image_id === a)!;
    expect(entry).toMatchObject({
      image_name: 'a',
      owner: owner.projectId,
      owner_account_id: owner.accountId,
      member_type: 'project',
      shared_by: owner.userId,
      status: 'accepted',
      answered_by: 'project',
    });
    expect(Date.parse(entry.shared_at as string)).toBeGreaterThan(0);

    // Cancelling the share removes the member: the image is gone for it.
    await succeeded(
      owner,
      unshare(owner, { images: [a], projects: [member.projectId] }),
      'imsDelImageMembersJob',
    );
    expect(await canGet(member, a)).toBe(404);
    expect((await membersOf(owner, a)).members).toEqual([]);
    // Deleting again is already done: the job succeeds.
    await succeeded(owner, unshare(owner, { images: [a], projects: [member.projectId] }));
  });

  it('pages the member list with a base64 marker', async () => {
    const img = await privateImage(owner);
    const others = [member, stranger];
    await succeeded(owner, share(owner, { images: [img], projects: others.map((o) => o.projectId) }));
    const first = await membersOf(owner, img, '?limit=1');
    expect(first.members).toHaveLength(1);
    const marker = first.page_info.next_marker as string;
    expect(Buffer.from(marker, 'base64').toString()).toBe(first.members[0].member_id);
    const second = await membersOf(owner, img, `?limit=1&marker=${encodeURIComponent(marker)}`);
    expect(second.members).toHaveLength(1);
    expect(second.members[0].member_id).not.toBe(first.members[0].member_id);
    expect(second.page_info.next_marker).toBeUndefined();
    await expectImsError(
      await call(owner, 'GET', `/v1/${owner.projectId}/cloudimages/${img}/members?limit=0`),
      400,
      'IMG.0001',
    );
  });

  it('lets the owner delete an image shared by project id: the members lose it', async () => {
    const img = await privateImage(owner);
    await succeeded(owner, share(owner, { images: [img], projects: [member.projectId] }));
    await succeeded(member, answer(member, [img], 'accepted'));
    expect((await call(owner, 'DELETE', `/v2/images/${img}`)).status).toBe(204);
    expect(await canGet(member, img)).toBe(404);
    expect(await listed(member, img)).toBe(false);
  });

  it('lets an accepted member copy the image into its own private image, which outlives the source', async () => {
    const img = await privateImage(owner);
    await succeeded(owner, share(owner, { images: [img], projects: [member.projectId] }));
    // Pending: not yet (IMG.0196).
    await expectImsError(
      await call(member, 'POST', `/v1/cloudimages/${img}/copy`, { name: 'mine' }),
      400,
      'IMG.0196',
    );
    await succeeded(member, answer(member, [img], 'accepted'));
    const job = await succeeded(
      member,
      call(member, 'POST', `/v1/cloudimages/${img}/copy`, { name: 'mine' }),
    );
    const copy = job.entities.image_id as string;
    const shown = (await (await call(member, 'GET', `/v2/images/${copy}`)).json()) as Json;
    expect(shown).toMatchObject({ owner: member.projectId, visibility: 'private', status: 'active' });
    expect((await call(owner, 'DELETE', `/v2/images/${img}`)).status).toBe(204);
    const data = await fetch(`${s.url}/v2/images/${copy}/file`, {
      headers: { 'x-auth-token': member.token },
    });
    expect(data.status).toBe(200);
    expect((await data.arrayBuffer()).byteLength).toBe(1024);
  });

  it('counts a shared image against the owner only (image, image_shared, image_member)', async () => {
    const quota = async (c: Caller) => {
      const body = (await (await call(c, 'GET', '/v1/cloudimages/quota')).json()) as Json;
      return Object.fromEntries((body.quotas.resources as Json[]).map((r) => [r.type, r.used as number]));
    };
    const recipient = await projectIn(await newAccount());
    const before = { owner: await quota(owner), recipient: await quota(recipient) };
    const img = await privateImage(owner);
    await succeeded(
      owner,
      share(owner, { images: [img], projects: [recipient.projectId, stranger.projectId] }),
    );
    // Pending: nothing changes for the recipient.
    expect(await quota(recipient)).toEqual(before.recipient);
    // The recipient's image quota is full; it can still accept, and the image is listed.
    await admin('PUT', '/v1/cloudimages/quota', {
      project_id: recipient.projectId,
      quotas: { image: before.recipient.image },
    });
    await succeeded(recipient, answer(recipient, [img], 'accepted'));
    expect(await listed(recipient, img)).toBe(true);
    expect(await quota(recipient)).toEqual(before.recipient);
    const over = await call(recipient, 'POST', '/v2/images', { name: 'one too many', visibility: 'private' });
    expect(over.status).toBe(413);
    // The owner: one more image (made before the share), one more shared, two members on it.
    const after = await quota(owner);
    expect(after.image).toBe(before.owner.image! + 1);
    expect(after.image_shared).toBe(before.owner.image_shared! + 1);
    expect(after.image_member).toBe(Math.max(before.owner.image_member!, 2));
    // Unsharing gives the shared count back; the image stays the owner's.
    await succeeded(
      owner,
      unshare(owner, { images: [img], projects: [recipient.projectId, stranger.projectId] }),
    );
    expect((await quota(owner)).image_shared).toBe(before.owner.image_shared);
    expect((await quota(owner)).image).toBe(before.owner.image! + 1);
  });

  it('refuses hostile calls: answering for another project, the owner answering, sharing what one does not own', async () => {
    const img = await privateImage(owner);
    await succeeded(owner, share(owner, { images: [img], projects: [member.projectId] }));
    // A member answering on someone else's behalf, and the owner setting its member's status.
    await expectImsError(await answer(member, [img], 'accepted', stranger.projectId), 403, 'IMG.0030');
    await expectImsError(await answer(owner, [img], 'accepted', member.projectId), 403, 'IMG.0030');
    // The owner answering for its own project: the image is its own.
    const own = await waitJob(owner, await answer(owner, [img], 'accepted'));
    expect(own.status).toBe('FAIL');
    expect(own.entities.results).toEqual([
      expect.objectContaining({ image_id: img, status: 'failed', error_code: 'IMG.0047' }),
    ]);
    // A stranger answering an image not shared with it: not found.
    const strange = await waitJob(stranger, await answer(stranger, [img], 'accepted'));
    expect(strange.entities.results[0]).toMatchObject({ status: 'failed', error_code: 'IMG.0027' });
    expect((await membersOf(owner, img)).members[0].status).toBe('pending');
    // The member sharing the owner's image further.
    const further = await waitJob(
      member,
      await share(member, { images: [img], projects: [stranger.projectId] }),
    );
    expect(further.status).toBe('FAIL');
    expect(further.entities.results[0]).toMatchObject({ status: 'failed', error_code: 'IMG.0047' });
    // A stranger sharing a private image of the owner's: not found, not disclosed.
    const priv = await privateImage(owner);
    const hidden = await waitJob(
      stranger,
      await share(stranger, { images: [priv], projects: [member.projectId] }),
    );
    expect(hidden.entities.results[0]).toMatchObject({ status: 'failed', error_code: 'IMG.0027' });
    expect(await canGet(member, priv)).toBe(404);
    // A reader may look but not share.
    const reader = await projectIn(owner.accountId, 'reader');
    await expectImsError(
      await share(reader, { images: [img], projects: [member.projectId] }),
      403,
      'IMG.0026',
    );
  });

  it('checks targets before the job: self, unknown, another region', async () => {
    const img = await privateImage(owner);
    await expectImsError(await share(owner, { images: [img], projects: [owner.projectId] }), 400, 'IMG.0076');
    await expectImsError(await share(owner, { images: [img], projects: [randomUUID()] }), 400, 'IMG.0108');
    await expectImsError(
      await share(owner, { images: [img], domains: ['no-such-account'] }),
      400,
      'IMG.0108',
    );
    const far = randomBytes(16).toString('hex');
    await db.kysely
      .insertInto('projects')
      .values({
        id: far,
        name: uniq('far'),
        domain_id: member.accountId,
        region: 'RegionFar',
        description: '',
        enabled: 1,
        created_at: new Date().toISOString(),
      })
      .execute();
    await expectImsError(await share(owner, { images: [img], projects: [far] }), 400, 'IMG.0177');
    // Bodies.
    await expectImsError(await share(owner, { images: [img] }), 400, 'IMG.0041');
    await expectImsError(await share(owner, { images: [], projects: [member.projectId] }), 400, 'IMG.0066');
    await expectImsError(await share(owner, { images: 'x', projects: [member.projectId] }), 400, 'IMG.0001');
    await expectImsError(await call(owner, 'POST', '/v1/cloudimages/members'), 400, 'IMG.0007');
    await expectImsError(await answer(member, [img], 'pending'), 400, 'IMG.0001');
    const many = Array.from({ length: 101 }, () => randomUUID());
    await expectImsError(await share(owner, { images: many, projects: [member.projectId] }), 400, 'IMG.0088');
    expect(await visibility(owner, img)).toBe('private');
  });

  it('runs a batch that partly fails to the end: per-image results, the successful part stays done', async () => {
    const good = await privateImage(owner, 'good');
    const queued = (
      (await (await call(owner, 'POST', '/v2/images', { name: 'q', visibility: 'private' })).json()) as Json
    ).id as string;
    const pub = await activeImage(s, { token: s.adminToken, projectId: '' }, {
      visibility: 'public',
    } as Json);
    const gone = randomUUID();
    const encrypted = await privateImage(owner, 'enc');
    await db.kysely
      .insertInto('image_properties')
      .values({ image_id: encrypted, name: '__system__cmkid', value: 'key-1' })
      .execute();
    // The owner's own community image: only private images are shared.
    const community = await activeImage(s, owner, { visibility: 'community' } as Json);
    const job = await waitJob(
      owner,
      await share(owner, {
        images: [good, queued, pub, gone, encrypted, community],
        projects: [member.projectId],
      }),
    );
    expect(job.status).toBe('FAIL');
    expect(job.error_code).toBe('IMG.0046');
    expect(job.fail_reason).toMatch(/5 of 6 images failed/);
    expect((job.entities.results as Json[]).map((r) => [r.image_id, r.status, r.error_code])).toEqual([
      [good, 'success', undefined],
      [queued, 'failed', 'IMG.0046'],
      [pub, 'failed', 'IMG.0047'],
      [gone, 'failed', 'IMG.0027'],
      [encrypted, 'failed', 'IMG.0098'],
      [community, 'failed', 'IMG.0089'],
    ]);
    expect(await visibility(owner, community)).toBe('community');
    expect(await canGet(member, good)).toBe(200);
    expect(await visibility(owner, queued)).toBe('private');
    expect((await membersOf(owner, encrypted)).members).toEqual([]);
  });

  it('limits the members of an image (IMG.0088), counting those it has', async () => {
    const img = await privateImage(owner);
    const ids = Array.from({ length: 257 }, () => randomBytes(16).toString('hex'));
    await db.kysely
      .insertInto('projects')
      .values(
        ids.map((id) => ({
          id,
          name: id,
          domain_id: member.accountId,
          region: s.config.region,
          description: '',
          enabled: 1,
          created_at: new Date().toISOString(),
        })),
      )
      .execute();
    await succeeded(owner, share(owner, { images: [img], projects: ids.slice(0, 200) }));
    const over = await waitJob(owner, await share(owner, { images: [img], projects: ids.slice(200) }));
    expect(over.entities.results[0]).toMatchObject({ status: 'failed', error_code: 'IMG.0088' });
    // Atomic per image: none of the 57 went in; up to the limit does.
    expect((await membersOf(owner, img)).page_info.current_count).toBe(200);
    await succeeded(owner, share(owner, { images: [img], projects: ids.slice(200, 256) }));
    expect((await membersOf(owner, img)).page_info.current_count).toBe(256);
  });

  it('adds each member once when a job runs again after a crash', async () => {
    const img = await privateImage(owner);
    const payload = {
      owner: owner.projectId,
      userId: owner.userId,
      images: [img],
      targets: [
        { type: 'project' as const, id: member.projectId },
        { type: 'domain' as const, id: stranger.accountId },
      ],
      autoAccept: [{ projectId: member.projectId, accountId: member.accountId, rule: 'accept_own_account' }],
    };
    const audit = await createAuditService(db, s.config, systemClock);
    const handler = addMembersHandler({ repos: new Repositories(db.kysely), clock: systemClock, audit });
    const jobId = randomUUID();
    const run = (attempt: number) =>
      handler(
        { id: jobId, projectId: owner.projectId, payload, attempt },
        async () => {},
        new AbortController().signal,
      );
    const first = await run(1);
    const second = await run(2);
    expect(second).toEqual(first);
    const rows = await db.kysely
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', img)
      .execute();
    expect(rows.map((r) => [r.member_id, r.member_type, r.status]).sort()).toEqual(
      [
        [member.projectId, 'project', 'accepted'],
        [stranger.accountId, 'domain', 'pending'],
      ].sort(),
    );
    // The policy's accept was made once, and recorded once.
    const events = await db.kysely
      .selectFrom('audit_events')
      .selectAll()
      .where('job_id', '=', jobId)
      .execute();
    expect(events.map((e) => [e.operation, e.project_id, e.user_id, e.resource_id])).toEqual([
      ['updateMember', member.projectId, 'sharing-policy:accept_own_account', img],
    ]);
  });
});

describe(`IMS sharing by account (${TEST_DB})`, () => {
  it('reaches every project of the account in the region, new ones too; each answers for itself', async () => {
    const owner = await projectIn(await newAccount());
    const account = await newAccount();
    const d1 = await projectIn(account);
    const d2 = await projectIn(account);
    const img = await privateImage(owner);
    await succeeded(owner, share(owner, { images: [img], domains: [account] }));
    const later = await projectIn(account);
    for (const p of [d1, d2, later]) {
      expect(await canGet(p, img)).toBe(200);
      expect(await listed(p, img, 'visibility=shared&member_status=pending')).toBe(true);
      expect(await listed(p, img)).toBe(false);
    }
    await succeeded(d1, answer(d1, [img], 'accepted'));
    expect(await listed(d1, img)).toBe(true);
    expect(await listed(d1, img, 'visibility=shared&member_status=pending')).toBe(false);
    expect(await listed(d2, img)).toBe(false);
    expect((await membersOf(d1, img)).members).toEqual([
      expect.objectContaining({ member_id: d1.projectId, member_type: 'domain', status: 'accepted' }),
    ]);
    expect((await membersOf(owner, img)).members).toEqual([
      expect.objectContaining({ member_id: account, member_type: 'domain' }),
    ]);
    // Added by project id through Glance as well: the project's answer stands, in both views.
    const glanceAdd = await call(owner, 'POST', `/v2/images/${img}/members`, { member: d1.projectId });
    expect(((await glanceAdd.json()) as Json).status).toBe('accepted');
    expect(await listed(d1, img, 'visibility=shared&member_status=pending')).toBe(false);
    expect(await listed(d1, img)).toBe(true);
    await succeeded(owner, unshare(owner, { images: [img], projects: [d1.projectId] }));
    expect(await listed(d1, img, 'visibility=shared&member_status=pending')).toBe(true);
    await succeeded(d1, answer(d1, [img], 'accepted'));
    // Copying through an account share, once accepted.
    await succeeded(d1, call(d1, 'POST', `/v1/cloudimages/${img}/copy`, { name: 'c' }));

    // Not deleted while an account holds it; the error names the member to remove.
    const refused = await call(owner, 'DELETE', `/v2/images/${img}`);
    expect(refused.status).toBe(409);
    const text = await refused.text();
    expect(text).toContain('IMG.0105');
    expect(text).toContain(`domain ${account}`);
    expect(await canGet(d2, img)).toBe(200);

    await succeeded(owner, unshare(owner, { images: [img], domains: [account] }));
    expect(await canGet(d1, img)).toBe(404);
    expect(await listed(d1, img)).toBe(false);
    expect((await call(owner, 'DELETE', `/v2/images/${img}`)).status).toBe(204);
  });
});

describe(`IMS sharing by organization (${TEST_DB})`, () => {
  it('reaches the accounts of the organization or unit named by URN, and checks the URN', async () => {
    const mgmt = await newAccount();
    const owner = await projectIn(mgmt);
    const org = (
      await admin('POST', '/v1/organizations', {
        organization: { name: uniq('org'), management_account_id: mgmt },
      })
    ).organization as Json;
    const unit = (
      await admin('POST', `/v1/organizations/${org.id}/organizational-units`, {
        organizational_unit: { name: 'ou' },
      })
    ).organizational_unit as Json;
    const inUnit = await newAccount();
    const atRoot = await newAccount();
    await admin('PUT', `/v1/organizations/${org.id}/accounts/${inUnit}`, { account: { parent_id: unit.id } });
    await admin('PUT', `/v1/organizations/${org.id}/accounts/${atRoot}`);
    const e = await projectIn(inUnit);
    const f = await projectIn(atRoot);
    const img = await privateImage(owner);

    await succeeded(owner, share(owner, { images: [img], organizations: [unit.urn] }));
    expect(await canGet(e, img)).toBe(200);
    expect(await canGet(f, img)).toBe(404);
    const owned = (await membersOf(owner, img)).members as Json[];
    expect(owned).toEqual([
      expect.objectContaining({ member_type: 'organization', member_id: unit.urn, urn: unit.urn }),
    ]);
    // A bare id is normalised to the same URN: nothing is added twice.
    await succeeded(owner, share(owner, { images: [img], organizations: [unit.id] }));
    expect((await membersOf(owner, img)).members).toHaveLength(1);

    await succeeded(owner, share(owner, { images: [img], organizations: [org.urn] }));
    expect(await canGet(f, img)).toBe(200);
    const fView = (await membersOf(f, img)).members as Json[];
    expect(fView).toEqual([expect.objectContaining({ member_type: 'organization', urn: org.urn })]);

    // An account joining the unit later sees it too.
    const joiner = await newAccount();
    const j = await projectIn(joiner);
    expect(await canGet(j, img)).toBe(404);
    await admin('PUT', `/v1/organizations/${org.id}/accounts/${joiner}`, { account: { parent_id: unit.id } });
    expect(await canGet(j, img)).toBe(200);

    // Hostile URNs.
    await expectImsError(
      await share(owner, { images: [img], organizations: ['organizations::x:bogus'] }),
      400,
      'IMG.0001',
    );
    await expectImsError(
      await share(owner, { images: [img], organizations: [`organizations::${mgmt}:organization:o-nothere`] }),
      400,
      'IMG.0108',
    );
    // The right organization with the wrong account in the URN.
    await expectImsError(
      await share(owner, {
        images: [img],
        organizations: [`organizations::${atRoot}:organization:${org.id}`],
      }),
      400,
      'IMG.0108',
    );
    const foreignMgmt = await newAccount();
    const foreign = (
      await admin('POST', '/v1/organizations', {
        organization: { name: uniq('other'), management_account_id: foreignMgmt },
      })
    ).organization as Json;
    await expectImsError(
      await share(owner, { images: [img], organizations: [foreign.urn] }),
      400,
      'IMG.0161',
    );
    // An account outside any organization shares with none.
    const loner = await projectIn(await newAccount());
    const lonely = await privateImage(loner);
    await expectImsError(await share(loner, { images: [lonely], organizations: [org.urn] }), 400, 'IMG.0161');

    // Not deleted while shared by URN.
    const refused = await call(owner, 'DELETE', `/v2/images/${img}`);
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain(`organization ${org.urn}`);
    await succeeded(owner, unshare(owner, { images: [img], organizations: [org.urn, unit.id] }));
    expect(await canGet(e, img)).toBe(404);
    expect((await call(owner, 'DELETE', `/v2/images/${img}`)).status).toBe(204);
  });
});

describe(`sharing policy (${TEST_DB})`, () => {
  it('accepts at once what the own account or a chosen organization shares; others stay pending', async () => {
    const account = await newAccount();
    const owner = await projectIn(account);
    const sibling = await projectIn(account);
    const cautious = await projectIn(account);
    const policyPath = (c: Caller) => `/v1/${c.projectId}/cloudimages/sharing-policy`;
    const none = (await (await call(sibling, 'GET', policyPath(sibling))).json()) as Json;
    expect(none).toEqual({
      sharing_policy: { accept_own_account: false, accept_organizations: [], updated_at: null },
    });
    const set = await call(sibling, 'PUT', policyPath(sibling), {
      sharing_policy: { accept_own_account: true },
    });
    expect(set.status, await set.clone().text()).toBe(200);
    expect(((await set.json()) as Json).sharing_policy.accept_own_account).toBe(true);

    const img = await privateImage(owner);
    const shareJob = await succeeded(
      owner,
      share(owner, { images: [img], projects: [sibling.projectId, cautious.projectId] }),
    );
    expect(await listed(sibling, img)).toBe(true);
    expect(await listed(cautious, img)).toBe(false);
    const shares = (await (
      await call(sibling, 'GET', `/v1/${sibling.projectId}/cloudimages/shared-with-me`)
    ).json()) as Json;
    expect((shares.shares as Json[]).find((x) => x.image_id === img)).toMatchObject({
      status: 'accepted',
      answered_by: 'policy',
    });
    // The automatic accept is in the recipient's audit trail: its policy is the actor, naming the rule.
    const policyEvents = async (c: Caller, imageId: string) =>
      (
        (await (await call(c, 'GET', `/v1/${c.projectId}/traces?resource_id=${imageId}`)).json()) as {
          traces: Json[];
        }
      ).traces.filter((t) => String(t.user.id).startsWith('sharing-policy:'));
    const [auto] = await policyEvents(sibling, img);
    expect(auto).toMatchObject({
      trace_name: 'updateMember',
      resource_type: 'image',
      resource_id: img,
      project_id: sibling.projectId,
      domain_id: account,
      user: { id: 'sharing-policy:accept_own_account' },
      result: 'success',
      job_id: shareJob.job_id,
    });
    expect(await policyEvents(sibling, img)).toHaveLength(1);
    // Not in the cautious project's trail (it did not accept), nor in the owner's as its own.
    expect(await policyEvents(cautious, img)).toEqual([]);
    const ownerTrail = (
      (await (
        await call(owner, 'GET', `/v1/${owner.projectId}/traces?job_id=${shareJob.job_id}`)
      ).json()) as {
        traces: Json[];
      }
    ).traces;
    expect(ownerTrail.map((t) => [t.trace_name, t.user.id])).not.toContainEqual([
      'updateMember',
      'sharing-policy:accept_own_account',
    ]);
    // Someone else's account is not the own account.
    const outsider = await projectIn(await newAccount());
    const theirs = await privateImage(outsider);
    await succeeded(outsider, share(outsider, { images: [theirs], projects: [sibling.projectId] }));
    expect(await listed(sibling, theirs)).toBe(false);

    // An organization: images from accounts of it are accepted, by account share too.
    const org = (
      await admin('POST', '/v1/organizations', {
        organization: { name: uniq('org'), management_account_id: account },
      })
    ).organization as Json;
    const partner = await newAccount();
    await admin('PUT', `/v1/organizations/${org.id}/accounts/${partner}`);
    const recipient = await projectIn(partner);
    const p2 = await call(recipient, 'PUT', policyPath(recipient), {
      sharing_policy: { accept_organizations: [org.id] },
    });
    expect(((await p2.json()) as Json).sharing_policy.accept_organizations).toEqual([org.urn]);
    const img2 = await privateImage(owner);
    await succeeded(owner, share(owner, { images: [img2], domains: [partner] }));
    expect(await listed(recipient, img2)).toBe(true);
    expect((await policyEvents(recipient, img2)).map((t) => t.user.id)).toEqual([
      `sharing-policy:accept_organizations:${org.urn as string}`,
    ]);
    // The policy does not override an answer given before.
    const img3 = await privateImage(owner);
    await succeeded(owner, share(owner, { images: [img3], domains: [partner] }));
    expect(await listed(recipient, img3)).toBe(true);
    await succeeded(recipient, answer(recipient, [img3], 'rejected'));
    await succeeded(owner, share(owner, { images: [img3], projects: [recipient.projectId] }));
    expect(await listed(recipient, img3)).toBe(false);
    // One automatic accept (the first share), then the project's own reject: no second policy event.
    expect(await policyEvents(recipient, img3)).toHaveLength(1);

    // Hostile bodies, and another project's policy.
    await expectImsError(
      await call(recipient, 'PUT', policyPath(recipient), {
        sharing_policy: { accept_organizations: ['nope'] },
      }),
      400,
      'IMG.0001',
    );
    await expectImsError(
      await call(recipient, 'PUT', policyPath(recipient), { sharing_policy: { accept_own_account: 'yes' } }),
      400,
      'IMG.0001',
    );
    await expectImsError(
      await call(recipient, 'PUT', policyPath(recipient), { sharing_policy: { auto: true } }),
      400,
      'IMG.0001',
    );
    await expectImsError(
      await call(recipient, 'PUT', policyPath(owner), { sharing_policy: {} }),
      403,
      'IMG.0030',
    );
  });
});

describe(`audit of sharing (${TEST_DB})`, () => {
  it('records each batch call with its job, and the end of the job', async () => {
    const owner = await projectIn(await newAccount());
    const member = await projectIn(await newAccount());
    const img = await privateImage(owner);
    const job = await succeeded(owner, share(owner, { images: [img], projects: [member.projectId] }));
    await succeeded(member, answer(member, [img], 'accepted'));
    await succeeded(owner, unshare(owner, { images: [img], projects: [member.projectId] }));
    const traces = async (c: Caller) =>
      ((await (await call(c, 'GET', `/v1/${c.projectId}/traces`)).json()) as { traces: Json[] }).traces;
    // The job's end is recorded once the worker has finished: allow it a moment.
    let mine: Json[] = [];
    for (let i = 0; i < 50; i++) {
      mine = (await traces(owner)).filter((t) => t.job_id === job.job_id);
      if (mine.length === 2) break;
      await new Promise((done) => setTimeout(done, 20));
    }
    expect(mine.map((t) => [t.trace_name, t.resource_id])).toEqual([
      ['addMember', img],
      ['addMember', img],
    ]);
    const names = (await traces(owner)).map((t) => t.trace_name);
    expect(names).toContain('deleteMember');
    expect((await traces(member)).map((t) => t.trace_name)).toContain('updateMember');
  });
});
