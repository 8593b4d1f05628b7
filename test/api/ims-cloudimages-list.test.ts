import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { activeImage, expectImsError, idsOf, listIms, type Caller, type Json } from './ims-helpers.ts';

let s: TestServer;
let owner: Caller;
let taker: Caller;
let stranger: Caller;
const EP = '4f2c1d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
type Key = 'plain' | 'centos' | 'windows' | 'arm' | 'data' | 'shared' | 'strangers' | 'queued';
const ids = {} as Record<Key, string>;

beforeAll(async () => {
  s = await startTestServer();
  owner = await s.tokenFor('ims-owner', 'ivy', 'member');
  taker = await s.tokenFor('ims-taker', 'tom', 'member');
  stranger = await s.tokenFor('ims-stranger', 'sid', 'member');
  ids.plain = await activeImage(s, owner, { name: 'plain', tags: ['blue'] });
  ids.centos = await activeImage(s, owner, {
    name: 'centos',
    __os_version: 'CentOS 7.6 64bit',
    __support_largememory: 'true',
    min_disk: 40,
  });
  ids.windows = await activeImage(s, owner, {
    name: 'windows',
    __os_version: 'Windows Server 2019 Standard 64bit',
    enterprise_project_id: EP,
    protected: true,
  });
  ids.arm = await activeImage(s, owner, {
    name: 'arm',
    __os_version: 'openEuler 22.03 64bit for ARM',
    __support_arm: 'true',
  });
  ids.data = await activeImage(s, owner, { name: 'data', virtual_env_type: 'DataImage' });
  ids.shared = await activeImage(s, owner, { name: 'shared' });
  const add = await s.request('POST', `/v2/images/${ids.shared}/members`, {
    token: owner.token,
    body: { member: taker.projectId },
  });
  expect(add.status).toBe(200);
  ids.strangers = await activeImage(s, stranger, { name: 'secret', visibility: 'private' });
  // A bare Glance image without data is not registered: the native list never shows it.
  const queued = await s.request('POST', '/v2/images', { token: owner.token, body: { name: 'queued' } });
  ids.queued = ((await queued.json()) as Json).id as string;
});
afterAll(async () => s?.close());

const mine = () => [ids.plain, ids.centos, ids.windows, ids.arm, ids.data, ids.shared].map(String).sort();
const sorted = (list: string[]) => [...list].sort();

