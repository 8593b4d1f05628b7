import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
type Caller = { token: string; projectId: string };
let s: TestServer;
let alice: Caller;
let rita: Caller;
let bob: Caller;

beforeAll(async () => {
  s = await startTestServer();
  alice = await s.tokenFor('alpha', 'alice', 'member');
  rita = await s.tokenFor('alpha', 'rita', 'reader');
  bob = await s.tokenFor('beta', 'bob', 'member');
});
afterAll(async () => s?.close());

const create = async (body: Json = {}, who: Caller = alice): Promise<string> => {
  const res = await s.request('POST', '/v2/images', { token: who.token, body: { name: 'img', ...body } });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
};
const glanceTags = async (id: string, who: Caller = alice): Promise<string[]> => {
  const res = await s.request('GET', `/v2/images/${id}`, { token: who.token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { tags: string[] }).tags;
};
const imsTags = async (id: string, who: Caller = alice) => {
  const res = await s.request('GET', `/v2/${who.projectId}/images/${id}/tags`, { token: who.token });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { tags: { key: string; value: string }[] }).tags;
};
const addTag = (id: string, tag: unknown, who: Caller = alice) =>
  s.request('POST', `/v2/${who.projectId}/images/${id}/tags`, { token: who.token, body: { tag } });
const batch = (id: string, body: unknown, who: Caller = alice) =>
  s.request('POST', `/v2/${who.projectId}/images/${id}/tags/action`, { token: who.token, body });
const resources = (body: unknown, who: Caller = alice) =>
  s.request('POST', `/v2/${who.projectId}/images/resource_instances/action`, { token: who.token, body });

/** An IMS error: status and IMG code, in the IMS envelope. */
async function expectIms(res: Response, status: number, code: string): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  return body.error.message;
}

