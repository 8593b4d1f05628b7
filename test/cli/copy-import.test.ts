/**
 * The built `ims` against a running server with job workers: image copy and image import
 * --url with --wait (progress on a pipe, then JSON), quota show/set, audit query with its
 * filters and paging, and the exit codes of each.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.ts';
import { cliRunner, hasTerminalControl, type CliRunner } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
// The web server web-download reaches: an address the service's allow-list names.
const WEB_HOST = '127.0.0.6';
let s: TestServer;
let web: http.Server;
let webBase: string;
let qcow2: Buffer;
let owner: CliRunner;
let admin: CliRunner;
let ownerProject: string;
let ownerUser: string;

beforeAll(async () => {
  s = await startTestServer({ IMS_WEB_DOWNLOAD_ALLOW: WEB_HOST }, { worker: true });
  const a = await s.tokenFor('cli-copy', 'cora', 'member');
  ownerProject = a.projectId;
  ownerUser = a.userId;
  owner = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: a.token, IMS_PROJECT_ID: a.projectId });
  admin = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: s.adminToken });
  const file = path.join(owner.home, 'small.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '32M']);
  qcow2 = await fs.readFile(file);
  web = http.createServer((req, res) => {
    if (req.url === '/small.qcow2') return res.writeHead(200, { 'content-length': qcow2.length }).end(qcow2);
    if (req.url === '/text') return res.end('this is not a disk image, whatever it claims'.repeat(100));
    return res.writeHead(404).end();
  });
  await new Promise<void>((r) => web.listen(0, WEB_HOST, r));
  webBase = `http://${WEB_HOST}:${(web.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await owner?.cleanup();
  await admin?.cleanup();
  await new Promise((r) => web?.close(r));
  await s?.close();
});

const FAST = { env: { IMS_PROGRESS_INTERVAL: '0.000001' } };

describe(`ims image copy, image import, quota, audit (${TEST_DB})`, { timeout: 240_000 }, () => {
  let imported: Json;

  it('imports from a URL and waits: plain progress lines on a pipe, then the active image as JSON', async () => {
    const r = await owner.run(
      [
        'image',
        'import',
        'from-web',
        '--url',
        `${webBase}/small.qcow2`,
        '--wait',
        '--interval',
        '0.2',
        '-o',
        'json',
      ],
      FAST,
    );
    expect(r.code, r.stderr).toBe(0);
    imported = JSON.parse(r.stdout) as Json;
    expect(imported).toMatchObject({
      name: 'from-web',
      status: 'active',
      disk_format: 'qcow2',
      size: qcow2.length,
      virtual_size: 32 * 1024 * 1024,
    });
    expect(hasTerminalControl(r.stderr)).toBe(false);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`import ${imported.id as string}: SUCCESS`);
  });

  it('exits 5 with the reason when the data is not in the declared format', async () => {
    const r = await owner.run([
      'image',
      'import',
      'liar',
      '--url',
      `${webBase}/text`,
      '--wait',
      '--interval',
      '0.2',
    ]);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stdout).toMatch(/^status\s+FAIL$/m);
    expect(r.stderr).toMatch(/job \S+ failed: .*(format|qcow2)/i);
  });

  it('imports without --wait: the image now, the job id on stderr', async () => {
    const r = await owner.run(['image', 'import', 'later', '--url', `${webBase}/small.qcow2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^name\s+later$/m);
    const job = /import job (\S+) started/.exec(r.stderr)?.[1];
    expect(job).toBeTruthy();
    const waited = await owner.json<Json>([
      'job',
      'wait',
      job!,
      '--interval',
      '0.2',
      '--progress',
      'none',
      '-o',
      'json',
    ]);
    expect(waited).toMatchObject({ job_id: job, status: 'SUCCESS' });
  });

  it('copies with --wait; without it prints the job id; refuses a bad name with the request id', async () => {
    const r = await owner.run(
      [
        'image',
        'copy',
        'from-web',
        'from-web copy',
        '--description',
        'a backup',
        '--wait',
        '--interval',
        '0.2',
        '-o',
        'json',
      ],
      FAST,
    );
    expect(r.code, r.stderr).toBe(0);
    const job = JSON.parse(r.stdout) as { status: string; job_type: string; entities: { image_id: string } };
    expect(job).toMatchObject({ status: 'SUCCESS', job_type: 'imsCopyImageInRegionJob' });
    expect(hasTerminalControl(r.stderr)).toBe(false);
    expect(r.stderr).toMatch(/^copy \S+: SUCCESS$/m);
    const copy = await owner.json<Json>(['image', 'show', job.entities.image_id, '-o', 'json']);
    expect(copy).toMatchObject({ name: 'from-web copy', status: 'active', checksum: imported.checksum });

    const started = await owner.json<{ job_id: string }>([
      'image',
      'copy',
      imported.id as string,
      'second',
      '-o',
      'json',
    ]);
    expect(started.job_id).toMatch(/\S/);
    const table = await owner.run(['image', 'copy', imported.id as string, 'third']);
    expect(table.stdout).toMatch(/^copy of \S+ started: job \S+ \(follow it with `ims job wait \S+`\)$/m);

    const bad = await owner.run(['image', 'copy', imported.id as string, '<script>']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\(HTTP 400 IMG\.0003, request id \S+\)/);
    const badJson = await owner.run(['image', 'copy', imported.id as string, ' ', '-o', 'json']);
    expect(badJson.code).toBe(1);
    expect(JSON.parse(badJson.stderr)).toMatchObject({ error: { status: 400, code: 'IMG.0003' } });
    expect((await owner.run(['image', 'copy', 'no-such-image', 'x'])).code).toBe(1);
  });

  it('shows the quota and its use; an admin sets it; a member may not', async () => {
    const before = await owner.json<Json[]>(['quota', 'show', '-o', 'json']);
    const images = before.find((r) => r.type === 'image')!;
    expect(images.used).toBeGreaterThanOrEqual(5);
    const set = await admin.json<Json[]>([
      'quota',
      'set',
      ownerProject,
      '--images',
      '100',
      '--size',
      'unlimited',
      '-o',
      'json',
    ]);
    expect(set).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'image', quota: 100 }),
        expect.objectContaining({ type: 'image_size_total', quota: -1 }),
      ]),
    );
    const table = await owner.run(['quota', 'show']);
    expect(table.stdout).toMatch(/^image\s+\d+\s+100\s+images$/m);
    expect(table.stdout).toMatch(/^image_size_total\s+\d+\s+unlimited\s+MiB$/m);
    const refused = await owner.run(['quota', 'set', ownerProject, '--images', '1000']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/HTTP 403/);
    expect((await admin.run(['quota', 'set', ownerProject])).code).toBe(2);
    expect((await admin.run(['quota', 'set', ownerProject, '--images', 'lots'])).code).toBe(2);
    await admin.json(['quota', 'set', ownerProject, '--images', 'default', '-o', 'json']);
  });

  it('queries audit events by operation, resource and user, a page at a time', async () => {
    const copies = await owner.json<{ traces: Json[]; meta_data: Json }>([
      'audit',
      'query',
      '--operation',
      'copyImage',
      '--resource',
      imported.id as string,
      '--from',
      '1h',
      '-o',
      'json',
    ]);
    expect(copies.traces.length).toBeGreaterThanOrEqual(3);
    for (const t of copies.traces)
      expect(t).toMatchObject({ trace_name: 'copyImage', resource_id: imported.id });
    const mine = await owner.json<{ traces: Json[] }>(['audit', 'query', '--user', ownerUser, '-o', 'json']);
    expect(mine.traces.length).toBeGreaterThan(copies.traces.length);
    expect(mine.traces.every((t) => (t.user as Json).id === ownerUser)).toBe(true);
    const none = await owner.json<{ traces: Json[] }>([
      'audit',
      'query',
      '--to',
      '2000-01-01T00:00:00Z',
      '-o',
      'json',
    ]);
    expect(none.traces).toEqual([]);

    const first = await owner.run(['audit', 'query', '--operation', 'copyImage', '--limit', '1']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(first.stdout).toMatch(/^TIME\s+OPERATION\s+RESULT\s+RESOURCE\s+USER\s+REQUEST$/m);
    const marker = /add --next (\d+)/.exec(first.stderr)?.[1];
    expect(marker).toBeTruthy();
    const second = await owner.json<{ traces: Json[] }>([
      'audit',
      'query',
      '--operation',
      'copyImage',
      '--limit',
      '1',
      '--next',
      marker!,
      '-o',
      'json',
    ]);
    expect(second.traces).toHaveLength(1);
    const all = await owner.json<{ traces: Json[]; meta_data: Json }>([
      'audit',
      'query',
      '--operation',
      'copyImage',
      '--limit',
      '1',
      '--all',
      '-o',
      'json',
    ]);
    expect(all.traces.length).toBeGreaterThanOrEqual(4);
    expect(all.meta_data).toEqual({ count: all.traces.length, marker: null });
    expect(new Set(all.traces.map((t) => t.trace_id)).size).toBe(all.traces.length);
  });

  it('exits 2 on usage errors of the new commands', async () => {
    const cases: [string[], RegExp][] = [
      [['image', 'import', 'x'], /--url or --object is required/],
      [['image', 'import', 'x', '--url', 'file:///etc/passwd'], /--url must be an http or https URL/],
      [['image', 'import', '--url', 'http://a/b'], /missing argument NAME/],
      [['image', 'import', 'x', '--image', 'y', '--url', 'http://a/b'], /either NAME/],
      [['image', 'copy', 'x'], /missing argument NAME/],
      [['image', 'copy', 'x', 'y', '--wait', '--interval', '0'], /--interval must be/],
      [['audit', 'query', '--from', 'yesterday-ish'], /--from takes an ISO 8601 time/],
      [['audit', 'query', '--limit', '0'], /--limit must be 1-1000/],
      [['audit', 'query', '--next', 'abc'], /--next takes a marker/],
      [['audit', 'frobnicate'], /unknown command "audit frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const r = await owner.run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  it('has --help for every command, and leaves `ims audit verify` to the server side', async () => {
    for (const cmd of COMMANDS) {
      const r = await owner.run([...cmd.name.split(' '), '--help']);
      expect(r.code, cmd.name).toBe(0);
      expect(r.stdout, cmd.name).toMatch(new RegExp(`^Usage: ims ${cmd.name}\\b`));
      expect(r.stdout).toMatch(/^Global options:$/m);
    }
    const group = await owner.run(['audit', '--help']);
    expect(group.stdout).toMatch(/ims audit query/);
    expect(group.stdout).toMatch(/verify\|export/);
    const verify = await owner.run(['audit', 'verify'], {
      env: { IMS_DATA_DIR: path.join(owner.home, 'server-data'), IMS_LOG_LEVEL: 'silent' },
    });
    expect(verify.stderr).not.toMatch(/unknown command/);
    expect(verify.code, verify.stderr).toBe(0);
  });
});