describe(`GET /v2/cloudimages: the IMS image view (${TEST_DB})`, () => {
  it('lists registered images newest first, without links or totals', async () => {
    const { status, body } = await listIms(s, owner);
    expect(status).toBe(200);
    expect(Object.keys(body)).toEqual(['images']);
    const listed = (body.images as Json[]).map((i) => i.id);
    expect(sorted(listed)).toEqual(mine());
    expect(listed).not.toContain(ids.queued);
    expect(listed[0]).toBe(ids.shared);
  });

  it('fills IMS defaults into a Glance-made image, with string-typed flags', async () => {
    const { body } = await listIms(s, owner, `id=${ids.plain}`);
    const image = (body.images as Json[])[0]!;
    expect(image).toMatchObject({
      id: ids.plain,
      name: 'plain',
      status: 'active',
      __imagetype: 'private',
      __isregistered: 'true',
      __os_version: 'Other Linux(64 bit)',
      __os_type: 'Linux',
      __platform: 'Other',
      __os_bit: '64',
      __description: '',
      __image_source_type: 'uds',
      __image_size: '1024',
      __support_kvm: 'true',
      virtual_env_type: 'FusionCompute',
      hw_firmware_type: 'bios',
      enterprise_project_id: '0',
      max_ram: '',
      protected: false,
      min_ram: 0,
      tags: ['blue'],
      self: `/v2/images/${ids.plain}`,
      schema: '/v2/schemas/image',
    });
    expect(image.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    for (const flag of ['__support_xen', '__support_largememory', '__support_arm'])
      expect(image).not.toHaveProperty(flag);
  });

  it('derives __os_type, __platform and __os_bit from __os_version', async () => {
    const { body } = await listIms(s, owner, `id=${ids.windows}`);
    expect((body.images as Json[])[0]).toMatchObject({
      __os_version: 'Windows Server 2019 Standard 64bit',
      __os_type: 'Windows',
      __platform: 'Windows',
      __os_bit: '64',
      enterprise_project_id: EP,
    });
  });

  it('accepts the Huawei SDK’s content type on a GET without a body', async () => {
    const res = await s.request('GET', '/v2/cloudimages?limit=1', {
      token: owner.token,
      headers: { 'content-type': 'application/json;charset=UTF-8' },
    });
    expect(res.status).toBe(200);
  });
});

describe(`GET /v2/cloudimages: filters (${TEST_DB})`, () => {
  const cases: [string, () => string[]][] = [
    ['__imagetype=private', () => [ids.plain, ids.centos, ids.windows, ids.arm, ids.data]],
    ['__imagetype=shared', () => [ids.shared]],
    ['__imagetype=gold', () => []],
    ['__imagetype=market', () => []],
    ['__os_type=Windows', () => [ids.windows]],
    ['__os_type=Linux', () => [ids.plain, ids.centos, ids.arm, ids.data, ids.shared]],
    ['__platform=CentOS', () => [ids.centos]],
    ['__platform=Other', () => [ids.plain, ids.data, ids.shared]],
    ['__os_bit=32', () => []],
    ['__support_largememory=true', () => [ids.centos]],
    ['__support_arm=true', () => [ids.arm]],
    ['architecture=arm', () => [ids.arm]],
    ['architecture=x86', () => [ids.plain, ids.centos, ids.windows, ids.data, ids.shared]],
    ['__support_kvm=true', () => mine()],
    ['virtual_env_type=DataImage', () => [ids.data]],
    ['virtual_env_type=FusionCompute', () => [ids.plain, ids.centos, ids.windows, ids.arm, ids.shared]],
    [`enterprise_project_id=${EP}`, () => [ids.windows]],
    ['enterprise_project_id=0', () => [ids.plain, ids.centos, ids.arm, ids.data, ids.shared]],
    ['enterprise_project_id=all_granted_eps', () => mine()],
    ['name=centos', () => [ids.centos]],
    ['name=cent', () => []],
    ['min_disk=40', () => [ids.centos]],
    ['protected=true', () => [ids.windows]],
    ['tag=blue', () => [ids.plain]],
    ['status=active', () => mine()],
    ['status=queued', () => []],
    ['disk_format=raw', () => mine()],
    ['container_format=bare', () => mine()],
    ['__isregistered=true', () => mine()],
    ['created_at=gt:2000-01-01T00:00:00Z', () => mine()],
    ['created_at=lt:2000-01-01T00:00:00Z', () => []],
    ['updated_at=gte:2000-01-01%2000:00:00', () => mine()],
    ['created_at=gt:2000-01-01T00:00:00Z&created_at=lt:2999-01-01T00:00:00Z', () => mine()],
    ['visibility=shared&__imagetype=shared', () => [ids.shared]],
    ['unknown_filter=whatever', () => mine()],
  ];
  it.each(cases)('%s', async (query, expected) => {
    expect(sorted(await idsOf(s, owner, query))).toEqual(sorted(expected()));
  });

  it('shows a shared image to its member by member_status, as __imagetype shared', async () => {
    expect(await idsOf(s, taker, 'member_status=pending&visibility=shared&__imagetype=shared')).toEqual([
      ids.shared,
    ]);
    expect(await idsOf(s, taker, 'member_status=accepted&visibility=shared&__imagetype=shared')).toEqual([]);
    const accept = await s.request('PUT', `/v2/images/${ids.shared}/members/${taker.projectId}`, {
      token: taker.token,
      body: { status: 'accepted' },
    });
    expect(accept.status).toBe(200);
    const { body } = await listIms(s, taker, 'member_status=accepted&visibility=shared&__imagetype=shared');
    expect((body.images as Json[]).map((i) => [i.id, i.__imagetype, i.visibility])).toEqual([
      [ids.shared, 'shared', 'shared'],
    ]);
    expect(await idsOf(s, taker)).toEqual([ids.shared]);
  });

  it('sorts by the IMS sort keys in either direction', async () => {
    const asc = await idsOf(s, owner, 'sort_key=name&sort_dir=asc');
    expect(asc).toEqual([ids.arm, ids.centos, ids.data, ids.plain, ids.shared, ids.windows]);
    expect(await idsOf(s, owner, 'sort_key=name&sort_dir=desc')).toEqual([...asc].reverse());
    expect(await idsOf(s, owner, 'sort_key=created_at&sort_dir=asc')).toEqual([
      ids.plain,
      ids.centos,
      ids.windows,
      ids.arm,
      ids.data,
      ids.shared,
    ]);
  });

  it('pages with marker and limit, each image once', async () => {
    const seen: string[] = [];
    let marker = '';
    for (;;) {
      const page = await idsOf(s, owner, `limit=2${marker ? `&marker=${marker}` : ''}`);
      seen.push(...page);
      if (page.length < 2) break;
      marker = page[page.length - 1]!;
    }
    expect(seen).toEqual(await idsOf(s, owner));
  });
});

describe(`GET /v2/cloudimages: hostile queries (${TEST_DB})`, () => {
  const errors: [string, number, string][] = [
    ['sort_key=checksum', 400, 'IMG.0001'],
    ['sort_key=name%3Bdrop%20table%20images', 400, 'IMG.0001'],
    ['sort_dir=sideways', 400, 'IMG.0001'],
    ['limit=-1', 400, 'IMG.0001'],
    ['limit=ten', 400, 'IMG.0001'],
    ['limit=1&limit=2', 400, 'IMG.0001'],
    ['marker=7d3c0f5e-4a1b-4c2d-9e8f-0a1b2c3d4e5f', 400, 'IMG.0001'],
    ['marker=%27%20or%201%3D1', 400, 'IMG.0001'],
    ['__imagetype=platinum', 400, 'IMG.0024'],
    ['__os_type=BeOS', 400, 'IMG.0122'],
    ['__os_bit=16', 400, 'IMG.0001'],
    ['architecture=mips', 400, 'IMG.0212'],
    ['__support_kvm=1', 400, 'IMG.0001'],
    ['__support_kvm=True', 400, 'IMG.0001'],
    ['protected=yes', 400, 'IMG.0001'],
    ['min_disk=-5', 400, 'IMG.0001'],
    ['enterprise_project_id=default', 400, 'IMG.0155'],
    ['virtual_env_type=Docker', 400, 'IMG.0001'],
    ['member_status=all', 400, 'IMG.0001'],
    ['visibility=community', 400, 'IMG.0001'],
    ['status=gone', 400, 'IMG.0001'],
    ['created_at=after:2020-01-01', 400, 'IMG.0001'],
    ['created_at=gt:2020-02-30T00:00:00Z', 400, 'IMG.0001'],
    ['__isregistered=false', 400, 'IMG.0001'],
    ['flavor_id=nonsense', 400, 'IMG.0192'],
  ];
  it.each(errors)('%s → %i %s', async (query, status, code) => {
    const res = await s.request('GET', `/v2/cloudimages?${query}`, { token: owner.token });
    const body = await expectImsError(res, status, code);
    expect(body).not.toHaveProperty('title');
  });

  it('treats another tenant’s private image as missing: as marker and as id', async () => {
    const missing = await s.request('GET', `/v2/cloudimages?marker=7d3c0f5e-4a1b-4c2d-9e8f-0a1b2c3d4e5f`, {
      token: owner.token,
    });
    const foreign = await s.request('GET', `/v2/cloudimages?marker=${ids.strangers}`, { token: owner.token });
    const a = (await missing.json()) as Json;
    const b = (await foreign.json()) as Json;
    expect(foreign.status).toBe(missing.status);
    expect(b.error.code).toBe(a.error.code);
    expect(b.error.message.replace(ids.strangers!, 'X')).toBe(
      a.error.message.replace('7d3c0f5e-4a1b-4c2d-9e8f-0a1b2c3d4e5f', 'X'),
    );
    expect(await idsOf(s, owner, `id=${ids.strangers}`)).toEqual([]);
  });

  it('caps a huge limit at 1000 rather than failing', async () => {
    expect(sorted(await idsOf(s, owner, 'limit=99999999999999999999999'))).toEqual(mine());
  });

  it('needs a token, and answers in the IMS shape', async () => {
    const res = await s.request('GET', '/v2/cloudimages', { token: null });
    expect(res.status).toBe(401);
    expect(((await res.json()) as Json).error_code).toBe('APIGW.0301');
  });
});

describe(`GET /v1/cloudimages/os_version (${TEST_DB})`, () => {
  it('answers the catalogue as a top-level array grouped by platform', async () => {
    const res = await s.request('GET', '/v1/cloudimages/os_version', { token: owner.token });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json[];
    expect(Array.isArray(body)).toBe(true);
    const centos = body.find((g) => g.platform === 'CentOS')!;
    expect(centos.version_list).toContainEqual({
      platform: 'CentOS',
      os_version_key: 'CentOS 7.6 64bit',
      os_version: 'CentOS 7.6 64bit',
      os_bit: 64,
      os_type: 'Linux',
    });
  });

  it('selects by tag', async () => {
    const res = await s.request('GET', '/v1/cloudimages/os_version?tag=arm', { token: owner.token });
    const versions = ((await res.json()) as Json[]).flatMap((g) => g.version_list as Json[]);
    expect(versions.length).toBeGreaterThan(0);
    expect(versions.map((v) => v.os_version)).toContain('openEuler 22.03 64bit for ARM');
    expect(versions.map((v) => v.os_version)).not.toContain('CentOS 7.6 64bit');
  });
});

describe(`OpenAPI (${TEST_DB})`, () => {
  it('documents the IMS image routes and their filters', async () => {
    const doc = (await (await s.request('GET', '/openapi.json', { token: null })).json()) as Json;
    expect(doc.paths['/v2/cloudimages'].get.parameters.map((p: Json) => p.name)).toEqual(
      expect.arrayContaining(['__imagetype', 'flavor_id', 'enterprise_project_id', 'sort_key', 'marker']),
    );
    expect(doc.paths['/v2/cloudimages/{image_id}'].patch.requestBody).toBeDefined();
    expect(doc.paths['/v1/cloudimages/os_version'].get).toBeDefined();
  });
});
