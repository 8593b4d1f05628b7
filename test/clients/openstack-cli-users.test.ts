/**
 * The OpenStack CLI against IMS's own Keystone admin API: an administrator
 * creates a project and a user and grants a role with `openstack`, and that
 * new user then works with images through the same CLI; role removal and
 * deletion take effect at once. Also application credentials, created and
 * used through the CLI.
 *
 * Debian's `openstack` runs with /usr/bin/python3: it is called by full path,
 * with /usr/bin first in PATH, an environment built from scratch and a
 * temporary HOME (see openstack-cli.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { baseEnv, json, keystoneEnv, ok, OPENSTACK, run as runCli } from '../helpers/openstack-cli.ts';

const run = (args: string[], env: Record<string, string>) => runCli(OPENSTACK, args, env);
const passwordEnv = keystoneEnv;

const TEST_TIMEOUT_MS = 180_000;

type Row = Record<string, unknown>;

describe(`OpenStack CLI with users made through the Keystone admin API (${TEST_DB})`, () => {
  let ts: TestServer;
  let work: string;
  let home: string;
  let adminEnv: Record<string, string>;
  let dataFile: string;
  const suffix = randomBytes(3).toString('hex');
  const projectName = `cli-proj-${suffix}`;
  const userName = `cli-user-${suffix}`;
  const password = `Pw-${randomBytes(6).toString('hex')}`;
  let projectId = '';
  let userId = '';
  let userEnv: Record<string, string>;

  beforeAll(async () => {
    if (!existsSync(OPENSTACK))
      throw new Error(`${OPENSTACK} is missing: run scripts/system-deps.sh (python3-openstackclient)`);
    ts = await startTestServer();
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-cli-users-'));
    home = path.join(work, 'home');
    await fs.mkdir(home);
    adminEnv = passwordEnv(ts.url, home, 'admin', ADMIN_PASSWORD, 'admin');
    userEnv = passwordEnv(ts.url, home, userName, password, projectName);
    dataFile = path.join(work, 'image.raw');
    await fs.writeFile(dataFile, randomBytes(256 * 1024 + 7));
  });

  afterAll(async () => {
    await ts?.close();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it(
    'admin creates a project and a user and grants member; the new user creates and lists images',
    async () => {
      const project = json<Row>(
        await run(
          ['project', 'create', '--description', 'made by the CLI', projectName, '-f', 'json'],
          adminEnv,
        ),
        'project create',
      );
      expect(project).toMatchObject({
        name: projectName,
        domain_id: 'default',
        enabled: true,
        is_domain: false,
      });
      projectId = project.id as string;

      const user = json<Row>(
        await run(
          [
            'user',
            'create',
            '--password',
            password,
            '--project',
            projectName,
            '--email',
            'cli@example.org',
            userName,
            '-f',
            'json',
          ],
          adminEnv,
        ),
        'user create',
      );
      expect(user).toMatchObject({
        name: userName,
        domain_id: 'default',
        default_project_id: projectId,
        email: 'cli@example.org',
        enabled: true,
      });
      expect(JSON.stringify(user)).not.toContain(password);
      userId = user.id as string;

      // Before the grant, the user cannot scope to the project.
      const denied = await run(['image', 'list', '-f', 'json'], userEnv);
      expect(denied.code).not.toBe(0);

      ok(
        await run(['role', 'add', '--user', userName, '--project', projectName, 'member'], adminEnv),
        'role add',
      );

      const image = json<Row>(
        await run(
          [
            'image',
            'create',
            '--file',
            dataFile,
            '--disk-format',
            'raw',
            '--container-format',
            'bare',
            '--private',
            `cli-user-image-${suffix}`,
            '-f',
            'json',
          ],
          userEnv,
        ),
        'image create as the new user',
      );
      // OSC prints the record as created; the upload follows.
      expect(image).toMatchObject({ name: `cli-user-image-${suffix}`, owner: projectId });

      const listed = json<Row[]>(
        await run(['image', 'list', '-f', 'json'], userEnv),
        'image list as the new user',
      );
      expect(listed).toContainEqual({ ID: image.id, Name: `cli-user-image-${suffix}`, Status: 'active' });

      // The user sees only their own project.
      const own = json<Row[]>(
        await run(['project', 'list', '-f', 'json'], userEnv),
        'project list as the user',
      );
      expect(own).toEqual([{ ID: projectId, Name: projectName }]);

      // Sharing as a non-admin: OSC first looks the project up by name (GET /v3/projects?name=),
      // gets Keystone's 403 and goes on with the id it was given.
      const other = json<Row>(
        await run(['project', 'create', `cli-other-${suffix}`, '-f', 'json'], adminEnv),
        'project create (recipient)',
      );
      const imageId = image.id as string;
      const otherId = other.id as string;
      ok(await run(['image', 'set', '--shared', imageId], userEnv), 'image set --shared as the user');
      const added = json<Row>(
        await run(['image', 'add', 'project', imageId, otherId, '-f', 'json'], userEnv),
        'image add project as the user',
      );
      expect(added).toMatchObject({ image_id: imageId, member_id: otherId, status: 'pending' });
      ok(
        await run(['image', 'remove', 'project', imageId, otherId], userEnv),
        'image remove project as the user',
      );
      const members = await ts.request('GET', `/v2/images/${imageId}/members`);
      expect(((await members.json()) as { members: unknown[] }).members).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'admin lists users, projects and role assignments (ids and --names)',
    async () => {
      const users = json<Row[]>(await run(['user', 'list', '-f', 'json'], adminEnv), 'user list');
      expect(users).toContainEqual({ ID: userId, Name: userName });
      expect(users.map((u) => u.Name)).toContain('admin');

      const projects = json<Row[]>(await run(['project', 'list', '-f', 'json'], adminEnv), 'project list');
      expect(projects).toContainEqual({ ID: projectId, Name: projectName });
      expect(projects.map((p) => p.Name)).toContain('admin');

      const member = json<Row>(await run(['role', 'show', 'member', '-f', 'json'], adminEnv), 'role show');
      const assignments = json<Row[]>(
        await run(['role', 'assignment', 'list', '-f', 'json'], adminEnv),
        'role assignment list',
      );
      expect(assignments).toContainEqual(
        expect.objectContaining({ Role: member.id, User: userId, Project: projectId, Inherited: false }),
      );

      const named = json<Row[]>(
        await run(
          ['role', 'assignment', 'list', '--names', '--project', projectName, '-f', 'json'],
          adminEnv,
        ),
        'role assignment list --names --project',
      );
      expect(named).toEqual([
        expect.objectContaining({
          Role: 'member',
          User: `${userName}@Default`,
          Project: `${projectName}@Default`,
        }),
      ]);

      const byUser = json<Row[]>(
        await run(['role', 'assignment', 'list', '--user', userName, '-f', 'json'], adminEnv),
        'role assignment list --user',
      );
      expect(byUser.map((a) => a.Project)).toEqual([projectId]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the new user authenticates with an application credential made through the CLI',
    async () => {
      const cred = json<Row>(
        await run(['application', 'credential', 'create', `ci-${suffix}`, '-f', 'json'], userEnv),
        'application credential create',
      );
      expect(cred).toMatchObject({ name: `ci-${suffix}`, project_id: projectId, unrestricted: false });
      expect(typeof cred.secret).toBe('string');

      const appCredEnv = {
        ...baseEnv(home),
        OS_AUTH_TYPE: 'v3applicationcredential',
        OS_AUTH_URL: `${ts.url}/v3`,
        OS_IDENTITY_API_VERSION: '3',
        OS_APPLICATION_CREDENTIAL_ID: cred.id as string,
        OS_APPLICATION_CREDENTIAL_SECRET: cred.secret as string,
        OS_REGION_NAME: 'RegionOne',
        OS_INTERFACE: 'public',
      };
      const listed = json<Row[]>(
        await run(['image', 'list', '-f', 'json'], appCredEnv),
        'image list (app cred)',
      );
      expect(listed.map((i) => i.Name)).toContain(`cli-user-image-${suffix}`);

      const creds = json<Row[]>(
        await run(['application', 'credential', 'list', '-f', 'json'], userEnv),
        'application credential list',
      );
      expect(creds.map((c) => c.ID)).toEqual([cred.id]);
      expect(JSON.stringify(creds)).not.toContain(cred.secret as string);

      ok(await run(['application', 'credential', 'delete', cred.id as string], userEnv), 'app cred delete');
      const after = await run(['image', 'list', '-f', 'json'], appCredEnv);
      expect(after.code).not.toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'role remove, user delete and project delete take effect at once',
    async () => {
      ok(
        await run(['role', 'remove', '--user', userName, '--project', projectName, 'member'], adminEnv),
        'role remove',
      );
      const noRole = await run(['image', 'list', '-f', 'json'], userEnv);
      expect(noRole.code).not.toBe(0);

      ok(await run(['user', 'delete', userName], adminEnv), 'user delete');
      ok(await run(['project', 'delete', projectName], adminEnv), 'project delete');
      const users = json<Row[]>(
        await run(['user', 'list', '-f', 'json'], adminEnv),
        'user list after delete',
      );
      expect(users.map((u) => u.ID)).not.toContain(userId);
      const projects = json<Row[]>(
        await run(['project', 'list', '-f', 'json'], adminEnv),
        'project list after',
      );
      expect(projects.map((p) => p.ID)).not.toContain(projectId);
      const show = await run(['user', 'show', userId], adminEnv);
      expect(show.code).not.toBe(0);
      expect(show.stderr).toMatch(/No user with a name or ID|Could not find user/i);
    },
    TEST_TIMEOUT_MS,
  );
});
