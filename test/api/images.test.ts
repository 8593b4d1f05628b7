import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let member: { token: string; projectId: string };
let reader: { token: string; projectId: string };
let stranger: { token: string; projectId: string };

beforeAll(async () => {
  s = await startTestServer();
  member = await s.tokenFor('alpha', 'alice', 'member');
  reader = await s.tokenFor('alpha', 'rita', 'reader');
  stranger = await s.tokenFor('beta', 'bob', 'member');
});
afterAll(async () => s?.close());

const create = async (body: Json, token = member.token) => {
  const res = await s.request('POST', '/v2/images', { token, body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Json;
};
const patch = (
  id: string,
  ops: unknown,
  token = member.token,
  type = 'application/openstack-images-v2.1-json-patch',
) => s.request('PATCH', `/v2/images/${id}`, { token, body: ops, headers: { 'content-type': type } });

describe(`Glance image core (${TEST_DB})`, () => {
  it('creates an image with Glance defaults and shows it', async () => {
    const image = await create({
      name: 'cirros',
      disk_format: 'qcow2',
      container_format: 'bare',
      min_disk: 1,
      os_distro: 'cirros',
    });
    expect(image).toMatchObject({
      name: 'cirros',
      status: 'queued',
      visibility: 'shared',
      protected: false,
      os_hidden: false,
      owner: member.projectId,
      size: null,
      virtual_size: null,
      checksum: null,
      min_disk: 1,
      min_ram: 0,
      disk_format: 'qcow2',
      container_format: 'bare',
      tags: [],
      os_distro: 'cirros',
      self: `/v2/images/${image.id}`,
      file: `/v2/images/${image.id}/file`,
      schema: '/v2/schemas/image',
    });
    expect(image.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const shown = await s.request('GET', `/v2/images/${image.id}`, { token: member.token });
    expect(shown.status).toBe(200);
    expect(shown.headers.get('x-openstack-request-id')).toMatch(/^req-/);
    expect(await shown.json()).toEqual(image);
  });

  it('accepts a client-chosen id once', async () => {
    const id = '0ac1b9a4-4b07-4b4c-8e0f-2c4b2f0e7d11';
    expect((await create({ id, name: 'chosen' })).id).toBe(id);
    const again = await s.request('POST', '/v2/images', { token: member.token, body: { id } });
    expect(again.status).toBe(409);
  });

  it("hides another project's non-public image as not found, and lets nobody else change it", async () => {
    const image = await create({ name: 'secret', visibility: 'private' });
    const res = await s.request('GET', `/v2/images/${image.id}`, { token: stranger.token });
    expect(res.status).toBe(404);
    expect(((await res.json()) as Json).message).toContain('No image found');
    expect(
      (await patch(image.id as string, [{ op: 'replace', path: '/name', value: 'x' }], stranger.token))
        .status,
    ).toBe(404);
    expect((await s.request('DELETE', `/v2/images/${image.id}`, { token: stranger.token })).status).toBe(404);
    // a reader of the owning project sees it but cannot change it
    expect((await s.request('GET', `/v2/images/${image.id}`, { token: reader.token })).status).toBe(200);
    expect(
      (await patch(image.id as string, [{ op: 'replace', path: '/name', value: 'x' }], reader.token)).status,
    ).toBe(403);
    // the admin sees everything
    expect((await s.request('GET', `/v2/images/${image.id}`)).status).toBe(200);
  });

  it('patches base and custom properties with Glance semantics', async () => {
    const image = await create({ name: 'p', color: 'red' });
    const id = image.id as string;
    let res = await patch(id, [
      { op: 'replace', path: '/name', value: 'renamed' },
      { op: 'add', path: '/size_hint', value: 'big' },
      { op: 'remove', path: '/color' },
      { op: 'add', path: '/min_ram', value: 512 },
      { op: 'replace', path: '/tags', value: ['a', 'b', 'a'] },
    ]);
    expect(res.status).toBe(200);
    const updated = (await res.json()) as Json;
    expect(updated).toMatchObject({ name: 'renamed', size_hint: 'big', min_ram: 512, tags: ['a', 'b'] });
    expect(updated).not.toHaveProperty('color');
    expect(String(updated.updated_at) >= String(image.updated_at)).toBe(true);

    // media type v2.1: add on an existing property sets it (only the v2.0 form made it a conflict)
    expect((await patch(id, [{ op: 'add', path: '/size_hint', value: 'big' }])).status).toBe(200);
    expect((await patch(id, [{ op: 'replace', path: '/missing', value: 'x' }])).status).toBe(409);
    expect((await patch(id, [{ op: 'remove', path: '/missing' }])).status).toBe(409);
    expect((await patch(id, [{ op: 'remove', path: '/name' }])).status).toBe(403);
    res = await patch(id, [{ op: 'replace', path: '/status', value: 'active' }]);
    expect(res.status).toBe(403);
    expect(((await res.json()) as Json).message).toBe("Attribute 'status' is read-only.");
    expect((await patch(id, [{ op: 'add', path: '/os_glance_import_task', value: 'x' }])).status).toBe(403);
    expect((await patch(id, [{ op: 'replace', path: '/min_disk', value: 'ten' }])).status).toBe(400);
    expect((await patch(id, [{ op: 'replace', path: '/visibility', value: 'public' }])).status).toBe(403);
    expect(
      (await patch(id, [{ op: 'replace', path: '/name', value: 'x' }], member.token, 'application/json'))
        .status,
    ).toBe(415);
    // a refused patch changes nothing
    const after = (await (
      await s.request('GET', `/v2/images/${id}`, { token: member.token })
    ).json()) as Json;
    expect(after).toMatchObject({ name: 'renamed', size_hint: 'big', visibility: 'shared' });
  });

  it('takes the v2.0 (draft 4) patch form tempest sends, where add of an existing one conflicts', async () => {
    const image = await create({ name: 'd4', color: 'red' });
    const id = image.id as string;
    const v20 = 'application/openstack-images-v2.0-json-patch';
    const res = await patch(
      id,
      [
        { replace: '/name', value: 'renamed' },
        { add: '/size', value: 'x' },
      ],
      member.token,
      v20,
    );
    // size is read-only: the whole patch is refused
    expect(res.status).toBe(403);
    const ok = await patch(
      id,
      [{ replace: '/name', value: 'renamed' }, { add: '/shape', value: 'round' }, { remove: '/color' }],
      member.token,
      v20,
    );
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect(await ok.json()).toMatchObject({ name: 'renamed', shape: 'round' });
    expect((await patch(id, [{ add: '/shape', value: 'square' }], member.token, v20)).status).toBe(409);
    expect((await patch(id, [{ add: '/name', value: 'again' }], member.token, v20)).status).toBe(409);
    // exactly one operation member; the v2.1 form is not the v2.0 one
    expect((await patch(id, [{ add: '/a', replace: '/b', value: 1 }], member.token, v20)).status).toBe(400);
    expect((await patch(id, [{ op: 'replace', path: '/name', value: 'x' }], member.token, v20)).status).toBe(
      400,
    );
    expect((await patch(id, [{ replace: '/name', value: 'x' }])).status).toBe(400);
    expect((await patch(id, [['replace', '/name']], member.token, v20)).status).toBe(400);
  });

  it('answers 404 for an empty image id (/v2/images/), as Glance does', async () => {
    expect((await s.request('GET', '/v2/images/', { token: member.token })).status).toBe(404);
    expect((await s.request('GET', '/v2/images', { token: member.token })).status).toBe(200);
  });

  it('lets only admins publish, and everyone see public images', async () => {
    const res = await s.request('POST', '/v2/images', {
      token: member.token,
      body: { name: 'pub', visibility: 'public' },
    });
    expect(res.status).toBe(403);
    const image = await create({ name: 'pub', visibility: 'public' }, s.adminToken);
    expect((await s.request('GET', `/v2/images/${image.id}`, { token: stranger.token })).status).toBe(200);
    expect(
      (await patch(image.id as string, [{ op: 'replace', path: '/name', value: 'x' }], stranger.token))
        .status,
    ).toBe(403);
  });

  it('adds and removes tags, idempotently, within the limit', async () => {
    const image = await create({ name: 'tags' });
    const id = image.id as string;
    expect((await s.request('PUT', `/v2/images/${id}/tags/one`, { token: member.token })).status).toBe(204);
    expect((await s.request('PUT', `/v2/images/${id}/tags/one`, { token: member.token })).status).toBe(204);
    expect(
      (
        await s.request('PUT', `/v2/images/${id}/tags/${encodeURIComponent('two words')}`, {
          token: member.token,
        })
      ).status,
    ).toBe(204);
    let shown = (await (await s.request('GET', `/v2/images/${id}`, { token: member.token })).json()) as Json;
    expect(shown.tags).toEqual(['one', 'two words']);
    expect((await s.request('DELETE', `/v2/images/${id}/tags/one`, { token: member.token })).status).toBe(
      204,
    );
    expect((await s.request('DELETE', `/v2/images/${id}/tags/one`, { token: member.token })).status).toBe(
      404,
    );
    shown = (await (await s.request('GET', `/v2/images/${id}`, { token: member.token })).json()) as Json;
    expect(shown.tags).toEqual(['two words']);
    const many = Array.from({ length: 127 }, (_, i) => `t${i}`);
    expect((await patch(id, [{ op: 'replace', path: '/tags', value: [...many, 'two words'] }])).status).toBe(
      200,
    );
    const over = await s.request('PUT', `/v2/images/${id}/tags/one-too-many`, { token: member.token });
    expect(over.status).toBe(413);
  });

  it('deletes, refusing protected images', async () => {
    const image = await create({ name: 'keep', protected: true });
    const id = image.id as string;
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: member.token })).status).toBe(403);
    expect((await patch(id, [{ op: 'replace', path: '/protected', value: false }])).status).toBe(200);
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: member.token })).status).toBe(204);
    expect((await s.request('GET', `/v2/images/${id}`, { token: member.token })).status).toBe(404);
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: member.token })).status).toBe(404);
    // deleted ids are never reused
    expect((await s.request('POST', '/v2/images', { token: member.token, body: { id } })).status).toBe(409);
  });

  it('deactivates and reactivates only active images', async () => {
    const image = await create({ name: 'act' });
    const id = image.id as string;
    const res = await s.request('POST', `/v2/images/${id}/actions/deactivate`, { token: member.token });
    expect(res.status).toBe(403);
    expect(((await res.json()) as Json).message).toContain("status 'queued'");
  });
});

