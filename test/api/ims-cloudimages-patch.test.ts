import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { activeImage, expectImsError, idsOf, type Caller, type Json } from './ims-helpers.ts';

let s: TestServer;
let owner: Caller;
let taker: Caller;
let stranger: Caller;
let image: string;
const EP = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const MISSING = '7d3c0f5e-4a1b-4c2d-9e8f-0a1b2c3d4e5f';

beforeAll(async () => {
  s = await startTestServer();
  owner = await s.tokenFor('patch-owner', 'pam', 'member');
  taker = await s.tokenFor('patch-taker', 'tia', 'member');
  stranger = await s.tokenFor('patch-stranger', 'stu', 'member');
  image = await activeImage(s, owner, { name: 'base' });
});
afterAll(async () => s?.close());

const patch = (id: string, body: unknown, caller = owner, headers: Record<string, string> = {}) =>
  s.request('PATCH', `/v2/cloudimages/${id}`, {
    token: caller.token,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json;charset=UTF-8', ...headers },
  });
const glance = async (id: string) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token: owner.token })).json()) as Json;

describe(`PATCH /v2/cloudimages/{id} (${TEST_DB})`, () => {
  it('applies a bare array of string values and answers the IMS image', async () => {
    const res = await patch(image, [
      { op: 'replace', path: '/name', value: 'renamed image_1.0' },
      { op: 'add', path: '/__description', value: 'a described image' },
      { op: 'add', path: '/__support_kvm', value: 'true' },
      { op: 'add', path: '/__support_highperformance', value: 'true' },
      { op: 'add', path: '/min_ram', value: '1024' },
      { op: 'add', path: '/max_ram', value: 8192 },
      { op: 'add', path: '/hw_firmware_type', value: 'uefi' },
      { op: 'add', path: '/os_shutdown_timeout', value: '120' },
      { op: 'add', path: '/__os_version', value: 'Ubuntu 22.04 server 64bit' },
      { op: 'add', path: '/custom_attr', value: 'x' },
    ]);
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      id: image,
      name: 'renamed image_1.0',
      __description: 'a described image',
      __support_kvm: 'true',
      __support_highperformance: 'true',
      min_ram: 1024,
      max_ram: '8192',
      hw_firmware_type: 'uefi',
      os_shutdown_timeout: '120',
      __os_version: 'Ubuntu 22.04 server 64bit',
      __platform: 'Ubuntu',
      __os_type: 'Linux',
      __imagetype: 'private',
      custom_attr: 'x',
    });
    // One model: the Glance view shows the same change.
    expect(await glance(image)).toMatchObject({
      name: 'renamed image_1.0',
      __platform: 'Ubuntu',
      min_ram: 1024,
    });
  });

  it('removes extension attributes and refuses to remove a missing one', async () => {
    let res = await patch(image, [{ op: 'remove', path: '/custom_attr' }]);
    expect(res.status).toBe(200);
    expect((await res.json()) as Json).not.toHaveProperty('custom_attr');
    res = await patch(image, [{ op: 'remove', path: '/custom_attr' }]);
    expect(res.status).toBe(409);
    expect(((await res.json()) as Json).error.code).toBe('IMG.0035');
  });

  it('moves the image to another enterprise project, and the list filter follows', async () => {
    const res = await patch(image, [{ op: 'replace', path: '/enterprise_project_id', value: EP }]);
    expect(((await res.json()) as Json).enterprise_project_id).toBe(EP);
    expect(await idsOf(s, owner, `enterprise_project_id=${EP}`)).toEqual([image]);
    expect(await idsOf(s, owner, 'enterprise_project_id=0')).toEqual([]);
    expect((await glance(image)).enterprise_project_id).toBe(EP);
    const listed = await s.request('GET', `/v2/images?enterprise_project_id=${EP}`, { token: owner.token });
    expect(((await listed.json()) as Json).images.map((i: Json) => i.id)).toEqual([image]);
  });

  const refused: [string, unknown, number, string][] = [
    ['a boolean instead of a string', [{ op: 'add', path: '/__support_xen', value: true }], 400, 'IMG.0001'],
    ['a number for a string property', [{ op: 'add', path: '/__description', value: 5 }], 400, 'IMG.0001'],
    [
      'a string flag that is not true/false',
      [{ op: 'add', path: '/__support_xen', value: 'yes' }],
      400,
      'IMG.0001',
    ],
    ['an object body', { op: 'add', path: '/name', value: 'x' }, 400, 'IMG.0001'],
    ['an empty array', [], 400, 'IMG.0001'],
    ['an unknown op', [{ op: 'move', path: '/name', value: 'x' }], 400, 'IMG.0001'],
    ['a nested path', [{ op: 'add', path: '/a/b', value: 'x' }], 400, 'IMG.0001'],
    ['a missing value', [{ op: 'add', path: '/name' }], 400, 'IMG.0001'],
    [
      'visibility (not updatable here)',
      [{ op: 'replace', path: '/visibility', value: 'public' }],
      400,
      'IMG.0001',
    ],
    ['protected', [{ op: 'replace', path: '/protected', value: 'true' }], 400, 'IMG.0001'],
    ['__imagetype (service-set)', [{ op: 'add', path: '/__imagetype', value: 'gold' }], 400, 'IMG.0035'],
    [
      '__isregistered (service-set)',
      [{ op: 'add', path: '/__isregistered', value: 'false' }],
      400,
      'IMG.0035',
    ],
    ['__platform (derived)', [{ op: 'add', path: '/__platform', value: 'Windows' }], 400, 'IMG.0035'],
    ['status', [{ op: 'replace', path: '/status', value: 'queued' }], 400, 'IMG.0035'],
    ['an upper-case extension name', [{ op: 'add', path: '/MyAttr', value: 'x' }], 400, 'IMG.0001'],
    ['an empty name', [{ op: 'replace', path: '/name', value: '' }], 400, 'IMG.0013'],
    ['a 129-character name', [{ op: 'replace', path: '/name', value: 'n'.repeat(129) }], 400, 'IMG.0002'],
    ['a name with <', [{ op: 'replace', path: '/name', value: 'a<b' }], 400, 'IMG.0003'],
    ['removing the name', [{ op: 'remove', path: '/name' }], 400, 'IMG.0001'],
    [
      'a description with a line break',
      [{ op: 'add', path: '/__description', value: 'a\nb' }],
      400,
      'IMG.0054',
    ],
    [
      'a 1025-character description',
      [{ op: 'add', path: '/__description', value: 'd'.repeat(1025) }],
      400,
      'IMG.0004',
    ],
    [
      'an OS version outside the catalogue',
      [{ op: 'add', path: '/__os_version', value: 'TempleOS' }],
      400,
      'IMG.0056',
    ],
    ['a firmware type', [{ op: 'add', path: '/hw_firmware_type', value: 'coreboot' }], 400, 'IMG.0141'],
    [
      'a bad enterprise project',
      [{ op: 'replace', path: '/enterprise_project_id', value: 'x' }],
      400,
      'IMG.0155',
    ],
    ['min_ram as words', [{ op: 'replace', path: '/min_ram', value: 'lots' }], 400, 'IMG.0055'],
    ['max_ram as words', [{ op: 'add', path: '/max_ram', value: 'lots' }], 400, 'IMG.0055'],
    ['a shutdown timeout of 5 s', [{ op: 'add', path: '/os_shutdown_timeout', value: '5' }], 400, 'IMG.0001'],
    [
      'a GPU type beside __support_kvm',
      [{ op: 'add', path: '/__support_kvm_gpu_type', value: 'V100' }],
      400,
      'IMG.0035',
    ],
    [
      'Arm with BIOS',
      [
        { op: 'add', path: '/__support_arm', value: 'true' },
        { op: 'add', path: '/hw_firmware_type', value: 'bios' },
      ],
      400,
      'IMG.0035',
    ],
  ];
  it.each(refused)('refuses %s', async (_what, body, status, code) => {
    const before = await glance(image);
    await expectImsError(await patch(image, body), status, code);
    expect(await glance(image)).toEqual(before);
  });

  it('refuses malformed JSON and an empty body with IMS codes', async () => {
    await expectImsError(await patch(image, '[{"op":'), 400, 'IMG.0001');
    const empty = await s.request('PATCH', `/v2/cloudimages/${image}`, {
      token: owner.token,
      headers: { 'content-type': 'application/json' },
    });
    await expectImsError(empty, 400, 'IMG.0007');
  });

  it('changes only active images (IMG.0046)', async () => {
    const created = await s.request('POST', '/v2/images', { token: owner.token, body: { name: 'queued' } });
    const id = ((await created.json()) as Json).id as string;
    await expectImsError(await patch(id, [{ op: 'replace', path: '/name', value: 'x' }]), 400, 'IMG.0046');
  });

  it('hides another tenant’s image exactly like a missing one', async () => {
    const body = [{ op: 'replace', path: '/name', value: 'stolen' }];
    const foreign = await expectImsError(await patch(image, body, stranger), 404, 'IMG.0027');
    const missing = await expectImsError(await patch(MISSING, body, stranger), 404, 'IMG.0027');
    expect(foreign.error.message.replace(image, 'X')).toBe(missing.error.message.replace(MISSING, 'X'));
    expect((await glance(image)).name).toBe('renamed image_1.0');
  });

  it('lets a member see a shared image but not change it', async () => {
    const shared = await activeImage(s, owner, { name: 'to-share' });
    const add = await s.request('POST', `/v2/images/${shared}/members`, {
      token: owner.token,
      body: { member: taker.projectId },
    });
    expect(add.status).toBe(200);
    const res = await patch(shared, [{ op: 'replace', path: '/name', value: 'mine' }], taker);
    expect(res.status).toBe(403);
    expect(((await res.json()) as Json).error.code).toMatch(/^IMG\./);
    const owned = await patch(shared, [{ op: 'add', path: '/__description', value: 'x' }]);
    expect(((await owned.json()) as Json).__imagetype).toBe('shared');
  });
});