describe(`IMS key/value tags, every generation (${TEST_DB})`, () => {
  it('adds one tag (AddImageTag), lists it (ListImageTags) and shows it as key=value to Glance', async () => {
    const id = await create();
    expect((await addTag(id, { key: 'env', value: 'prod' })).status).toBe(204);
    expect((await addTag(id, { key: 'team', value: '' })).status).toBe(204);
    expect(await imsTags(id)).toEqual([
      { key: 'env', value: 'prod' },
      { key: 'team', value: '' },
    ]);
    expect(await glanceTags(id)).toEqual(['env=prod', 'team']);
    // Re-adding a key updates its value; the same pair again changes nothing.
    expect((await addTag(id, { key: 'env', value: 'dev' })).status).toBe(204);
    expect((await addTag(id, { key: 'env', value: 'dev' })).status).toBe(204);
    expect(await glanceTags(id)).toEqual(['env=dev', 'team']);
    // Glance's tag filter finds it as key=value.
    const listed = await s.request('GET', '/v2/images?tag=env=dev', { token: alice.token });
    expect(((await listed.json()) as { images: { id: string }[] }).images.map((i) => i.id)).toEqual([id]);
  });

  it('shares the store with Glance simple tags both ways', async () => {
    const id = await create({ tags: ['simple'] });
    expect(await imsTags(id)).toEqual([{ key: 'simple', value: '' }]);
    expect((await addTag(id, { key: 'os', value: 'linux' })).status).toBe(204);
    // A Glance simple tag with a key/value tag's key replaces it (one value per key).
    expect((await s.request('PUT', `/v2/images/${id}/tags/os`, { token: alice.token })).status).toBe(204);
    expect(await imsTags(id)).toEqual([
      { key: 'os', value: '' },
      { key: 'simple', value: '' },
    ]);
    // Glance can remove a key/value tag by its key=value string.
    expect((await addTag(id, { key: 'os', value: 'bsd' })).status).toBe(204);
    const del = await s.request('DELETE', `/v2/images/${id}/tags/${encodeURIComponent('os=bsd')}`, {
      token: alice.token,
    });
    expect(del.status).toBe(204);
    expect(await glanceTags(id)).toEqual(['simple']);
  });

  it('takes legacy key.value and image_tag objects on PUT /v1/cloudimages/tags', async () => {
    const id = await create();
    const put = (body: unknown) => s.request('PUT', '/v1/cloudimages/tags', { token: alice.token, body });
    expect((await put({ image_id: id, tag: 'stage.beta' })).status).toBe(204);
    expect((await put({ image_id: id, image_tag: { key: 'owner', value: 'ops' } })).status).toBe(204);
    expect((await put({ image_id: id, tag: 'stage.ga' })).status).toBe(204);
    expect(await glanceTags(id)).toEqual(['owner=ops', 'stage=ga']);
    await expectIms(
      await put({ image_id: id, tag: 'a.b', image_tag: { key: 'a', value: 'b' } }),
      400,
      'IMG.0115',
    );
    await expectIms(await put({ image_id: id }), 400, 'IMG.0115');
    await expectIms(await put({ image_id: id, tag: 'a.b.c' }), 400, 'IMG.0115');
    await expectIms(await put({ image_id: 42, tag: 'a.b' }), 400, 'IMG.0001');
    await expectIms(await put({ image_id: id, tag: true }), 400, 'IMG.0115');
  });

  it('creates and deletes in batches (BatchAddOrDeleteTags, BatchDeleteTags)', async () => {
    const id = await create();
    const created = await batch(id, {
      action: 'create',
      tags: [
        { key: 'a', value: '1' },
        { key: 'b', value: '2' },
        { key: 'c', value: '3' },
        { key: 'd', value: '' },
      ],
    });
    expect(created.status).toBe(204);
    // Delete by key and value: a value that does not match keeps the tag; absent keys are ignored.
    const deleted = await batch(id, {
      action: 'delete',
      tags: [
        { key: 'a', value: '1' },
        { key: 'b', value: 'other' },
        { key: 'nope', value: '' },
        { key: 'd' },
      ],
    });
    expect(deleted.status).toBe(204);
    expect(await glanceTags(id)).toEqual(['b=2', 'c=3']);
    const v1 = await s.request('DELETE', `/v1/${alice.projectId}/cloudimages/${id}/tags/delete`, {
      token: alice.token,
      body: {
        tags: [
          { key: 'b', value: '2' },
          { key: 'x y', value: 'any chars = fine here' },
        ],
      },
    });
    expect(v1.status).toBe(204);
    expect(await glanceTags(id)).toEqual(['c=3']);
    await expectIms(await batch(id, { action: 'update', tags: [{ key: 'a', value: '' }] }), 400, 'IMG.0001');
    await expectIms(await batch(id, { action: 'create', tags: 'a=b' }), 400, 'IMG.0115');
  });

  it('deletes one key (DeleteImageTag), 404 when the key is absent', async () => {
    const id = await create();
    expect((await addTag(id, { key: 'k', value: 'v' })).status).toBe(204);
    const del = () =>
      s.request('DELETE', `/v2/${alice.projectId}/images/${id}/tags/k`, { token: alice.token });
    expect((await del()).status).toBe(204);
    await expectIms(await del(), 404, 'IMG.0121');
    expect(await glanceTags(id)).toEqual([]);
  });

  it('lists the project tags (ListImagesTags) and distinct tags of listed images (ListTags)', async () => {
    const other = await s.tokenFor('gamma', 'gina', 'member');
    const one = await create({ name: 'one' }, other);
    const two = await create({ name: 'two' }, other);
    expect((await addTag(one, { key: 'env', value: 'prod' }, other)).status).toBe(204);
    expect((await addTag(two, { key: 'env', value: 'dev' }, other)).status).toBe(204);
    expect((await addTag(two, { key: 'tier', value: '' }, other)).status).toBe(204);
    const res = await s.request('GET', `/v2/${other.projectId}/images/tags`, { token: other.token });
    expect(await res.json()).toEqual({
      tags: [
        { key: 'env', values: ['dev', 'prod'] },
        { key: 'tier', values: [''] },
      ],
    });
    const listTags = async (q: string) => {
      const r = await s.request('GET', `/v1/cloudimages/tags${q}`, { token: other.token });
      expect(r.status, await r.clone().text()).toBe(200);
      return ((await r.json()) as { tags: string[] }).tags;
    };
    expect(await listTags('')).toEqual(['env=dev', 'env=prod', 'tier']);
    expect(await listTags('?name=one')).toEqual(['env=prod']);
    expect(await listTags(`?id=${two}`)).toEqual(['env=dev', 'tier']);
    expect(await listTags('?limit=2&page=2')).toEqual(['tier']);
    expect(await listTags('?__imagetype=market')).toEqual([]);
    expect(await listTags('?__imagetype=gold')).toEqual([]);
    // Another project sees none of them.
    const stranger = await s.request('GET', `/v2/${bob.projectId}/images/tags`, { token: bob.token });
    expect(((await stranger.json()) as { tags: unknown[] }).tags).not.toContainEqual(
      expect.objectContaining({ key: 'tier' }),
    );
    await expectIms(
      await s.request('GET', '/v1/cloudimages/tags?limit=x', { token: other.token }),
      400,
      'IMG.0001',
    );
  });
});

