/**
 * End-to-end compatibility with Debian's real OpenStack clients: the `openstack`
 * CLI (OSC 6 on openstacksdk) and `glance` (python-glanceclient 4), run as child
 * processes against a real in-process server.
 *
 * Both are Debian's Python tools: they run with /usr/bin/python3 (never the pyenv
 * one), so they are called by full path with /usr/bin first in PATH, and with an
 * environment built from scratch (no OS_* or proxy settings from the developer's
 * shell) and a temporary HOME (client caches stay inside this file's run).
 *
 * scripts/system-deps.sh installs python3-openstackclient and python3-glanceclient.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.ts';
import {
  baseEnv,
  GLANCE,
  glanceRows,
  glanceTable,
  keystoneEnv,
  ok,
  OPENSTACK,
  run,
} from '../helpers/openstack-cli.ts';

const TEST_TIMEOUT_MS = 120_000;
const IMAGE_BYTES = 3 * 1024 * 1024 + 123;

/** The ID column of glanceclient's image-list table. */
function parseGlanceIds(stdout: string): string[] {
  return glanceRows(stdout)
    .map((cells) => cells[0]!)
    .filter((id) => id !== '');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('real OpenStack clients (openstack, glance)', () => {
  let ts: TestServer;
  let work: string;
  let osHome: string;
  let adminEnv: Record<string, string>;
  let data: Buffer;
  let dataFile: string;

  beforeAll(async () => {
    for (const bin of [OPENSTACK, GLANCE]) {
      if (!existsSync(bin))
        throw new Error(
          `${bin} is missing: run scripts/system-deps.sh (python3-openstackclient, python3-glanceclient)`,
        );
    }
    ts = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-cli-'));
    osHome = path.join(work, 'home-openstack');
    await fs.mkdir(osHome);
    adminEnv = keystoneEnv(ts.url, osHome, 'admin', ADMIN_PASSWORD, 'admin');
    data = randomBytes(IMAGE_BYTES);
    dataFile = path.join(work, 'image.raw');
    await fs.writeFile(dataFile, data);
  });

  afterAll(async () => {
    await ts?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const openstack = (args: string[], env = adminEnv) => run(OPENSTACK, args, env);

  /** `openstack image create` of the test file as raw/bare, with extra flags; the JSON answer. */
  async function createRawImage<T>(name: string, flags: string[] = [], env = adminEnv): Promise<T> {
    const args = ['image', 'create', ...flags, '--file', dataFile, '--disk-format', 'raw'];
    args.push('--container-format', 'bare', name, '-f', 'json');
    return JSON.parse(ok(await openstack(args, env), `image create ${flags.join(' ')}`)) as T;
  }

  it(
    'openstack: create with data, list, show, set tags and properties, save, delete (Keystone password auth)',
    async () => {
      const name = `cli-image-${randomBytes(3).toString('hex')}`;
      const created = await createRawImage<{ id: string; name: string }>(name);
      expect(created.name).toBe(name);
      const id = created.id;

      const listed = JSON.parse(ok(await openstack(['image', 'list', '-f', 'json']), 'image list')) as {
        ID: string;
        Name: string;
        Status: string;
      }[];
      expect(listed).toContainEqual({ ID: id, Name: name, Status: 'active' });

      const shown = JSON.parse(
        ok(await openstack(['image', 'show', id, '-f', 'json']), 'image show'),
      ) as Record<string, unknown>;
      expect(shown).toMatchObject({
        id,
        name,
        status: 'active',
        size: data.length,
        checksum: md5(data),
        disk_format: 'raw',
        container_format: 'bare',
      });

      ok(await openstack(['image', 'set', '--tag', 't1', '--property', 'k=v', id]), 'image set');
      const updated = JSON.parse(
        ok(await openstack(['image', 'show', name, '-f', 'json']), 'image show by name'),
      ) as {
        tags: string[];
        properties: Record<string, unknown>;
      };
      expect(updated.tags).toEqual(['t1']);
      expect(updated.properties.k).toBe('v');

      const out = path.join(work, 'saved.raw');
      ok(await openstack(['image', 'save', '--file', out, id]), 'image save');
      expect(sha256(await fs.readFile(out))).toBe(sha256(data));

      ok(await openstack(['image', 'delete', id]), 'image delete');
      const after = JSON.parse(
        ok(await openstack(['image', 'list', '-f', 'json']), 'image list after delete'),
      ) as { ID: string }[];
      expect(after.map((i) => i.ID)).not.toContain(id);
      const gone = await openstack(['image', 'show', id, '-f', 'json']);
      expect(gone.code).not.toBe(0);
      expect(gone.stderr).toMatch(/No Image found/i);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "openstack: a user of another project neither lists nor shows the first project's private image",
    async () => {
      const name = `cli-private-${randomBytes(3).toString('hex')}`;
      const priv = await createRawImage<{ id: string; visibility: string }>(name, ['--private']);
      expect(priv.visibility).toBe('private');

      // The helper gives users it creates the password `pw-<user>`.
      const bob = await ts.tokenFor('cli-other', 'cli-bob');
      const own = await ts.request('POST', '/v2/images', {
        token: bob.token,
        body: { name: 'bobs-own', disk_format: 'raw', container_format: 'bare' },
      });
      expect(own.status).toBe(201);
      const ownId = ((await own.json()) as { id: string }).id;
      const bobEnv = keystoneEnv(ts.url, osHome, 'cli-bob', 'pw-cli-bob', 'cli-other');

      const listed = JSON.parse(
        ok(await openstack(['image', 'list', '-f', 'json'], bobEnv), 'image list as bob'),
      ) as { ID: string }[];
      const ids = listed.map((i) => i.ID);
      expect(ids).toContain(ownId);
      expect(ids).not.toContain(priv.id);

      for (const ref of [priv.id, name]) {
        const shown = await openstack(['image', 'show', ref, '-f', 'json'], bobEnv);
        expect(shown.code, `image show ${ref} as bob`).not.toBe(0);
        expect(shown.stderr).toMatch(/No Image found/i);
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'openstack: sharing between two projects (add project, set --accept as the member, list --shared, remove project)',
    async () => {
      // The helper gives users it creates the password `pw-<user>`.
      const owner = await ts.tokenFor('cli-share-owner', 'cli-olive');
      const member = await ts.tokenFor('cli-share-member', 'cli-mel');
      const ownerEnv = keystoneEnv(ts.url, osHome, 'cli-olive', 'pw-cli-olive', 'cli-share-owner');
      const memberEnv = keystoneEnv(ts.url, osHome, 'cli-mel', 'pw-cli-mel', 'cli-share-member');
      const name = `cli-shared-${randomBytes(3).toString('hex')}`;
      const img = await createRawImage<{ id: string }>(name, ['--shared'], ownerEnv);
      const sharedIds = async () =>
        (
          JSON.parse(
            ok(
              await openstack(['image', 'list', '--shared', '-f', 'json'], memberEnv),
              'image list --shared',
            ),
          ) as { ID: string }[]
        ).map((i) => i.ID);

      const added = JSON.parse(
        ok(
          await openstack(['image', 'add', 'project', img.id, member.projectId, '-f', 'json'], ownerEnv),
          'image add project',
        ),
      ) as Record<string, string>;
      expect(added).toMatchObject({ image_id: img.id, member_id: member.projectId, status: 'pending' });
      expect(await sharedIds()).not.toContain(img.id);

      ok(
        await openstack(['image', 'set', '--accept', img.id], memberEnv),
        'image set --accept as the member',
      );
      expect(await sharedIds()).toContain(img.id);
      // The owner cannot answer for its member.
      const ownerAccept = await openstack(
        ['image', 'set', '--accept', '--project', member.projectId, img.id],
        ownerEnv,
      );
      expect(ownerAccept.code).not.toBe(0);

      ok(
        await openstack(['image', 'remove', 'project', img.id, member.projectId], ownerEnv),
        'image remove project',
      );
      expect(await sharedIds()).not.toContain(img.id);
      expect(owner.projectId).not.toBe(member.projectId);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'openstack: token and endpoint without Keystone (--os-auth-type admin_token, endpoint with /v2)',
    async () => {
      const res = await ts.request('POST', '/v2/images', {
        body: { name: 'token-endpoint-image', disk_format: 'raw', container_format: 'bare' },
      });
      expect(res.status).toBe(201);
      const id = ((await res.json()) as { id: string }).id;
      const env = baseEnv(osHome);
      const listed = JSON.parse(
        ok(
          await run(
            OPENSTACK,
            [
              '--os-auth-type',
              'admin_token',
              '--os-endpoint',
              `${ts.url}/v2`,
              '--os-token',
              ts.adminToken,
              'image',
              'list',
              '-f',
              'json',
            ],
            env,
          ),
          'image list (admin_token)',
        ),
      ) as { ID: string; Name: string; Status: string }[];
      expect(listed).toContainEqual({ ID: id, Name: 'token-endpoint-image', Status: 'queued' });
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'glance: image-list, image-show, image-download, image-create without data, image-update --property (token and image URL)',
    async () => {
      // Each call gets a fresh HOME. In token mode glanceclient 4.1 caches the
      // server's image schema as ~/.glanceclient/image_schema.json and, on the next
      // run, turns its properties into image-create-via-import options; the schema's
      // read-only `stores` property (which Glance itself publishes) then collides
      // with that command's own --stores option and every later command fails with
      // "argument --stores: conflicting option string: --stores". With Keystone
      // (OS_AUTH_URL) the cache goes to a per-URL folder the parser never reads.
      let n = 0;
      const glance = async (args: string[]) => {
        const home = path.join(work, `home-glance-${n++}`);
        await fs.mkdir(home);
        return run(
          GLANCE,
          ['--os-image-url', ts.url, '--os-auth-token', ts.adminToken, ...args],
          baseEnv(home),
          { closeStdin: true },
        );
      };

      const created = await ts.request('POST', '/v2/images', {
        body: { name: 'glance-data', disk_format: 'raw', container_format: 'bare' },
      });
      const id = ((await created.json()) as { id: string }).id;
      const put = await fetch(`${ts.url}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { 'x-auth-token': ts.adminToken, 'content-type': 'application/octet-stream' },
        body: data,
      });
      expect(put.status).toBe(204);

      expect(parseGlanceIds(ok(await glance(['image-list']), 'glance image-list'))).toContain(id);

      const shown = glanceTable(ok(await glance(['image-show', id]), 'glance image-show'));
      expect(shown).toMatchObject({
        id,
        name: 'glance-data',
        status: 'active',
        size: String(data.length),
        checksum: md5(data),
      });

      const out = path.join(work, 'glance-download.raw');
      ok(await glance(['image-download', '--file', out, id]), 'glance image-download');
      expect(sha256(await fs.readFile(out))).toBe(sha256(data));

      const made = glanceTable(
        ok(
          await glance([
            'image-create',
            '--name',
            'X',
            '--disk-format',
            'qcow2',
            '--container-format',
            'bare',
          ]),
          'glance image-create',
        ),
      );
      expect(made).toMatchObject({
        name: 'X',
        status: 'queued',
        disk_format: 'qcow2',
        container_format: 'bare',
      });
      const newId = made.id!;

      const updated = glanceTable(
        ok(await glance(['image-update', '--property', 'foo=bar', newId]), 'glance image-update'),
      );
      expect(updated).toMatchObject({ id: newId, foo: 'bar', status: 'queued' });
      const check = await ts.request('GET', `/v2/images/${newId}`);
      expect(await check.json()).toMatchObject({ foo: 'bar', name: 'X', status: 'queued' });
    },
    TEST_TIMEOUT_MS,
  );
});