describe(`IMS properties through the Glance dialect (${TEST_DB})`, () => {
  const create = (body: Json) =>
    s.request('POST', '/v2/images', { token: owner.token, body: { name: 'g', ...body } });

  it('derives the OS facts and keeps the enterprise project on create', async () => {
    const res = await create({
      __os_version: 'CentOS 7.6 64bit',
      enterprise_project_id: EP,
      __support_kvm: 'true',
    });
    const body = (await res.json()) as Json;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body).toMatchObject({
      __os_version: 'CentOS 7.6 64bit',
      __os_type: 'Linux',
      __platform: 'CentOS',
      __os_bit: '64',
      __support_kvm: 'true',
      enterprise_project_id: EP,
    });
  });

  const refused: [string, Json, number][] = [
    ['a JSON boolean for a string flag', { __support_kvm: true }, 400],
    ['a flag that is not true/false', { __support_kvm: 'yes' }, 400],
    ['an OS version outside the catalogue', { __os_version: 'TempleOS' }, 400],
    ['a virtual_env_type outside the list', { virtual_env_type: 'Docker' }, 400],
    ['a firmware type', { hw_firmware_type: 'coreboot' }, 400],
    ['a bad enterprise project', { enterprise_project_id: 'abc' }, 400],
    ['__imagetype', { __imagetype: 'gold' }, 403],
    ['__isregistered', { __isregistered: 'true' }, 403],
    ['__os_type', { __os_type: 'Windows' }, 403],
    ['conflicting flags', { __support_xen: 'true', __support_xen_hana: 'true' }, 400],
  ];
  it.each(refused)('refuses %s with Glance’s shape', async (_what, body, status) => {
    const res = await create(body);
    const answer = (await res.json()) as Json;
    expect(res.status, JSON.stringify(answer)).toBe(status);
    expect(answer.title).toBeDefined();
    expect(answer).not.toHaveProperty('error');
  });

  it('checks a Glance patch the same way', async () => {
    const res = await create({});
    const id = ((await res.json()) as Json).id as string;
    const p = (ops: Json[]) =>
      s.request('PATCH', `/v2/images/${id}`, {
        token: owner.token,
        body: ops,
        headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      });
    expect((await p([{ op: 'add', path: '/__os_version', value: 'Nope' }])).status).toBe(400);
    expect((await p([{ op: 'add', path: '/__imagetype', value: 'gold' }])).status).toBe(403);
    const ok = await p([{ op: 'add', path: '/__os_version', value: 'Debian GNU/Linux 12.0.0 64bit' }]);
    expect(((await ok.json()) as Json).__platform).toBe('Debian');
    const removed = await p([{ op: 'remove', path: '/__os_version' }]);
    expect((await removed.json()) as Json).not.toHaveProperty('__platform');
  });
});