describe(`IMS tag limits and hostile input (${TEST_DB})`, () => {
  it('refuses an 11th tag with IMG.0116 and keeps the ten', async () => {
    const id = await create();
    const ten = Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    expect((await batch(id, { action: 'create', tags: ten })).status).toBe(204);
    await expectIms(await addTag(id, { key: 'k10', value: 'x' }), 400, 'IMG.0116');
    await expectIms(
      await s.request('PUT', '/v1/cloudimages/tags', {
        token: alice.token,
        body: { image_id: id, tag: 'k11.x' },
      }),
      400,
      'IMG.0116',
    );
    // Updating an existing key is still fine.
    expect((await addTag(id, { key: 'k3', value: 'new' })).status).toBe(204);
    expect(await glanceTags(id)).toHaveLength(10);
    expect(await glanceTags(id)).toContain('k3=new');
  });

  it('refuses a batch that would pass 10 tags without storing any of it', async () => {
    const id = await create();
    const eight = Array.from({ length: 8 }, (_, i) => ({ key: `a${i}`, value: '' }));
    expect((await batch(id, { action: 'create', tags: eight })).status).toBe(204);
    const three = [0, 1, 2].map((i) => ({ key: `b${i}`, value: '' }));
    await expectIms(await batch(id, { action: 'create', tags: three }), 400, 'IMG.0116');
    expect(await glanceTags(id)).toHaveLength(8);
  });

  it('keeps the limit when 12 clients add different keys at once', async () => {
    const id = await create();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => addTag(id, { key: `c${i}`, value: 'x' }).then((r) => r.status)),
    );
    expect(results.filter((st) => st === 204)).toHaveLength(10);
    expect(results.filter((st) => st === 400)).toHaveLength(2);
    expect(await glanceTags(id)).toHaveLength(10);
  });

  it.each([
    ['a key of 37 characters', { key: 'k'.repeat(37), value: 'v' }],
    ['a value of 44 characters', { key: 'k', value: 'v'.repeat(44) }],
    ['= in a key', { key: 'a=b', value: 'v' }],
    ['a dot in a value', { key: 'a', value: '1.2' }],
    ['a space in a key', { key: 'a b', value: 'v' }],
    ['markup', { key: '<b>', value: 'v' }],
    ['a boolean value', { key: 'flag', value: true }],
    ['a numeric key', { key: 7, value: 'v' }],
    ['a null value', { key: 'a', value: null }],
    ['an empty key', { key: '', value: 'v' }],
  ])('refuses %s with IMG.0115, storing nothing', async (_label, tag) => {
    const id = await create();
    await expectIms(await addTag(id, tag), 400, 'IMG.0115');
    expect(await glanceTags(id)).toEqual([]);
  });

  it('accepts letters of any script, digits, _ and -, and the limits exactly', async () => {
    const id = await create();
    expect((await addTag(id, { key: '环境', value: '生产' })).status).toBe(204);
    expect((await addTag(id, { key: 'k'.repeat(36), value: 'v_-1'.padEnd(43, 'x') })).status).toBe(204);
    expect((await addTag(id, { key: '  padded ', value: ' v ' })).status).toBe(204);
    expect((await imsTags(id)).map((t) => t.key).sort()).toEqual(['k'.repeat(36), 'padded', '环境'].sort());
  });

  it("answers 404 for another tenant's image, exactly as for an image that does not exist", async () => {
    const secret = await create({ name: 'secret-name', visibility: 'private' });
    const missing = '00000000-0000-4000-8000-000000000000';
    const paths = (id: string): [string, string, unknown?][] => [
      ['GET', `/v2/${bob.projectId}/images/${id}/tags`],
      ['POST', `/v2/${bob.projectId}/images/${id}/tags`, { tag: { key: 'x', value: 'y' } }],
      ['POST', `/v2/${bob.projectId}/images/${id}/tags/action`, { action: 'delete', tags: [{ key: 'x' }] }],
      ['DELETE', `/v2/${bob.projectId}/images/${id}/tags/x`],
      ['DELETE', `/v1/${bob.projectId}/cloudimages/${id}/tags/delete`, { tags: [{ key: 'x' }] }],
      ['PUT', '/v1/cloudimages/tags', { image_id: id, tag: 'x.y' }],
    ];
    for (const [[method, path, body], [, missingPath, missingBody]] of paths(secret).map(
      (p, i) => [p, paths(missing)[i]!] as const,
    )) {
      const res = await s.request(method, path, { token: bob.token, body });
      const ref = await s.request(method, missingPath, { token: bob.token, body: missingBody });
      const message = await expectIms(res, 404, 'IMG.0027');
      const refMessage = await expectIms(ref, 404, 'IMG.0027');
      expect(message.replace(secret, 'ID')).toBe(refMessage.replace(missing, 'ID'));
      expect(message).not.toContain('secret-name');
    }
    expect(await glanceTags(secret)).toEqual([]);
    // Resource queries are per project: bob never sees alice's images.
    const found = await resources(
      { action: 'filter', matches: [{ key: 'resource_id', value: secret }] },
      bob,
    );
    expect(await found.json()).toEqual({ resources: [], total_count: 0 });
  });

  it('refuses a visible image of another project (403), a reader (403) and a foreign project path (IMG.0030)', async () => {
    const pub = await s.request('POST', '/v2/images', { body: { name: 'pub', visibility: 'public' } });
    const pubId = ((await pub.json()) as { id: string }).id;
    expect(await imsTags(pubId, bob)).toEqual([]);
    await expectIms(await addTag(pubId, { key: 'x', value: 'y' }, bob), 403, 'IMG.0026');
    const own = await create();
    await expectIms(await addTag(own, { key: 'x', value: 'y' }, rita), 403, 'IMG.0026');
    const foreign = await s.request('POST', `/v2/${bob.projectId}/images/${own}/tags`, {
      token: alice.token,
      body: { tag: { key: 'x', value: 'y' } },
    });
    await expectIms(foreign, 403, 'IMG.0030');
    expect(await glanceTags(own)).toEqual([]);
  });

  it('answers bad bodies with IMS errors', async () => {
    const id = await create();
    const raw = (body: string) =>
      s.request('POST', `/v2/${alice.projectId}/images/${id}/tags`, {
        token: alice.token,
        body,
        headers: { 'content-type': 'application/json' },
      });
    await expectIms(await raw('{"tag": '), 400, 'IMG.0001');
    await expectIms(await raw('[]'), 400, 'IMG.0001');
    await expectIms(await raw(''), 400, 'IMG.0007');
    await expectIms(await raw('{"tag": "k.v"}'), 400, 'IMG.0115');
  });
});

