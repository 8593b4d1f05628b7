import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, type CliRunner } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let admin: CliRunner;

beforeAll(async () => {
  s = await startTestServer();
  admin = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: s.adminToken });
});
afterAll(async () => {
  await admin?.cleanup();
  await s?.close();
});

describe(`ims admin commands (${TEST_DB})`, { timeout: 240_000 }, () => {
  it('creates an account, a project and a user with a role; the user signs in and works', async () => {
    const account = await admin.json<Json>(['account', 'create', 'acme', '--description', 'ACME Corp']);
    expect(account).toMatchObject({ name: 'acme', enabled: true });
    const project = await admin.json<Json>(['project', 'create', 'web', '--account', 'acme']);
    expect(project).toMatchObject({ name: 'web', domain_id: account.id });
    const user = await admin.json<Json>(
      [
        'user',
        'create',
        'alice',
        '--account',
        'acme',
        '--project',
        'web',
        '--role',
        'member',
        '--password-stdin',
      ],
      { input: 'alice-password\n' },
    );
    expect(user).toMatchObject({ name: 'alice', domain_id: account.id, default_project_id: project.id });

    const grants = await admin.json<Json[]>(['role', 'assignments', '--user', user.id as string]);
    expect(grants).toMatchObject([{ role: { name: 'member' }, scope: { project: { id: project.id } } }]);
    const table = await admin.run(['role', 'assignments', '--project', project.id as string]);
    expect(table.stdout).toMatch(/^member\s+alice\s+project\s+\S+\s+web$/m);

    expect((await admin.json<Json[]>(['project', 'list', '--account', 'acme'])).map((p) => p.name)).toEqual([
      'web',
    ]);
    expect((await admin.json<Json[]>(['user', 'list', '--account', 'acme'])).map((u) => u.name)).toEqual([
      'alice',
    ]);
    expect(await admin.json(['account', 'show', 'acme'])).toMatchObject({
      id: account.id,
      description: 'ACME Corp',
    });

    const alice = await cliRunner();
    try {
      const login = await alice.run(
        [
          'login',
          '--endpoint',
          s.url,
          '--user',
          'alice',
          '--user-domain',
          'acme',
          '--project',
          'web',
          '--password-stdin',
        ],
        { input: 'alice-password' },
      );
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toMatch(`on project web (${project.id as string})`);
      expect(await alice.json<Json>(['image', 'create', 'alices'])).toMatchObject({ owner: project.id });
      // Not an admin: refused by the API (exit 1), not by the CLI.
      const refused = await alice.run(['project', 'create', 'sneaky']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/HTTP 403/);
    } finally {
      await alice.cleanup();
    }

    expect(
      await admin.json(['role', 'revoke', 'member', '--user', user.id as string, '--project', 'web']),
    ).toMatchObject({
      user_id: user.id,
    });
    expect(await admin.json<Json[]>(['role', 'assignments', '--user', user.id as string])).toEqual([]);
  });

  it('lists roles, grants on an account, and validates grant arguments (exit 2)', async () => {
    const roles = await admin.json<Json[]>(['role', 'list']);
    expect(roles.map((r) => r.name)).toEqual(expect.arrayContaining(['admin', 'member', 'reader']));
    await admin.json(['account', 'create', 'beta']);
    const bob = await admin.json<Json>([
      'user',
      'create',
      'bob',
      '--account',
      'beta',
      '--password',
      'pw-bob',
    ]);
    expect(
      await admin.json(['role', 'grant', 'reader', '--user', bob.id as string, '--account', 'beta']),
    ).toMatchObject({
      scope: expect.stringMatching(/^account /),
    });
    const both = await admin.run([
      'role',
      'grant',
      'reader',
      '--user',
      'bob',
      '--account',
      'beta',
      '--project',
      'x',
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/exactly one of --project and --account/);
    expect((await admin.run(['user', 'create', 'carl', '--role', 'member'])).code).toBe(2);
  });

  it('manages access keys of a user and deletes what it made', async () => {
    const user = await admin.json<Json>(['user', 'create', 'keyholder', '--password', 'pw-k']);
    const key = await admin.json<Json>(['key', 'create', '--user', 'keyholder', '--description', 'ci']);
    expect(key).toMatchObject({ user_id: user.id, status: 'active', description: 'ci' });
    const table = await admin.run(['key', 'create', '--user', 'keyholder']);
    expect(table.stdout).toMatch(/^secret\s+\S{20,}$/m);
    expect(table.stderr).toMatch(/cannot be shown again/);
    expect((await admin.json<Json[]>(['key', 'list', '--user', user.id as string])).length).toBe(2);
    expect(await admin.json(['key', 'delete', key.access as string])).toEqual({ deleted: key.access });
    expect((await admin.json<Json[]>(['key', 'list', '--user', 'keyholder'])).length).toBe(1);

    expect(await admin.json(['user', 'delete', 'keyholder'])).toEqual({ deleted: user.id });
    const project = await admin.json<Json>(['project', 'create', 'temp']);
    expect(await admin.json(['project', 'delete', 'temp'])).toEqual({ deleted: project.id });
    const account = await admin.json<Json>(['account', 'create', 'short-lived']);
    expect(await admin.json(['account', 'delete', 'short-lived'])).toEqual({ deleted: account.id });
    expect((await admin.run(['account', 'show', account.id as string])).code).toBe(1);
  });

  it('manages organizations: units, accounts and the accounts a URN reaches', async () => {
    const acme = await admin.json<Json>(['account', 'create', 'org-acme']);
    const beta = await admin.json<Json>(['account', 'create', 'org-beta']);
    const org = await admin.json<Json>(['org', 'create', 'group', '--management-account', 'org-acme']);
    expect(org).toMatchObject({ name: 'group', management_account_id: acme.id });
    expect(org.urn).toBe(`organizations::${String(acme.id)}:organization:${String(org.id)}`);
    const unit = await admin.json<Json>(['org', 'unit', 'create', org.id as string, 'europe']);
    expect(unit).toMatchObject({ name: 'europe', parent_id: org.root_id });
    expect((await admin.json<Json[]>(['org', 'unit', 'list', org.id as string])).map((u) => u.id)).toEqual([
      unit.id,
    ]);

    await admin.json(['org', 'account', 'add', org.id as string, 'org-acme']);
    const placed = await admin.json<Json>([
      'org',
      'account',
      'add',
      org.id as string,
      'org-beta',
      '--unit',
      unit.id as string,
    ]);
    expect(placed).toMatchObject({ account_id: beta.id, parent_id: unit.id });
    const members = await admin.json<Json[]>(['org', 'account', 'list', org.id as string]);
    expect(members.map((m) => m.account_id).sort()).toEqual([acme.id, beta.id].sort());
    expect(await admin.json(['org', 'members', unit.urn as string])).toEqual({
      urn: unit.urn,
      account_ids: [beta.id],
    });
    const table = await admin.run(['org', 'members', org.urn as string]);
    expect(table.stdout).toContain(String(acme.id));
    expect(table.stdout).toContain(String(beta.id));

    // A unit with an account in it stays; a malformed URN is the server's 400.
    const busy = await admin.run(['org', 'unit', 'delete', org.id as string, unit.id as string]);
    expect(busy.code, busy.stdout).toBe(1);
    const malformed = await admin.run(['org', 'members', 'urn:not-an-org']);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/HTTP 400/);

    expect(await admin.json(['org', 'account', 'remove', org.id as string, 'org-beta'])).toEqual({
      removed: beta.id,
    });
    expect(await admin.json(['org', 'unit', 'delete', org.id as string, unit.id as string])).toEqual({
      deleted: unit.id,
    });
    const manager = await admin.run(['org', 'account', 'remove', org.id as string, 'org-acme']);
    expect(manager.code).toBe(1);
    expect(manager.stderr).toMatch(/management account stays/);
    expect(await admin.json(['org', 'delete', org.id as string])).toEqual({ deleted: org.id });
    expect((await admin.run(['org', 'show', org.id as string])).code).toBe(1);
  });
});
