/**
 * Interop with python-glanceclient 4 (`glance --os-image-url ... --os-auth-token ...`,
 * which fetches /versions and the image and metadefs schemas before anything else)
 * and with an openstacksdk script, both Debian's, run with /usr/bin/python3
 * against a real in-process server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  baseEnv,
  GLANCE,
  glanceRows as rows,
  glanceTable as table,
  ok,
  run,
} from '../helpers/openstack-cli.ts';

const TEST_TIMEOUT_MS = 180_000;
const SCENARIO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'openstacksdk-scenario.py');

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('python-glanceclient and openstacksdk against IMS', () => {
  let ts: TestServer;
  let work: string;
  let data: Buffer;
  let dataFile: string;
  let owner: { token: string; projectId: string };
  let member: { token: string; projectId: string };
  let n = 0;

  beforeAll(async () => {
    if (!existsSync(GLANCE)) throw new Error(`${GLANCE} is missing: run scripts/system-deps.sh`);
    ts = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-glanceclient-'));
    data = randomBytes(2 * 1024 * 1024 + 7);
    dataFile = path.join(work, 'image.raw');
    await fs.writeFile(dataFile, data);
    owner = await ts.tokenFor('gc-owner', 'gc-olivia', 'member');
    member = await ts.tokenFor('gc-member', 'gc-max', 'member');
  });

  afterAll(async () => {
    await ts?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  /**
   * One glance call with a token and the image URL. A fresh HOME each time: in
   * token mode glanceclient caches the image schema and turns it into options
   * of the next run (see openstack-cli.test.ts).
   */
  const glance = async (token: string, args: string[]) => {
    const home = path.join(work, `home-${n++}`);
    await fs.mkdir(home);
    return run(GLANCE, ['--os-image-url', ts.url, '--os-auth-token', token, ...args], baseEnv(home), {
      closeStdin: true,
    });
  };

  it(
    'image-create with --file, image-upload, image-download, image-tag-update/-delete',
    async () => {
      const created = table(
        ok(
          await glance(owner.token, [
            'image-create',
            '--name',
            'gc-with-data',
            '--disk-format',
            'raw',
            '--container-format',
            'bare',
            '--file',
            dataFile,
          ]),
          'glance image-create --file',
        ),
      );
      expect(created).toMatchObject({ name: 'gc-with-data', status: 'active', checksum: md5(data) });
      expect(created.size).toBe(String(data.length));

      const bare = table(
        ok(
          await glance(owner.token, [
            'image-create',
            '--name',
            'gc-later',
            '--disk-format',
            'raw',
            '--container-format',
            'bare',
          ]),
          'glance image-create',
        ),
      );
      expect(bare.status).toBe('queued');
      ok(await glance(owner.token, ['image-upload', '--file', dataFile, bare.id!]), 'glance image-upload');
      const shown = table(ok(await glance(owner.token, ['image-show', bare.id!]), 'glance image-show'));
      expect(shown).toMatchObject({ status: 'active', checksum: md5(data) });

      const out = path.join(work, 'download.raw');
      ok(await glance(owner.token, ['image-download', '--file', out, bare.id!]), 'glance image-download');
      expect(md5(await fs.readFile(out))).toBe(md5(data));

      ok(await glance(owner.token, ['image-tag-update', bare.id!, 'gc-tag']), 'glance image-tag-update');
      let image = (await (await ts.request('GET', `/v2/images/${bare.id}`)).json()) as { tags: string[] };
      expect(image.tags).toEqual(['gc-tag']);
      ok(await glance(owner.token, ['image-tag-delete', bare.id!, 'gc-tag']), 'glance image-tag-delete');
      image = (await (await ts.request('GET', `/v2/images/${bare.id}`)).json()) as { tags: string[] };
      expect(image.tags).toEqual([]);

      // another project's image is not found, and the client says so
      const foreign = await glance(member.token, ['image-show', bare.id!]);
      expect(foreign.code).not.toBe(0);
      expect(foreign.stderr + foreign.stdout).toMatch(/No image with a name or ID|404|not found/i);

      ok(await glance(owner.token, ['image-delete', created.id!]), 'glance image-delete');
      expect((await ts.request('GET', `/v2/images/${created.id}`)).status).toBe(404);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'member-create, member-list, member-update (by the member), member-delete',
    async () => {
      const made = await ts.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'gc-shared', disk_format: 'raw', container_format: 'bare' },
      });
      const id = ((await made.json()) as { id: string }).id;

      const added = rows(
        ok(await glance(owner.token, ['member-create', id, member.projectId]), 'glance member-create'),
      );
      expect(added[0]).toEqual([id, member.projectId, 'pending']);
      const listed = rows(
        ok(await glance(owner.token, ['member-list', '--image-id', id]), 'glance member-list'),
      );
      expect(listed).toEqual([[id, member.projectId, 'pending']]);

      // the owner cannot answer for the member
      expect((await glance(owner.token, ['member-update', id, member.projectId, 'accepted'])).code).not.toBe(
        0,
      );
      const accepted = rows(
        ok(
          await glance(member.token, ['member-update', id, member.projectId, 'accepted']),
          'glance member-update',
        ),
      );
      expect(accepted[0]).toEqual([id, member.projectId, 'accepted']);
      const seen = await ts.request('GET', '/v2/images', { token: member.token });
      expect(((await seen.json()) as { images: { id: string }[] }).images.map((i) => i.id)).toContain(id);

      ok(await glance(owner.token, ['member-delete', id, member.projectId]), 'glance member-delete');
      const after = rows(
        ok(await glance(owner.token, ['member-list', '--image-id', id]), 'glance member-list'),
      );
      expect(after).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'md-resource-type-list, md-namespace-create/-show/-list, md-property-create, md-object-create, md-tag-create (admin)',
    async () => {
      const admin = ts.adminToken;
      const types = rows(ok(await glance(admin, ['md-resource-type-list']), 'glance md-resource-type-list'));
      expect(types.map((r) => r[0])).toContain('OS::Glance::Image');

      const ns = table(
        ok(
          await glance(admin, [
            'md-namespace-create',
            'OS::GC::Test',
            '--display-name',
            'GC test',
            '--visibility',
            'public',
          ]),
          'glance md-namespace-create',
        ),
      );
      expect(ns).toMatchObject({ namespace: 'OS::GC::Test', display_name: 'GC test', visibility: 'public' });

      ok(
        await glance(admin, [
          'md-resource-type-associate',
          'OS::GC::Test',
          '--name',
          'OS::Glance::Image',
          '--prefix',
          'gc_',
        ]),
        'glance md-resource-type-associate',
      );
      ok(
        await glance(admin, [
          'md-property-create',
          'OS::GC::Test',
          '--name',
          'cpu_mode',
          '--title',
          'CPU mode',
          '--schema',
          '{"type": "string", "enum": ["host", "custom"]}',
        ]),
        'glance md-property-create',
      );
      ok(
        await glance(admin, [
          'md-object-create',
          'OS::GC::Test',
          '--name',
          'Limits',
          '--schema',
          '{"description": "limits", "properties": {"max": {"title": "Max", "type": "integer"}}}',
        ]),
        'glance md-object-create',
      );
      ok(await glance(admin, ['md-tag-create', 'OS::GC::Test', '--name', 'gc-tag']), 'glance md-tag-create');

      const shown = table(
        ok(await glance(admin, ['md-namespace-show', 'OS::GC::Test']), 'glance md-namespace-show'),
      );
      expect(shown.namespace).toBe('OS::GC::Test');
      expect(shown.properties).toContain('cpu_mode');
      expect(shown.objects).toContain('Limits');
      expect(shown.tags).toContain('gc-tag');
      expect(shown.resource_type_associations).toContain('OS::Glance::Image');

      const list = rows(ok(await glance(member.token, ['md-namespace-list']), 'glance md-namespace-list'));
      expect(list.map((r) => r[0])).toContain('OS::GC::Test');
      const props = rows(
        ok(await glance(admin, ['md-property-list', 'OS::GC::Test']), 'glance md-property-list'),
      );
      expect(props.map((r) => r[0])).toContain('cpu_mode');

      // a member reads but does not write
      expect((await glance(member.token, ['md-tag-create', 'OS::GC::Test', '--name', 'nope'])).code).not.toBe(
        0,
      );
      ok(await glance(admin, ['md-namespace-delete', 'OS::GC::Test']), 'glance md-namespace-delete');
      expect((await ts.request('GET', '/v2/metadefs/namespaces/OS::GC::Test')).status).toBe(404);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'openstacksdk: create with data, list, download, tags, members, update, delete',
    async () => {
      await ts.tokenFor('sdk-owner', 'sdk-olga', 'member');
      await ts.tokenFor('sdk-member', 'sdk-mia', 'member');
      const home = path.join(work, 'home-sdk');
      await fs.mkdir(home);
      const out = ok(
        await run(
          '/usr/bin/python3',
          [
            SCENARIO,
            `${ts.url}/v3`,
            'sdk-olga',
            'pw-sdk-olga',
            'sdk-owner',
            'sdk-mia',
            'pw-sdk-mia',
            'sdk-member',
          ],
          baseEnv(home),
        ),
        'openstacksdk scenario',
      );
      const report = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
      expect(report.created).toMatchObject({
        status: 'active',
        name: 'sdk-image',
        checksum: report.expected_md5,
      });
      expect(report.listed).toBe(true);
      expect(report.downloaded_md5).toBe(report.expected_md5);
      expect(report.tags_after_add).toEqual(['sdk-tag']);
      expect(report.tags_after_remove).toEqual([]);
      expect(report.member_added).toBe('pending');
      expect(report.member_sees).toBe(true);
      expect((report.members as [string, string][])[0]![1]).toBe('accepted');
      expect(report.members_after_remove).toEqual([]);
      expect(report.updated).toEqual({ name: 'sdk-renamed', os_distro: 'cirros' });
      expect(report.deleted).toBe(true);
    },
    TEST_TIMEOUT_MS,
  );
});