describe(`Glance simple tags beside IMS tags (${TEST_DB})`, () => {
  it('refuses = in a new simple tag, in Glance shape, on every Glance tag write', async () => {
    const id = await create();
    const put = await s.request('PUT', `/v2/images/${id}/tags/${encodeURIComponent('a=b')}`, {
      token: alice.token,
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { message: string }).message).toContain('=');
    const created = await s.request('POST', '/v2/images', { token: alice.token, body: { tags: ['x=y'] } });
    expect(created.status).toBe(400);
    // Names with dots and spaces stay allowed on Glance routes, as Glance allows them.
    expect((await s.request('PUT', `/v2/images/${id}/tags/v1.2%20beta`, { token: alice.token })).status).toBe(
      204,
    );
  });

  it('lets a client write back the key=value tags it read, as the OpenStack CLI does', async () => {
    const id = await create();
    expect((await addTag(id, { key: 'env', value: 'prod' })).status).toBe(204);
    const patched = await s.request('PATCH', `/v2/images/${id}`, {
      token: alice.token,
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      body: [{ op: 'replace', path: '/tags', value: ['env=prod', 'extra'] }],
    });
    expect(patched.status, await patched.clone().text()).toBe(200);
    expect(await glanceTags(id)).toEqual(['env=prod', 'extra']);
    const sneaky = await s.request('PATCH', `/v2/images/${id}`, {
      token: alice.token,
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      body: [{ op: 'replace', path: '/tags', value: ['env=prod', 'env=dev'] }],
    });
    expect(sneaky.status).toBe(400);
  });

  it("keeps Glance's 128 tags per image on Glance routes", async () => {
    const id = await create();
    const many = Array.from({ length: 128 }, (_, i) => `t${i}`);
    const patched = await s.request('PATCH', `/v2/images/${id}`, {
      token: alice.token,
      headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      body: [{ op: 'replace', path: '/tags', value: many }],
    });
    expect(patched.status).toBe(200);
    const over = await s.request('PUT', `/v2/images/${id}/tags/t128`, { token: alice.token });
    expect(over.status).toBe(413);
    // IMS routes refuse new keys on such an image, but it keeps its tags.
    await expectIms(await addTag(id, { key: 'k', value: 'v' }), 400, 'IMG.0116');
    expect(await glanceTags(id)).toHaveLength(128);
  });
});