describe(`GET /v2/images (${TEST_DB})`, () => {
  let ids: string[] = [];
  let project: { token: string; projectId: string };

  beforeAll(async () => {
    project = await s.tokenFor('listing', 'lisa', 'member');
    ids = [];
    for (let i = 0; i < 7; i++) {
      const image = await create(
        {
          name: `img-${i % 3}`,
          disk_format: i % 2 ? 'qcow2' : 'raw',
          container_format: 'bare',
          tags: i < 3 ? ['web'] : ['db'],
          os_hidden: i === 6,
          min_ram: i * 128,
          flavor: i === 4 ? 'large' : 'small',
          visibility: i === 5 ? 'private' : 'shared',
        },
        project.token,
      );
      ids.push(image.id as string);
    }
  });

  const list = async (query: string, token = project.token) => {
    const res = await s.request('GET', `/v2/images${query}`, { token });
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as { images: Json[]; first: string; next?: string; schema: string };
  };
  // Public images of other tests show up in every list; look at this project's own.
  const names = (page: { images: Json[] }) =>
    page.images.filter((i) => i.owner === project.projectId).map((i) => i.id);

  it('lists own images newest first, hiding os_hidden ones', async () => {
    const page = await list('');
    expect(page.schema).toBe('/v2/schemas/images');
    expect(page.first).toBe('/v2/images');
    expect(names(page)).toEqual(ids.slice(0, 6).reverse());
    expect(names(await list('?os_hidden=true'))).toEqual([ids[6]]);
  });

  it('filters by name, in-lists, formats, tags, properties, sizes and times', async () => {
    expect(names(await list('?name=img-1&sort_dir=asc'))).toEqual([ids[1], ids[4]]);
    expect(names(await list('?name=in:img-0,img-2&sort=created_at:asc'))).toEqual([
      ids[0],
      ids[2],
      ids[3],
      ids[5],
    ]);
    expect(names(await list('?disk_format=qcow2&sort_dir=asc'))).toEqual([ids[1], ids[3], ids[5]]);
    expect(names(await list('?tag=web&sort_dir=asc'))).toEqual([ids[0], ids[1], ids[2]]);
    expect(names(await list('?tag=web&tag=db'))).toEqual([]);
    expect(names(await list('?flavor=large'))).toEqual([ids[4]]);
    expect(names(await list(`?id=in:${ids[0]},${ids[3]}&sort_dir=asc`))).toEqual([ids[0], ids[3]]);
    expect(names(await list('?visibility=private'))).toEqual([ids[5]]);
    expect(names(await list('?status=queued&limit=2'))).toHaveLength(2);
    expect(names(await list('?size_min=1'))).toEqual([]);
    // base attributes Glance matches as columns, not as custom properties
    expect(names(await list('?min_ram=256'))).toEqual([ids[2]]);
    expect(names(await list('?min_ram=256&size=0'))).toEqual([]);
    expect(names(await list('?checksum=d41d8cd98f00b204e9800998ecf8427e'))).toEqual([]);
    expect((await s.request('GET', '/v2/images?size=big', { token: project.token })).status).toBe(400);
    const first = (await (
      await s.request('GET', `/v2/images/${ids[0]}`, { token: project.token })
    ).json()) as Json;
    const since = await list(`?created_at=gt:${first.created_at as string}&sort_dir=asc`);
    // second resolution: images created in the same second as the first are not "greater"
    expect(names(since).every((id) => ids.includes(id as string) && id !== ids[0])).toBe(true);
    expect(names(await list('?created_at=lt:2000-01-01T00:00:00Z'))).toEqual([]);
  });

  it('sorts by several keys and pages with markers and next links', async () => {
    const all = names(await list('?sort=name:asc,min_ram:desc'));
    expect(all).toEqual([ids[3], ids[0], ids[4], ids[1], ids[5], ids[2]]);
    const legacy = names(await list('?sort_key=name&sort_key=min_ram&sort_dir=asc&sort_dir=desc'));
    expect(legacy).toEqual(all);
    const seen: unknown[] = [];
    let page = await list(`?sort=name:asc,min_ram:desc&limit=4&owner=${project.projectId}`);
    seen.push(...names(page));
    expect(page.next).toContain('marker=');
    expect(page.next).toContain('limit=4');
    expect(page.first).toBe(`/v2/images?sort=name%3Aasc%2Cmin_ram%3Adesc&limit=4&owner=${project.projectId}`);
    page = await list(page.next!.replace('/v2/images', ''));
    seen.push(...names(page));
    expect(page.next).toBeUndefined();
    expect(seen).toEqual(all);
  });

  it('refuses bad queries with 400', async () => {
    for (const q of [
      '?limit=-1',
      '?limit=x',
      '?sort_key=nope',
      '?sort=name:up',
      '?sort=name&sort_key=name',
      '?status=bogus',
      '?created_at=gt:yesterday',
      '?protected=maybe',
      '?visibility=everyone',
      '?marker=00000000-0000-0000-0000-000000000000',
    ]) {
      const res = await s.request('GET', `/v2/images${q}`, { token: project.token });
      expect(res.status, q).toBe(400);
    }
  });

  it("never lists another project's private or shared images", async () => {
    const page = await list('', stranger.token);
    expect(page.images.some((i) => ids.includes(i.id as string))).toBe(false);
    expect(
      names(await list('?visibility=all', stranger.token)).some((id) => ids.includes(id as string)),
    ).toBe(false);
    // a marker the caller cannot see is as good as missing
    const res = await s.request('GET', `/v2/images?marker=${ids[0]}`, { token: stranger.token });
    expect(res.status).toBe(400);
  });
});
