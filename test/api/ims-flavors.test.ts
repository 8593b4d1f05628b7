import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { activeImage, expectImsError, idsOf, type Caller } from './ims-helpers.ts';

let s: TestServer;
let owner: Caller;
type Key =
  | 'plain'
  | 'largemem'
  | 'largememDebian'
  | 'arm'
  | 'xen'
  | 'bigRam'
  | 'smallMax'
  | 'bit32'
  | 'gpuT4'
  | 'windows'
  | 'bms'
  | 'data'
  | 'amd'
  | 'diskintensive';
const ids = {} as Record<Key, string>;

beforeAll(async () => {
  s = await startTestServer();
  owner = await s.tokenFor('flavor-owner', 'flo', 'member');
  const make = async (key: Key, body: Record<string, unknown>) => {
    ids[key] = await activeImage(s, owner, { name: key, ...body });
  };
  await make('plain', {});
  await make('largemem', { __os_version: 'CentOS 7.6 64bit', __support_largememory: 'true' });
  await make('largememDebian', {
    __os_version: 'Debian GNU/Linux 12.0.0 64bit',
    __support_largememory: 'true',
  });
  await make('arm', { __os_version: 'openEuler 22.03 64bit for ARM', __support_arm: 'true' });
  await make('xen', { __support_xen: 'true' });
  await make('bigRam', { min_ram: 16384 });
  await make('smallMax', { max_ram: '2048' });
  await make('bit32', { __os_version: 'CentOS 6.10 32bit' });
  await make('gpuT4', { __support_kvm_gpu_type: 'T4' });
  await make('windows', { __os_version: 'Windows Server 2019 Standard 64bit' });
  await make('bms', { virtual_env_type: 'Ironic' });
  await make('data', { virtual_env_type: 'DataImage' });
  await make('amd', { __support_amd: 'true' });
  await make('diskintensive', { __support_diskintensive: 'true' });
});
afterAll(async () => s?.close());

const names = async (query: string) => {
  const byId = new Map(Object.entries(ids).map(([k, v]) => [v, k]));
  return (await idsOf(s, owner, query)).map((id) => byId.get(id)).sort();
};
const generalX86 = [
  'amd',
  'bigRam',
  'bit32',
  'diskintensive',
  'gpuT4',
  'largemem',
  'largememDebian',
  'plain',
  'smallMax',
  'windows',
];

describe(`GET /v2/cloudimages?flavor_id= (${TEST_DB})`, () => {
  const cases: [string, string[]][] = [
    // 2 vCPUs × 2 GiB: every KVM x86 system image that fits 4 GiB.
    ['s6.large.2', generalX86.filter((n) => n !== 'bigRam' && n !== 'smallMax')],
    ['s6.medium.2', generalX86.filter((n) => n !== 'bigRam')],
    ['s6.2xlarge.4', generalX86.filter((n) => n !== 'smallMax' && n !== 'bit32')],
    ['e3.xlarge.8', ['largemem']],
    ['e7.xlarge.8', ['largemem', 'largememDebian']],
    ['m3ne.xlarge.8', ['largemem', 'largememDebian']],
    ['d2.xlarge.4', ['diskintensive']],
    ['kc1.large.2', ['arm']],
    ['s1.large.2', ['xen']],
    ['g6.xlarge.4', ['gpuT4', 'windows']],
    ['physical.s4.3xlarge', ['bms']],
    ['ac7.large.2', ['amd']],
    ['ac8.large.2', ['amd']],
    ['i3.large.4', ['largemem', 'largememDebian', 'windows']],
    // 8 GiB: too small for bigRam, too large for a 32-bit OS and for smallMax.
    ['ir7.large.4', generalX86.filter((n) => !['bigRam', 'smallMax', 'bit32'].includes(n))],
  ];
  it.each(cases)('%s', async (flavor, expected) => {
    expect(await names(`flavor_id=${flavor}`)).toEqual([...expected].sort());
  });

  it('combines with other filters and pages correctly', async () => {
    const all = await idsOf(s, owner, 'flavor_id=s6.large.2');
    const paged: string[] = [];
    let marker = '';
    for (;;) {
      const page = await idsOf(s, owner, `flavor_id=s6.large.2&limit=3${marker ? `&marker=${marker}` : ''}`);
      paged.push(...page);
      if (page.length < 3) break;
      marker = page[page.length - 1]!;
    }
    expect(paged).toEqual(all);
    expect(await names('flavor_id=s6.large.2&__os_type=Windows')).toEqual(['windows']);
  });

  it.each([
    ['an unknown family', 'zz9.large.2'],
    ['no size', 's6.large'],
    ['a bad size', 's6.hugex.2'],
    ['a word', 'nonsense'],
    ['SQL', "s6.large.2'--"],
    ['5000 characters', 'x'.repeat(5000)],
  ])('refuses a flavor id with %s (IMG.0192)', async (_what, flavor) => {
    const res = await s.request('GET', `/v2/cloudimages?flavor_id=${encodeURIComponent(flavor)}`, {
      token: owner.token,
    });
    await expectImsError(res, 400, 'IMG.0192');
  });
});