describe(`POST /v2/{project_id}/images/resource_instances/action (${TEST_DB})`, () => {
  let owner: Caller;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    owner = await s.tokenFor('delta', 'dora', 'member');
    const specs: [string, { key: string; value: string }[]][] = [
      [
        'web-1',
        [
          { key: 'env', value: 'prod' },
          { key: 'role', value: 'web' },
        ],
      ],
      [
        'web-2',
        [
          { key: 'env', value: 'dev' },
          { key: 'role', value: 'web' },
        ],
      ],
      [
        'db-1',
        [
          { key: 'env', value: 'prod' },
          { key: 'role', value: 'db' },
        ],
      ],
      ['cache_1', [{ key: 'role', value: '' }]],
      ['bare', []],
    ];
    for (const [name, tagList] of specs) {
      ids[name] = await create({ name }, owner);
      if (tagList.length)
        expect((await batch(ids[name]!, { action: 'create', tags: tagList }, owner)).status).toBe(204);
    }
    // Another project's images with the same tags never show up.
    const foreign = await create({ name: 'web-foreign' }, bob);
    expect((await addTag(foreign, { key: 'env', value: 'prod' }, bob)).status).toBe(204);
  });

  const names = async (body: Json) => {
    const res = await resources({ action: 'filter', limit: '100', ...body }, owner);
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const out = JSON.parse(text) as { resources: { resource_name: string }[]; total_count: number };
    expect(out.total_count).toBe(out.resources.length);
    return out.resources.map((r) => r.resource_name).sort();
  };

  it('filters with tags (AND of keys, OR of values), tags_any, not_tags, not_tags_any', async () => {
    expect(await names({ tags: [{ key: 'env', values: ['prod'] }] })).toEqual(['db-1', 'web-1']);
    expect(
      await names({
        tags: [
          { key: 'env', values: ['prod', 'dev'] },
          { key: 'role', values: ['web'] },
        ],
      }),
    ).toEqual(['web-1', 'web-2']);
    expect(await names({ tags: [{ key: 'role', values: [] }] })).toEqual([
      'cache_1',
      'db-1',
      'web-1',
      'web-2',
    ]);
    expect(await names({ tags: [{ key: 'role', values: [''] }] })).toEqual(['cache_1']);
    expect(
      await names({
        tags_any: [
          { key: 'env', values: ['dev'] },
          { key: 'role', values: ['db'] },
        ],
      }),
    ).toEqual(['db-1', 'web-2']);
    expect(
      await names({
        not_tags: [
          { key: 'env', values: ['prod'] },
          { key: 'role', values: ['web'] },
        ],
      }),
    ).toEqual(['bare', 'cache_1', 'db-1', 'web-2']);
    expect(
      await names({
        not_tags_any: [
          { key: 'env', values: [] },
          { key: 'role', values: ['web'] },
        ],
      }),
    ).toEqual(['bare', 'cache_1']);
    expect(await names({ without_any_tag: true, tags: [{ key: 'env', values: [] }] })).toEqual(['bare']);
    // A key with an underscore is not a pattern: `rol_` matches nothing.
    expect(await names({ tags: [{ key: 'rol_', values: [] }] })).toEqual([]);
  });

  it('matches by name (substring, case-sensitive) or id, and pages with string limit/offset', async () => {
    expect(await names({ matches: [{ key: 'resource_name', value: 'web' }] })).toEqual(['web-1', 'web-2']);
    expect(await names({ matches: [{ key: 'resource_name', value: 'WEB' }] })).toEqual([]);
    expect(await names({ matches: [{ key: 'resource_name', value: '_' }] })).toEqual(['cache_1']);
    expect(await names({ matches: [{ key: 'resource_id', value: ids['db-1']! }] })).toEqual(['db-1']);
    const page = await resources({ action: 'filter', limit: '2', offset: '1' }, owner);
    const body = (await page.json()) as { resources: Json[]; total_count: number };
    expect(body.total_count).toBe(5);
    expect(body.resources).toHaveLength(2);
    expect(body.resources[0]).toEqual({
      resource_id: expect.any(String),
      resource_name: expect.any(String),
      resource_detail: { status: 'queued' },
      tags: expect.any(Array),
    });
    const web1 = await resources(
      { action: 'filter', matches: [{ key: 'resource_id', value: ids['web-1']! }] },
      owner,
    );
    expect(((await web1.json()) as { resources: { tags: unknown }[] }).resources[0]!.tags).toEqual([
      { key: 'env', value: 'prod' },
      { key: 'role', value: 'web' },
    ]);
  });

  it('counts', async () => {
    const res = await resources({ action: 'count', tags: [{ key: 'role', values: ['web'] }] }, owner);
    expect(await res.json()).toEqual({ total_count: 2 });
  });

  it.each([
    ['a numeric limit', { action: 'filter', limit: 10 }],
    ['a boolean offset', { action: 'filter', offset: false }],
    ['limit 1001', { action: 'filter', limit: '1001' }],
    ['a bad action', { action: 'list' }],
    ['a boolean tag value', { action: 'count', tags: [{ key: 'env', values: [true] }] }],
  ])('refuses %s with IMG.0001', async (_label, body) => {
    await expectIms(await resources(body, owner), 400, 'IMG.0001');
  });
});
