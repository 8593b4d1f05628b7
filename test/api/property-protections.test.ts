import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
type Caller = { token: string; projectId: string };

const PROTECTIONS = `
[^x_billing_.*]
create = admin
read = admin,member
update = admin
delete = admin

[^x_secret_.*]
create = admin
read = admin
update = admin
delete = admin

[^x_locked$]
create = !
read = @
update = !
delete = !

[.*]
create = @
read = @
update = @
delete = @
`;

let s: TestServer;
let dir: string;
let owner: Caller;
let reader: Caller;
let admin: Caller;
const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-protections-'));
  const file = path.join(dir, 'property-protections.conf');
  await fs.writeFile(file, PROTECTIONS);
  s = await startTestServer({ IMS_PROPERTY_PROTECTION_FILE: file, IMS_DEFAULT_IMAGE_QUOTA: 'unlimited' });
  owner = await s.tokenFor('protected-owner', 'pia', 'member');
  reader = await s.tokenFor('protected-owner', 'rolf', 'reader');
  const me = await s.request('GET', '/v3/auth/tokens', { headers: { 'x-subject-token': s.adminToken } });
  admin = {
    token: s.adminToken,
    projectId: ((await me.json()) as { token: { project: { id: string } } }).token.project.id,
  };
});
afterAll(async () => {
  await s?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const create = (caller: Caller, body: Json) => s.request('POST', '/v2/images', { token: caller.token, body });
const patch = (caller: Caller, id: string, ops: Json[]) =>
  s.request('PATCH', `/v2/images/${id}`, { token: caller.token, body: ops, headers: PATCH });
const show = async (caller: Caller, id: string): Promise<Json> =>
  (await (await s.request('GET', `/v2/images/${id}`, { token: caller.token })).json()) as Json;

/** IMS lists and changes only active images. */
async function upload(id: string): Promise<void> {
  const res = await s.request('PUT', `/v2/images/${id}/file`, {
    token: owner.token,
    body: Buffer.alloc(1024),
    headers: { 'content-type': 'application/octet-stream' },
  });
  expect(res.status).toBe(204);
}

/** An image of the owner's project on which an admin has set the protected properties. */
async function imageWithProtectedProperties(): Promise<string> {
  const res = await create(owner, { name: 'guarded', disk_format: 'raw', container_format: 'bare' });
  expect(res.status).toBe(201);
  const id = ((await res.json()) as Json).id as string;
  const set = await patch(admin, id, [
    { op: 'add', path: '/x_billing_code', value: 'B-100' },
    { op: 'add', path: '/x_secret_key', value: 'hunter2' },
  ]);
  expect(set.status).toBe(200);
  return id;
}

describe('property protections (IMS_PROPERTY_PROTECTION_FILE)', () => {
  it('refuses a create carrying a property the role may not create, and stores nothing', async () => {
    const res = await create(owner, { name: 'sneaky', x_billing_code: 'FREE' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("Property 'x_billing_code' is protected");
    const list = (await (
      await s.request('GET', '/v2/images?name=sneaky', { token: owner.token })
    ).json()) as {
      images: Json[];
    };
    expect(list.images).toEqual([]);
  });

  it('lets the role create what the file opens to everyone', async () => {
    const res = await create(owner, { name: 'open', os_distro: 'debian' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as Json).os_distro).toBe('debian');
  });

  it('hides properties the role may not read, in show, list and the IMS list', async () => {
    const id = await imageWithProtectedProperties();
    const asOwner = await show(owner, id);
    expect(asOwner.x_billing_code).toBe('B-100');
    expect(asOwner).not.toHaveProperty('x_secret_key');
    expect(await show(reader, id)).not.toHaveProperty('x_billing_code');
    expect((await show(admin, id)).x_secret_key).toBe('hunter2');

    const list = (await (
      await s.request('GET', '/v2/images?name=guarded', { token: owner.token })
    ).json()) as {
      images: Json[];
    };
    expect(list.images.length).toBeGreaterThan(0);
    for (const image of list.images) expect(image).not.toHaveProperty('x_secret_key');

    await upload(id);
    const ims = (await (
      await s.request('GET', `/v2/cloudimages?id=${id}`, { token: owner.token })
    ).json()) as { images: Json[] };
    expect(ims.images).toHaveLength(1);
    expect(ims.images[0]).not.toHaveProperty('x_secret_key');
    expect(ims.images[0]!.x_billing_code).toBe('B-100');
  });

  it('refuses update and delete of a readable protected property, and leaves it as it was', async () => {
    const id = await imageWithProtectedProperties();
    const replace = await patch(owner, id, [{ op: 'replace', path: '/x_billing_code', value: 'FREE' }]);
    expect(replace.status).toBe(403);
    const remove = await patch(owner, id, [{ op: 'remove', path: '/x_billing_code' }]);
    expect(remove.status).toBe(403);
    expect((await show(admin, id)).x_billing_code).toBe('B-100');
  });

  it('treats a property the role cannot read as absent: replace conflicts, add is a create', async () => {
    const id = await imageWithProtectedProperties();
    const replace = await patch(owner, id, [{ op: 'replace', path: '/x_secret_key', value: 'mine' }]);
    expect(replace.status).toBe(409);
    const add = await patch(owner, id, [{ op: 'add', path: '/x_secret_key', value: 'mine' }]);
    expect(add.status).toBe(403);
    expect((await show(admin, id)).x_secret_key).toBe('hunter2');
  });

  it('keeps hidden properties when the role changes the ones it may', async () => {
    const id = await imageWithProtectedProperties();
    const res = await patch(owner, id, [
      { op: 'add', path: '/os_distro', value: 'ubuntu' },
      { op: 'replace', path: '/name', value: 'renamed' },
    ]);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.os_distro).toBe('ubuntu');
    expect(body).not.toHaveProperty('x_secret_key');
    const full = await show(admin, id);
    expect(full).toMatchObject({ x_secret_key: 'hunter2', x_billing_code: 'B-100', os_distro: 'ubuntu' });
  });

  it('lets no role, admin included, touch a property marked "!"', async () => {
    const id = await imageWithProtectedProperties();
    const res = await patch(admin, id, [{ op: 'add', path: '/x_locked', value: 'yes' }]);
    expect(res.status).toBe(403);
    const created = await create(admin, { name: 'locked', x_locked: 'yes' });
    expect(created.status).toBe(403);
  });

  it('answers the IMS dialect on the IMS update route', async () => {
    const id = await imageWithProtectedProperties();
    await upload(id);
    const res = await s.request('PATCH', `/v2/cloudimages/${id}`, {
      token: owner.token,
      body: [{ op: 'replace', path: '/x_billing_code', value: 'FREE' }],
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('IMG.0035');
    expect(body.error.message).toContain('x_billing_code');
  });
});

describe('a malformed protection file', () => {
  it('stops the start-up with the problems listed', async () => {
    const bad = path.join(dir, 'bad.conf');
    await fs.writeFile(bad, '[(oops]\ncreate = @\n');
    await expect(startTestServer({ IMS_PROPERTY_PROTECTION_FILE: bad })).rejects.toThrow(
      /is not a regular expression/,
    );
  });
});