describe(`operator catalogues (${TEST_DB})`, () => {
  it('reads IMS_OS_VERSIONS_FILE and IMS_FLAVORS_FILE instead of the shipped ones', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-catalogue-'));
    const osFile = path.join(dir, 'os.json');
    const flavorFile = path.join(dir, 'flavors.json');
    await fs.writeFile(
      osFile,
      JSON.stringify({
        os_versions: [
          { os_version: 'Other Linux(64 bit)', platform: 'Other', os_type: 'Linux', os_bit: 64 },
          { os_version: 'HaikuOS R1 64bit', platform: 'Haiku', os_type: 'Other', os_bit: 64, tags: ['x86'] },
        ],
      }),
    );
    await fs.writeFile(
      flavorFile,
      JSON.stringify({
        families: [{ name: 'hk1', os_versions: ['HaikuOS R1 64bit'] }],
        flavors: [{ id: 'haiku-special', family: 'hk1', vcpus: 1, ram_mb: 1024 }],
      }),
    );
    const custom = await startTestServer({ IMS_OS_VERSIONS_FILE: osFile, IMS_FLAVORS_FILE: flavorFile });
    try {
      const me = await custom.tokenFor('haiku', 'hai', 'member');
      const haiku = await activeImage(custom, me, { name: 'h', __os_version: 'HaikuOS R1 64bit' });
      await activeImage(custom, me, { name: 'l' });
      const refused = await custom.request('POST', '/v2/images', {
        token: me.token,
        body: { name: 'c', __os_version: 'CentOS 7.6 64bit' },
      });
      expect(refused.status).toBe(400);
      expect(await idsOf(custom, me, 'flavor_id=haiku-special')).toEqual([haiku]);
      expect(await idsOf(custom, me, 'flavor_id=hk1.large.2')).toEqual([haiku]);
      await expectImsError(
        await custom.request('GET', '/v2/cloudimages?flavor_id=s6.large.2', { token: me.token }),
        400,
        'IMG.0192',
      );
      const versions = await (
        await custom.request('GET', '/v1/cloudimages/os_version', { token: me.token })
      ).json();
      expect(versions).toHaveLength(2);
    } finally {
      await custom.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe(`the IMS page size (${TEST_DB})`, () => {
  it('pages 500 images by default and at most 1000', async () => {
    const bulk = await s.tokenFor('bulk', 'bea', 'member');
    const rows = Array.from({ length: 520 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      name: `bulk-${i}`,
      status: 'active',
      visibility: 'private',
      owner: bulk.projectId,
      protected: 0,
      os_hidden: 0,
      container_format: 'bare',
      disk_format: 'raw',
      min_disk: 0,
      min_ram: 0,
      size: 1,
      virtual_size: null,
      checksum: null,
      os_hash_algo: null,
      os_hash_value: null,
      blob_id: null,
      created_at: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(),
      updated_at: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(),
      deleted_at: null,
    }));
    for (let i = 0; i < rows.length; i += 100)
      await s.server.db.kysely
        .insertInto('images')
        .values(rows.slice(i, i + 100))
        .execute();
    const first = await idsOf(s, bulk);
    expect(first).toHaveLength(500);
    expect(first[0]).toBe(rows[519]!.id);
    const second = await idsOf(s, bulk, `marker=${first[499]}`);
    expect(second).toHaveLength(20);
    expect(new Set([...first, ...second]).size).toBe(520);
    expect(await idsOf(s, bulk, 'limit=5000')).toHaveLength(520);
  });
});
