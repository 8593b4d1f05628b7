import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let member: { token: string; projectId: string };
let stranger: { token: string; projectId: string };

beforeAll(async () => {
  s = await startTestServer();
  member = await s.tokenFor('alpha', 'alice', 'member');
  stranger = await s.tokenFor('beta', 'bob', 'member');
});
afterAll(async () => s?.close());

const NS = '/v2/metadefs/namespaces';
/** Without a token: the admin. */
const call = (
  method: string,
  path: string,
  body?: unknown,
  token?: string,
  headers?: Record<string, string>,
) => s.request(method, path, { body, token, headers });
const json = async (res: Response, status: number): Promise<Json> => {
  expect(res.status, await res.clone().text()).toBe(status);
  return (await res.json()) as Json;
};

describe(`Glance metadata definitions (${TEST_DB})`, () => {
  it('serves the ten metadefs schemas under their Glance names', async () => {
    const names: Record<string, string> = {
      namespace: 'namespace',
      namespaces: 'namespaces',
      resource_type: 'resource_type_association',
      resource_types: 'resource_type_associations',
      object: 'object',
      objects: 'objects',
      property: 'property',
      properties: 'properties',
      tag: 'tag',
      tags: 'tags',
    };
    for (const [kind, name] of Object.entries(names)) {
      const schema = await json(
        await call('GET', `/v2/schemas/metadefs/${kind}`, undefined, member.token),
        200,
      );
      expect(schema.name).toBe(name);
    }
    const ns = await json(await call('GET', '/v2/schemas/metadefs/namespace'), 200);
    expect(ns.required).toEqual(['namespace']);
    expect(ns.additionalProperties).toBe(false);
  });

  it("lists Glance's base resource types", async () => {
    const body = await json(await call('GET', '/v2/metadefs/resource_types', undefined, member.token), 200);
    const names = (body.resource_types as Json[]).map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['OS::Glance::Image', 'OS::Cinder::Volume', 'OS::Nova::Flavor']),
    );
  });

  it('creates, shows, updates and deletes a namespace; protected ones are not deleted', async () => {
    const created = await json(
      await call('POST', NS, {
        namespace: 'OS::Test::Basic',
        display_name: 'Basic',
        description: 'd',
        visibility: 'public',
        protected: true,
        resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }],
      }),
      201,
    );
    expect(created).toMatchObject({
      namespace: 'OS::Test::Basic',
      visibility: 'public',
      protected: true,
      schema: '/v2/schemas/metadefs/namespace',
      self: `${NS}/OS%3A%3ATest%3A%3ABasic`,
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }],
    });
    expect(created.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect((await call('POST', NS, { namespace: 'OS::Test::Basic' })).status).toBe(409);
    // everyone reads a public namespace; only admins change it
    expect((await call('GET', `${NS}/OS::Test::Basic`, undefined, stranger.token)).status).toBe(200);
    expect((await call('DELETE', `${NS}/OS::Test::Basic`, undefined, member.token)).status).toBe(403);
    expect((await call('PUT', `${NS}/OS::Test::Basic`, { namespace: 'x' }, member.token)).status).toBe(403);
    expect((await call('DELETE', `${NS}/OS::Test::Basic`)).status).toBe(403);

    const updated = await json(
      await call('PUT', `${NS}/OS::Test::Basic`, {
        namespace: 'OS::Test::Renamed',
        visibility: 'private',
        protected: false,
        // what the namespace holds is not changed by a PUT, as in Glance
        resource_type_associations: [],
      }),
      200,
    );
    expect(updated).toMatchObject({
      namespace: 'OS::Test::Renamed',
      visibility: 'private',
      protected: false,
    });
    expect(updated.resource_type_associations).toHaveLength(1);
    expect((await call('GET', `${NS}/OS::Test::Basic`)).status).toBe(404);
    // private: another project does not see it at all
    expect((await call('GET', `${NS}/OS::Test::Renamed`, undefined, stranger.token)).status).toBe(404);
    const list = await json(await call('GET', NS, undefined, stranger.token), 200);
    expect((list.namespaces as Json[]).map((n) => n.namespace)).not.toContain('OS::Test::Renamed');
    expect((await call('DELETE', `${NS}/OS::Test::Renamed`)).status).toBe(204);
    expect((await call('GET', `${NS}/OS::Test::Renamed`)).status).toBe(404);
  });

  it('refuses malformed namespaces with 400 and read-only attributes with 403', async () => {
    const bad = [
      {},
      { namespace: '' },
      { namespace: 'x'.repeat(81) },
      { namespace: 'a/b' },
      { namespace: 42 },
      { namespace: 'ok', visibility: 'shared' },
      { namespace: 'ok', protected: 'yes' },
      { namespace: 'ok', colour: 'red' },
      { namespace: 'ok', description: 'x'.repeat(501) },
      { namespace: 'ok', properties: { p: { title: 'P' } } },
      { namespace: 'ok', properties: { p: { title: 'P', type: 'text' } } },
      { namespace: 'ok', properties: { p: { title: 'P', type: 'string', pattern: '(' } } },
      { namespace: 'ok', objects: [{ description: 'no name' }] },
      { namespace: 'ok', tags: ['plain'] },
      { namespace: 'ok', tags: Array.from({ length: 1001 }, (_, i) => ({ name: `t${i}` })) },
      {
        namespace: 'ok',
        properties: Object.fromEntries(
          Array.from({ length: 1001 }, (_, i) => [`p${i}`, { title: 'P', type: 'string' }]),
        ),
      },
      ['ok'],
    ];
    for (const body of bad) expect((await call('POST', NS, body)).status, JSON.stringify(body)).toBe(400);
    expect((await call('POST', NS, { namespace: 'ok', created_at: 'now' })).status).toBe(403);
    expect(
      (await call('POST', NS, '{"namespace":', undefined, { 'content-type': 'application/json' })).status,
    ).toBe(400);
    // nothing was stored
    expect((await call('GET', `${NS}/ok`)).status).toBe(404);
  });

  it('keeps property definitions, with the resource type prefix on request', async () => {
    await json(
      await call('POST', NS, {
        namespace: 'OS::Test::Props',
        visibility: 'public',
        resource_type_associations: [{ name: 'OS::Nova::Flavor', prefix: 'hw:' }],
      }),
      201,
    );
    const path = `${NS}/OS::Test::Props/properties`;
    const enumValues = ['kvm', 'qemu'];
    const created = await json(
      await call('POST', path, { name: 'cpu', title: 'CPU', type: 'string', enum: enumValues }),
      201,
    );
    expect(created).toEqual({ name: 'cpu', title: 'CPU', type: 'string', enum: enumValues });
    expect((await call('POST', path, { name: 'cpu', title: 'again', type: 'string' })).status).toBe(409);
    expect(
      (await call('POST', path, { name: 'mem', title: 'M', type: 'integer' }, member.token)).status,
    ).toBe(403);
    const list = await json(await call('GET', path, undefined, member.token), 200);
    expect(list.properties).toEqual({ cpu: { title: 'CPU', type: 'string', enum: enumValues } });
    expect((await json(await call('GET', `${path}/cpu`), 200)).title).toBe('CPU');
    expect((await json(await call('GET', `${path}/hw:cpu?resource_type=OS::Nova::Flavor`), 200)).name).toBe(
      'cpu',
    );
    expect((await call('GET', `${path}/cpu?resource_type=OS::Nova::Flavor`)).status).toBe(404);
    const shown = await json(await call('GET', `${NS}/OS::Test::Props?resource_type=OS::Nova::Flavor`), 200);
    expect(Object.keys(shown.properties as Json)).toEqual(['hw:cpu']);

    const renamed = await json(
      await call('PUT', `${path}/cpu`, { name: 'cpu_mode', title: 'Mode', type: 'string' }),
      200,
    );
    expect(renamed).toEqual({ name: 'cpu_mode', title: 'Mode', type: 'string' });
    expect((await call('GET', `${path}/cpu`)).status).toBe(404);
    expect((await call('PUT', `${path}/cpu`, { name: 'x', title: 'X', type: 'string' })).status).toBe(404);
    expect((await call('DELETE', `${path}/cpu_mode`)).status).toBe(204);
    expect((await call('DELETE', `${path}/cpu_mode`)).status).toBe(404);
    expect((await json(await call('GET', path), 200)).properties).toEqual({});
  });

  it('keeps objects and resource type associations', async () => {
    await json(await call('POST', NS, { namespace: 'OS::Test::Objects', visibility: 'public' }), 201);
    const path = `${NS}/OS::Test::Objects/objects`;
    const object = {
      name: 'CPU Limits',
      description: 'limits',
      required: ['quota:cpu_shares'],
      properties: { 'quota:cpu_shares': { title: 'Shares', type: 'integer', minimum: 0 } },
    };
    const created = await json(await call('POST', path, object), 201);
    expect(created).toMatchObject({
      ...object,
      schema: '/v2/schemas/metadefs/object',
      self: `${NS}/OS%3A%3ATest%3A%3AObjects/objects/CPU%20Limits`,
    });
    expect((await call('POST', path, object)).status).toBe(409);
    expect((await json(await call('GET', `${path}/CPU Limits`, undefined, member.token), 200)).name).toBe(
      'CPU Limits',
    );
    const list = await json(await call('GET', path, undefined, member.token), 200);
    expect((list.objects as Json[]).map((o) => o.name)).toEqual(['CPU Limits']);
    await json(await call('POST', path, { name: 'Other' }), 201);
    expect((await call('PUT', `${path}/CPU Limits`, { name: 'Other' })).status).toBe(409);
    expect((await json(await call('PUT', `${path}/CPU Limits`, { name: 'Limits' }), 200)).name).toBe(
      'Limits',
    );
    expect((await call('DELETE', `${path}/Limits`)).status).toBe(204);
    expect((await call('DELETE', path)).status).toBe(204);
    expect((await json(await call('GET', path), 200)).objects).toEqual([]);

    const rt = `${NS}/OS::Test::Objects/resource_types`;
    const association = await json(await call('POST', rt, { name: 'OS::Custom::Thing', prefix: 'x_' }), 201);
    expect(association).toMatchObject({ name: 'OS::Custom::Thing', prefix: 'x_' });
    expect((await call('POST', rt, { name: 'OS::Custom::Thing' })).status).toBe(409);
    // a resource type is created the first time an association names it
    const types = await json(await call('GET', '/v2/metadefs/resource_types'), 200);
    expect((types.resource_types as Json[]).map((t) => t.name)).toContain('OS::Custom::Thing');
    const filtered = await json(await call('GET', `${NS}?resource_types=OS::Custom::Thing`), 200);
    expect((filtered.namespaces as Json[]).map((n) => n.namespace)).toEqual(['OS::Test::Objects']);
    expect((await json(await call('GET', rt), 200)).resource_type_associations).toHaveLength(1);
    expect((await call('DELETE', `${rt}/OS::Custom::Thing`)).status).toBe(204);
    expect((await call('DELETE', `${rt}/OS::Custom::Thing`)).status).toBe(404);
    expect((await json(await call('GET', rt), 200)).resource_type_associations).toEqual([]);
  });

  it('keeps tags: one by one, in bulk (replacing or appending), renamed and removed', async () => {
    await json(await call('POST', NS, { namespace: 'OS::Test::Tags', visibility: 'public' }), 201);
    const path = `${NS}/OS::Test::Tags/tags`;
    const bulk = await json(await call('POST', path, { tags: [{ name: 'a' }, { name: 'b' }] }), 201);
    expect(bulk).toEqual({ tags: [{ name: 'a' }, { name: 'b' }] });
    await json(await call('POST', path, { tags: [{ name: 'c' }] }), 201);
    const names = async () => ((await json(await call('GET', path), 200)).tags as Json[]).map((t) => t.name);
    expect(await names()).toEqual(['c']);
    await json(
      await call('POST', path, { tags: [{ name: 'd' }] }, undefined, { 'x-openstack-append': 'True' }),
      201,
    );
    expect((await names()).sort()).toEqual(['c', 'd']);
    expect((await call('POST', path, { tags: [{ name: 'e' }, { name: 'e' }] })).status).toBe(409);
    expect(
      (await call('POST', path, { tags: [{ name: 'd' }] }, undefined, { 'x-openstack-append': 'true' }))
        .status,
    ).toBe(409);
    expect((await names()).sort()).toEqual(['c', 'd']);

    const one = await json(await call('POST', `${path}/single`), 201);
    expect(one).toMatchObject({ name: 'single' });
    expect((await call('POST', `${path}/single`)).status).toBe(409);
    expect((await call('POST', `${path}/x`, undefined, member.token)).status).toBe(403);
    expect((await json(await call('GET', `${path}/single`, undefined, member.token), 200)).name).toBe(
      'single',
    );
    expect((await call('PUT', `${path}/single`, { name: 'c' })).status).toBe(409);
    expect((await json(await call('PUT', `${path}/single`, { name: 'renamed' }), 200)).name).toBe('renamed');
    expect((await call('DELETE', `${path}/renamed`)).status).toBe(204);
    expect((await call('GET', `${path}/renamed`)).status).toBe(404);
    expect((await call('DELETE', path)).status).toBe(204);
    expect(await names()).toEqual([]);
  });

  it('refuses to empty a protected namespace, and deletes content with the namespace', async () => {
    await json(
      await call('POST', NS, {
        namespace: 'OS::Test::Guarded',
        protected: true,
        tags: [{ name: 't' }],
        objects: [{ name: 'o' }],
        properties: { p: { title: 'P', type: 'boolean' } },
      }),
      201,
    );
    const shown = await json(await call('GET', `${NS}/OS::Test::Guarded`), 200);
    expect(shown).toMatchObject({
      tags: [{ name: 't' }],
      properties: { p: { title: 'P', type: 'boolean' } },
    });
    expect((shown.objects as Json[])[0]).toMatchObject({ name: 'o' });
    for (const kind of ['tags', 'objects', 'properties'])
      expect((await call('DELETE', `${NS}/OS::Test::Guarded/${kind}`)).status).toBe(403);
    await json(
      await call('PUT', `${NS}/OS::Test::Guarded`, { namespace: 'OS::Test::Guarded', protected: false }),
      200,
    );
    expect((await call('DELETE', `${NS}/OS::Test::Guarded`)).status).toBe(204);
    // a namespace of the same name starts empty
    const again = await json(await call('POST', NS, { namespace: 'OS::Test::Guarded' }), 201);
    expect(again).not.toHaveProperty('tags');
    expect(again).not.toHaveProperty('objects');
    expect((await call('DELETE', `${NS}/OS::Test::Guarded`)).status).toBe(204);
  });

  it('pages namespaces with limit and marker', async () => {
    for (const n of ['P1', 'P2', 'P3'])
      await json(await call('POST', NS, { namespace: `OS::Page::${n}` }), 201);
    const first = await json(await call('GET', `${NS}?limit=2&sort_key=namespace&sort_dir=asc`), 200);
    const names = (first.namespaces as Json[]).map((n) => n.namespace);
    expect(names).toHaveLength(2);
    expect(first.next).toContain('marker=');
    const rest = await json(await call('GET', first.next as string), 200);
    const all = [...names, ...(rest.namespaces as Json[]).map((n) => n.namespace)];
    expect(all.filter((n) => String(n).startsWith('OS::Page::'))).toEqual([
      'OS::Page::P1',
      'OS::Page::P2',
      'OS::Page::P3',
    ]);
    expect(all).toEqual([...all].sort());
    for (const q of [
      'limit=0',
      'limit=x',
      'sort_key=owner',
      'sort_dir=up',
      'visibility=shared',
      'marker=nope',
    ])
      expect((await call('GET', `${NS}?${q}`)).status, q).toBe(400);
    // another project's private namespace is no marker for a stranger
    expect((await call('GET', `${NS}?marker=OS::Page::P1`, undefined, stranger.token)).status).toBe(400);
  });

  it("reports usage of the caller project against its quotas' limits (-1: unlimited)", async () => {
    const fresh = await s.tokenFor('gamma', 'gina', 'member');
    const create = await s.request('POST', '/v2/images', { token: fresh.token, body: { name: 'u' } });
    expect(create.status).toBe(201);
    const usage = async () =>
      (await json(await call('GET', '/v2/info/usage', undefined, fresh.token), 200)).usage as Json;
    const defaults = s.config.defaultQuota;
    expect(await usage()).toEqual({
      image_size_total: { limit: defaults.bytes === null ? -1 : defaults.bytes / 2 ** 20, usage: 0 },
      image_count_total: { limit: defaults.images ?? -1, usage: 1 },
      image_stage_total: { limit: -1, usage: 0 },
      image_count_uploading: { limit: -1, usage: 0 },
    });
    const setQuota = async (quotas: Json) =>
      expect(
        (await call('PUT', '/v1/cloudimages/quota', { project_id: fresh.projectId, quotas })).status,
      ).toBe(200);
    await setQuota({ image: 7, image_size_total: 2048 });
    expect(await usage()).toMatchObject({
      image_size_total: { limit: 2048, usage: 0 },
      image_count_total: { limit: 7, usage: 1 },
    });
    await setQuota({ image: -1, image_size_total: -1 });
    expect(await usage()).toMatchObject({
      image_size_total: { limit: -1, usage: 0 },
      image_count_total: { limit: -1, usage: 1 },
    });
    expect((await call('GET', '/v2/info/usage', undefined, 'not-a-token')).status).toBe(401);
  });
});
