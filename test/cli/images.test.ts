import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, hasTerminalControl, type CliRunner } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let owner: CliRunner;
let other: CliRunner;
let otherProject: string;

beforeAll(async () => {
  s = await startTestServer();
  const a = await s.tokenFor('cli-images', 'carol', 'member');
  const b = await s.tokenFor('cli-other', 'oscar', 'member');
  otherProject = b.projectId;
  owner = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: a.token, IMS_PROJECT_ID: a.projectId });
  other = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: b.token, IMS_PROJECT_ID: b.projectId });
});
afterAll(async () => {
  await owner?.cleanup();
  await other?.cleanup();
  await s?.close();
});

describe(`ims image commands (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('creates, uploads with plain progress lines, downloads the same bytes, and deletes', async () => {
    const data = randomBytes(6 * 1024 * 1024 + 123);
    const file = path.join(owner.home, 'disk.raw');
    await fs.writeFile(file, data);

    const created = await owner.json<Json>([
      'image',
      'create',
      'round-trip',
      '--disk-format',
      'raw',
      '--tag',
      'cli',
    ]);
    expect(created).toMatchObject({ name: 'round-trip', status: 'queued', tags: ['cli'] });
    const id = created.id as string;

    // A progress line at every chunk (interval ~0), as a long upload shows every 5 s in a CI log.
    const up = await owner.run(['image', 'upload', id, file], { env: { IMS_PROGRESS_INTERVAL: '0.000001' } });
    expect(up.code, up.stderr).toBe(0);
    expect(hasTerminalControl(up.stderr)).toBe(false);
    const lines = up.stderr.trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(2);
    for (const line of lines.slice(0, -1)) {
      expect(line).toMatch(
        new RegExp(`^upload ${id}: \\d+(\\.\\d)?%, [\\d.]+ [KMG]?i?B / 6\\.00 MiB, [\\d.]+ [KMG]?i?B/s`),
      );
    }
    expect(lines.at(-1)).toMatch(
      new RegExp(`^upload ${id}: 6\\.00 MiB in [\\d.]+ s \\([\\d.]+ [KMG]?i?B/s\\)$`),
    );
    expect(up.stdout).toContain(`image ${id} is active (${data.length} bytes`);

    const shown = await owner.json<Json>(['image', 'show', 'round-trip']);
    expect(shown).toMatchObject({ id, status: 'active', size: data.length });
    expect(shown.checksum).toBe(createHash('md5').update(data).digest('hex'));

    const target = path.join(owner.home, 'copy.raw');
    const down = await owner.run(['image', 'download', id, '--file', target]);
    expect(down.code, down.stderr).toBe(0);
    expect(hasTerminalControl(down.stderr)).toBe(false);
    expect((await fs.readFile(target)).equals(data)).toBe(true);
    await expect(fs.stat(`${target}.part`)).rejects.toThrow();

    // To stdout (a pipe), progress off: stdout is exactly the image data.
    const piped = await owner.run(['image', 'download', id, '--progress', 'none']);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.raw.equals(data)).toBe(true);

    const deleted = await owner.json<Json>(['image', 'delete', id]);
    expect(deleted).toEqual({ deleted: [id] });
    const gone = await owner.run(['image', 'show', id]);
    expect(gone.code).toBe(1);
  });

  it('creates and uploads in one command from stdin', async () => {
    const data = randomBytes(300_000);
    const r = await owner.run(
      ['image', 'create', 'from-stdin', '--disk-format', 'raw', '--file', '-', '-o', 'json'],
      {
        input: data,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const image = JSON.parse(r.stdout) as Json;
    expect(image).toMatchObject({ status: 'active', size: data.length, container_format: 'bare' });
  });

  it('lists with the API filters, as JSON and as a table', async () => {
    for (const [name, tag] of [
      ['filter-a', 'red'],
      ['filter-b', 'blue'],
      ['filter-c', 'red'],
    ]) {
      await owner.json(['image', 'create', name!, '--tag', tag!, '--property', 'os_distro=cirros']);
    }
    const red = await owner.json<Json[]>(['image', 'list', '--tag', 'red', '--sort', 'name:desc']);
    expect(red.map((i) => i.name)).toEqual(['filter-c', 'filter-a']);
    const byName = await owner.json<Json[]>(['image', 'list', '--name', 'in:filter-a,filter-b']);
    expect(byName.map((i) => i.name).sort()).toEqual(['filter-a', 'filter-b']);
    const byProperty = await owner.json<Json[]>([
      'image',
      'list',
      '--property',
      'os_distro=cirros',
      '--limit',
      '1',
      '--all',
    ]);
    expect(byProperty).toHaveLength(3);
    const queued = await owner.json<Json[]>(['image', 'list', '--status', 'queued', '--tag', 'blue']);
    expect(queued.map((i) => i.name)).toEqual(['filter-b']);

    const table = await owner.run(['image', 'list', '--tag', 'red', '--sort', 'name:asc']);
    expect(table.code).toBe(0);
    const rows = table.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^ID\s+NAME\s+STATUS\s+VISIBILITY\s+DISK\s+SIZE$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/)[1])).toEqual(['filter-a', 'filter-c']);

    const paged = await owner.run(['image', 'list', '--tag', 'red', '--limit', '1']);
    expect(paged.stderr).toMatch(/more images: --marker \S+, or --all/);
  });

  it('adds and removes tags', async () => {
    const image = await owner.json<Json>(['image', 'create', 'tagged']);
    expect(await owner.json(['image', 'tag', 'add', 'tagged', 'one', 'two'])).toEqual({
      id: image.id,
      tags: ['one', 'two'],
    });
    expect(await owner.json(['image', 'tag', 'remove', image.id as string, 'one'])).toEqual({
      id: image.id,
      tags: ['two'],
    });
  });

  it('shares an image; the member accepts, rejects and accepts again; the owner sees it and unshares', async () => {
    const image = await owner.json<Json>(
      ['image', 'create', 'shared-one', '--disk-format', 'raw', '--file', '-'],
      {
        input: randomBytes(1024),
      },
    );
    const id = image.id as string;
    const shared = await owner.json<Json[]>(['image', 'share', id, otherProject]);
    expect(shared).toMatchObject([{ member_id: otherProject, status: 'pending', image_id: id }]);

    const pending = await other.json<Json[]>([
      'image',
      'list',
      '--visibility',
      'shared',
      '--member-status',
      'pending',
    ]);
    expect(pending.map((i) => i.id)).toContain(id);
    expect(await other.json(['image', 'accept', id])).toMatchObject({ status: 'accepted' });
    expect(await other.json(['image', 'reject', id])).toMatchObject({ status: 'rejected' });
    expect(await other.json(['image', 'accept', id])).toMatchObject({ status: 'accepted' });
    expect((await other.json<Json[]>(['image', 'list'])).map((i) => i.id)).toContain(id);

    const members = await owner.json<Json[]>(['image', 'members', id]);
    expect(members).toMatchObject([{ member_id: otherProject, status: 'accepted' }]);
    expect(await owner.json(['image', 'unshare', id, otherProject])).toEqual({ id, removed: [otherProject] });
    expect(await owner.json(['image', 'members', id])).toEqual([]);
  });

  it('shows hostile names as text: control characters are escaped in tables', async () => {
    const name = 'evil\u001b[31mred\r\nnext';
    await owner.json(['image', 'create', name, '--tag', 'hostile']);
    const table = await owner.run(['image', 'list', '--tag', 'hostile']);
    expect(hasTerminalControl(table.stdout)).toBe(false);
    expect(table.stdout).toContain('evil\\x1b[31mred\\x0d\\x0anext');
    const [image] = await owner.json<Json[]>(['image', 'list', '--tag', 'hostile']);
    expect(image!.name).toBe(name);
  });

  it('exits 1 on API errors, with the message and request id on stderr (JSON with -o json)', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const r = await owner.run(['image', 'show', missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^Error: .*00000000-0000-4000-8000-000000000000.*\n {2}\(HTTP 404 Not Found, request id req-[0-9a-f-]+\)\n$/,
    );

    const j = await owner.run(['image', 'delete', missing, '-o', 'json']);
    expect(j.code).toBe(1);
    const body = JSON.parse(j.stderr) as { error: Json };
    expect(body.error).toMatchObject({ status: 404, code: 'Not Found' });
    expect(body.error.request_id).toMatch(/^req-/);

    const bad = await owner.run(['image', 'create', 'bad-format', '--disk-format', 'floppy']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/HTTP 400/);

    // The server refuses data for an image without formats before reading it.
    const bare = await owner.json<Json>(['image', 'create', 'no-format']);
    const big = path.join(owner.home, 'big.raw');
    await fs.writeFile(big, randomBytes(4 * 1024 * 1024));
    const refused = await owner.run(['image', 'upload', bare.id as string, big]);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/format/);

    const noFile = await owner.run(['image', 'upload', missing, path.join(owner.home, 'absent.img')]);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toMatch(/cannot read .*absent\.img: no such file/);
  });

  it('exits 2 on usage errors, pointing at --help', async () => {
    const cases: [string[], RegExp][] = [
      [['image', 'list', '--bogus'], /Unknown option '--bogus'/],
      [['image', 'show'], /missing argument IMAGE/],
      [['image', 'show', 'a', 'b'], /unexpected argument "b"/],
      [['image', 'list', '--output', 'yaml'], /--output must be table or json/],
      [['image', 'create', 'x', '--min-disk', 'ten'], /--min-disk must be a non-negative integer/],
      [['image', 'create', 'x', '--visibility', 'everyone'], /--visibility must be one of/],
      [['image', 'frobnicate'], /unknown command "image frobnicate"/],
      [['image', 'list', '--progress', 'loud'], /--progress must be one of/],
    ];
    for (const [args, message] of cases) {
      const r = await owner.run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});
