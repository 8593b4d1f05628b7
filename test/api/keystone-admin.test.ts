/**
 * The Keystone v3 admin API over HTTP: domains, projects, users, roles, role
 * assignments, a user's projects, /v3/auth/projects and /v3/auth/domains,
 * domain-scoped tokens, self-service password change and application
 * credentials; and the hostile cases (non-admins, duplicates, odd and
 * oversized names, tokens of deleted or disabled users and projects).
 * Runs on SQLite or PostgreSQL (IMS_TEST_DB).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A clock the test moves forward, to expire credentials without waiting. */
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
const REGION = 'RegionAdminTest';
let s: TestServer;
let roleIds: Record<string, string>;

beforeAll(async () => {
  s = await startTestServer({ IMS_TOKEN_TTL: '1h', IMS_REGION: REGION }, { clock });
  const roles = (await body(await s.request('GET', '/v3/roles'))).roles as Json[];
  roleIds = Object.fromEntries(roles.map((r) => [r.name, r.id]));
});
afterAll(async () => s?.close());

const uniq = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
async function body(res: Response): Promise<Json> {
  const text = await res.text();
  return text ? (JSON.parse(text) as Json) : {};
}
/** A call as admin (or with the given token) that must answer `status`; returns the body. */
async function call(
  method: string,
  path: string,
  status: number,
  opts: { token?: string | null; body?: unknown } = {},
): Promise<Json> {
  const res = await s.request(method, path, opts);
  const text = await res.text();
  if (res.status !== status)
    throw new Error(`${method} ${path}: expected ${status}, got ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Json) : {};
}
const expectKeystoneError = (b: Json, code: number) =>
  expect(b.error).toEqual({ code, title: expect.any(String), message: expect.any(String) });

const createProject = async (project: Json) =>
  (await call('POST', '/v3/projects', 201, { body: { project } })).project;
const createUser = async (user: Json) => (await call('POST', '/v3/users', 201, { body: { user } })).user;
const grant = (projectId: string, userId: string, role: string) =>
  call('PUT', `/v3/projects/${projectId}/users/${userId}/roles/${roleIds[role]}`, 204);

/** POST /v3/auth/tokens; resolves to the status, the token and the body. */
async function authenticate(auth: Json): Promise<{ status: number; token: string; body: Json }> {
  const res = await s.request('POST', '/v3/auth/tokens', { token: null, body: { auth } });
  return { status: res.status, token: res.headers.get('x-subject-token') ?? '', body: await body(res) };
}
const passwordIdentity = (user: Json, password: string) => ({
  methods: ['password'],
  password: { user: { ...user, password } },
});
async function projectToken(userId: string, password: string, projectId: string): Promise<string> {
  const r = await authenticate({
    identity: passwordIdentity({ id: userId }, password),
    scope: { project: { id: projectId } },
  });
  if (r.status !== 201) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.token;
}

/** A user with a password and the role on a fresh project, and their project-scoped token. */
async function member(role = 'member') {
  const project = await createProject({ name: uniq('proj') });
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const user = await createUser({ name: uniq('user'), password, default_project_id: project.id });
  await grant(project.id, user.id, role);
  return { project, user, password, token: await projectToken(user.id, password, project.id) };
}

/** Everything an admin can see of the identity model, to prove a refused call changed nothing. */
async function snapshot(): Promise<Json> {
  const out: Json = {};
  for (const p of ['/v3/domains', '/v3/projects', '/v3/users', '/v3/roles', '/v3/role_assignments'])
    out[p] = await call('GET', p, 200);
  return out;
}

describe(`Keystone v3 admin API (${TEST_DB})`, () => {
  describe('domains', () => {
    it('creates, lists, filters, shows, updates and deletes (only once disabled) a domain', async () => {
      const name = uniq('dom');
      const created = (
        await call('POST', '/v3/domains', 201, { body: { domain: { name, description: 'first' } } })
      ).domain;
      expect(created).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        name,
        description: 'first',
        enabled: true,
        tags: [],
        options: {},
        links: { self: `${s.url}/v3/domains/${created.id}` },
      });
      const list = await call('GET', '/v3/domains', 200);
      expect(list.links).toEqual({ self: `${s.url}/v3/domains`, previous: null, next: null });
      expect(list.domains.map((d: Json) => d.id)).toEqual(expect.arrayContaining(['default', created.id]));
      expect((await call('GET', `/v3/domains?name=${encodeURIComponent(name)}`, 200)).domains).toEqual([
        created,
      ]);
      expect((await call('GET', `/v3/domains/${created.id}`, 200)).domain).toEqual(created);

      const renamed = uniq('dom2');
      const patched = (
        await call('PATCH', `/v3/domains/${created.id}`, 200, {
          body: { domain: { name: renamed, description: null } },
        })
      ).domain;
      expect(patched).toMatchObject({ id: created.id, name: renamed, description: '', enabled: true });

      const refused = await call('DELETE', `/v3/domains/${created.id}`, 403);
      expect(refused.error.message).toContain('disable it first');
      await call('PATCH', `/v3/domains/${created.id}`, 200, { body: { domain: { enabled: false } } });
      expect((await call('GET', '/v3/domains?enabled=false', 200)).domains.map((d: Json) => d.id)).toEqual([
        created.id,
      ]);
      await call('DELETE', `/v3/domains/${created.id}`, 204);
      expectKeystoneError(await call('GET', `/v3/domains/${created.id}`, 404), 404);
      await call('DELETE', `/v3/domains/${created.id}`, 404);
    });

    it('deleting a domain deletes its projects and users; the default domain cannot be disabled', async () => {
      const domain = (await call('POST', '/v3/domains', 201, { body: { domain: { name: uniq('dom') } } }))
        .domain;
      const project = await createProject({ name: 'inside', domain_id: domain.id });
      const user = await createUser({ name: 'inside', domain_id: domain.id, password: 'x' });
      await call('PATCH', `/v3/domains/${domain.id}`, 200, { body: { domain: { enabled: false } } });
      await call('DELETE', `/v3/domains/${domain.id}`, 204);
      await call('GET', `/v3/projects/${project.id}`, 404);
      await call('GET', `/v3/users/${user.id}`, 404);

      const body403 = await call('PATCH', '/v3/domains/default', 403, {
        body: { domain: { enabled: false } },
      });
      expectKeystoneError(body403, 403);
      expect((await call('GET', '/v3/domains/default', 200)).domain.enabled).toBe(true);
    });

    it('refuses duplicate names with 409', async () => {
      const name = uniq('dom');
      await call('POST', '/v3/domains', 201, { body: { domain: { name } } });
      expectKeystoneError(await call('POST', '/v3/domains', 409, { body: { domain: { name } } }), 409);
      const other = (await call('POST', '/v3/domains', 201, { body: { domain: { name: uniq('dom') } } }))
        .domain;
      await call('PATCH', `/v3/domains/${other.id}`, 409, { body: { domain: { name } } });
    });
  });

  describe('projects', () => {
    it("creates in the caller's domain with IMS_REGION, lists with filters, shows, updates and deletes", async () => {
      const name = uniq('proj');
      const project = await createProject({ name, description: 'd', tags: ['a', 'b'], cost_center: 'x-1' });
      expect(project).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        name,
        domain_id: 'default',
        description: 'd',
        enabled: true,
        parent_id: 'default',
        is_domain: false,
        tags: ['a', 'b'],
        options: {},
        cost_center: 'x-1',
        links: { self: `${s.url}/v3/projects/${project.id}` },
      });
      const row = await s.server.db.kysely
        .selectFrom('projects')
        .select('region')
        .where('id', '=', project.id)
        .executeTakeFirstOrThrow();
      expect(row.region).toBe(REGION);

      expect((await call('GET', `/v3/projects?name=${name}`, 200)).projects).toEqual([project]);
      expect((await call('GET', `/v3/projects?name=${name}&domain_id=other`, 200)).projects).toEqual([]);
      const all = (await call('GET', '/v3/projects?domain_id=default', 200)).projects.map(
        (p: Json) => p.name,
      );
      expect(all).toEqual(expect.arrayContaining(['admin', name]));
      expect((await call('GET', `/v3/projects/${project.id}`, 200)).project).toEqual(project);

      const patched = (
        await call('PATCH', `/v3/projects/${project.id}`, 200, {
          body: { project: { description: 'changed', enabled: false, tags: ['c'] } },
        })
      ).project;
      expect(patched).toMatchObject({
        name,
        description: 'changed',
        enabled: false,
        tags: ['c'],
        cost_center: 'x-1',
      });
      expect((await call('GET', '/v3/projects?enabled=0', 200)).projects.map((p: Json) => p.id)).toContain(
        project.id,
      );

      await call('DELETE', `/v3/projects/${project.id}`, 204);
      expectKeystoneError(await call('GET', `/v3/projects/${project.id}`, 404), 404);
      await call('DELETE', `/v3/projects/${project.id}`, 404);
      await call('PATCH', `/v3/projects/${project.id}`, 404, { body: { project: { description: 'x' } } });
    });

    it('refuses a duplicate name within a domain (409) but not across domains; unknown domain is 404', async () => {
      const name = uniq('proj');
      await createProject({ name });
      expectKeystoneError(await call('POST', '/v3/projects', 409, { body: { project: { name } } }), 409);
      const domain = (await call('POST', '/v3/domains', 201, { body: { domain: { name: uniq('dom') } } }))
        .domain;
      const elsewhere = await createProject({ name, domain_id: domain.id });
      expect(elsewhere).toMatchObject({ name, domain_id: domain.id, parent_id: domain.id });
      const second = await createProject({ name: uniq('proj') });
      await call('PATCH', `/v3/projects/${second.id}`, 409, { body: { project: { name } } });
      await call('POST', '/v3/projects', 404, {
        body: { project: { name: uniq('p'), domain_id: 'nosuchdomain' } },
      });
      // Hierarchies and projects acting as domains are not modelled.
      await call('POST', '/v3/projects', 400, {
        body: { project: { name: uniq('p'), parent_id: second.id } },
      });
      await call('POST', '/v3/projects', 400, { body: { project: { name: uniq('p'), is_domain: true } } });
      await call('PATCH', `/v3/projects/${second.id}`, 400, { body: { project: { domain_id: domain.id } } });
    });
  });

  describe('users', () => {
    it('creates with a password that authenticates, never shows it, lists, filters, updates, deletes', async () => {
      const project = await createProject({ name: uniq('proj') });
      const name = uniq('user');
      const user = await createUser({
        name,
        password: 'secret-1',
        default_project_id: project.id,
        email: 'u@example.org',
        description: 'a user',
      });
      expect(user).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        name,
        domain_id: 'default',
        enabled: true,
        default_project_id: project.id,
        email: 'u@example.org',
        description: 'a user',
        password_expires_at: null,
        options: {},
        links: { self: `${s.url}/v3/users/${user.id}` },
      });
      expect((await call('GET', `/v3/users?name=${name}`, 200)).users).toEqual([user]);
      expect((await call('GET', `/v3/users?name=${name}&domain_id=other`, 200)).users).toEqual([]);
      expect((await call('GET', `/v3/users/${user.id}`, 200)).user).toEqual(user);
      expect(JSON.stringify(await call('GET', '/v3/users', 200))).not.toContain('secret-1');

      await grant(project.id, user.id, 'member');
      const token = await projectToken(user.id, 'secret-1', project.id);
      // The user may read themselves, not others.
      expect((await call('GET', `/v3/users/${user.id}`, 200, { token })).user.id).toBe(user.id);

      const patched = (
        await call('PATCH', `/v3/users/${user.id}`, 200, {
          body: { user: { email: 'new@example.org', password: 'secret-2', default_project_id: null } },
        })
      ).user;
      expect(patched).toMatchObject({ email: 'new@example.org', description: 'a user' });
      expect(patched.default_project_id).toBeUndefined();
      // A new password ends the tokens issued before.
      expect((await s.request('GET', '/v2/images', { token })).status).toBe(401);
      expect((await authenticate({ identity: passwordIdentity({ id: user.id }, 'secret-1') })).status).toBe(
        401,
      );
      const fresh = await projectToken(user.id, 'secret-2', project.id);
      expect((await s.request('GET', '/v2/images', { token: fresh })).status).toBe(200);

      await call('DELETE', `/v3/users/${user.id}`, 204);
      await call('GET', `/v3/users/${user.id}`, 404);
      await call('DELETE', `/v3/users/${user.id}`, 404);
    });

    it('refuses duplicates in a domain (409), unknown default projects and domains, and domain changes', async () => {
      const name = uniq('user');
      const user = await createUser({ name });
      expectKeystoneError(await call('POST', '/v3/users', 409, { body: { user: { name } } }), 409);
      const other = await createUser({ name: uniq('user') });
      await call('PATCH', `/v3/users/${other.id}`, 409, { body: { user: { name } } });
      await call('POST', '/v3/users', 400, {
        body: { user: { name: uniq('u'), default_project_id: 'nosuch' } },
      });
      await call('POST', '/v3/users', 404, { body: { user: { name: uniq('u'), domain_id: 'nosuch' } } });
      await call('PATCH', `/v3/users/${user.id}`, 400, { body: { user: { domain_id: 'nosuch' } } });
      await call('PATCH', `/v3/users/${user.id}`, 400, { body: { user: { id: 'another' } } });
      // A user without a password cannot authenticate with one.
      expect((await authenticate({ identity: passwordIdentity({ id: user.id }, '') })).status).toBe(401);
    });

    it('lets a user change their own password with the original one, without a token', async () => {
      const m = await member();
      const path = `/v3/users/${m.user.id}/password`;
      const wrong = await call('POST', path, 401, {
        token: null,
        body: { user: { original_password: 'wrong', password: 'next-pw' } },
      });
      expectKeystoneError(wrong, 401);
      await call('POST', `/v3/users/${uniq('ghost')}/password`, 401, {
        token: null,
        body: { user: { original_password: m.password, password: 'next-pw' } },
      });
      await call('POST', path, 400, { token: null, body: { user: { password: 'next-pw' } } });
      await call('POST', path, 204, {
        token: null,
        body: { user: { original_password: m.password, password: 'next-pw' } },
      });
      expect((await s.request('GET', '/v2/images', { token: m.token })).status).toBe(401);
      expect((await authenticate({ identity: passwordIdentity({ id: m.user.id }, m.password) })).status).toBe(
        401,
      );
      await projectToken(m.user.id, 'next-pw', m.project.id);
    });
  });

  describe('roles', () => {
    it('lists the built-in roles, creates, shows and deletes others; built-ins stay', async () => {
      const list = await call('GET', '/v3/roles', 200);
      expect(list.roles.map((r: Json) => r.name)).toEqual(
        expect.arrayContaining(['admin', 'member', 'reader']),
      );
      expect(list.roles[0]).toEqual({
        id: expect.any(String),
        name: expect.any(String),
        domain_id: null,
        description: null,
        options: {},
        links: { self: `${s.url}/v3/roles/${list.roles[0].id}` },
      });
      expect((await call('GET', '/v3/roles?name=reader', 200)).roles.map((r: Json) => r.name)).toEqual([
        'reader',
      ]);

      const name = uniq('role');
      const role = (await call('POST', '/v3/roles', 201, { body: { role: { name } } })).role;
      expect(role).toMatchObject({ name, domain_id: null });
      expectKeystoneError(await call('POST', '/v3/roles', 409, { body: { role: { name } } }), 409);
      expect((await call('GET', `/v3/roles/${role.id}`, 200)).role).toEqual(role);

      // A token carrying the role ends when the role goes.
      const m = await member();
      await call('PUT', `/v3/projects/${m.project.id}/users/${m.user.id}/roles/${role.id}`, 204);
      const withRole = await projectToken(m.user.id, m.password, m.project.id);
      await call('DELETE', `/v3/roles/${role.id}`, 204);
      expect((await s.request('GET', '/v2/images', { token: withRole })).status).toBe(401);
      await call('GET', `/v3/roles/${role.id}`, 404);
      await call('DELETE', `/v3/roles/${role.id}`, 404);

      for (const builtIn of ['admin', 'member', 'reader'])
        expectKeystoneError(await call('DELETE', `/v3/roles/${roleIds[builtIn]}`, 403), 403);
    });
  });

  describe('role assignments', () => {
    it('grants, checks (GET and HEAD), lists and revokes a project role; revoking ends the tokens', async () => {
      const project = await createProject({ name: uniq('proj') });
      const user = await createUser({ name: uniq('user'), password: 'pw' });
      const base = `/v3/projects/${project.id}/users/${user.id}/roles`;
      expect((await s.request('HEAD', `${base}/${roleIds.member}`)).status).toBe(404);
      await call('PUT', `${base}/${roleIds.member}`, 204);
      await call('PUT', `${base}/${roleIds.member}`, 204);
      await call('PUT', `${base}/${roleIds.reader}`, 204);
      expect((await s.request('HEAD', `${base}/${roleIds.member}`)).status).toBe(204);
      await call('GET', `${base}/${roleIds.member}`, 204);
      await call('GET', `${base}/${roleIds.admin}`, 404);
      const roles = await call('GET', base, 200);
      expect(roles.roles.map((r: Json) => r.name)).toEqual(['member', 'reader']);
      expect(roles.links.self).toBe(`${s.url}${base}`);

      const token = await projectToken(user.id, 'pw', project.id);
      expect((await s.request('GET', '/v2/images', { token })).status).toBe(200);
      await call('DELETE', `${base}/${roleIds.reader}`, 204);
      await call('DELETE', `${base}/${roleIds.reader}`, 404);
      expect((await s.request('GET', '/v2/images', { token })).status).toBe(401);
      // A new token still has the remaining role.
      const again = await projectToken(user.id, 'pw', project.id);
      expect((await s.request('GET', '/v2/images', { token: again })).status).toBe(200);

      await call('PUT', `/v3/projects/nosuch/users/${user.id}/roles/${roleIds.member}`, 404);
      await call('PUT', `/v3/projects/${project.id}/users/nosuch/roles/${roleIds.member}`, 404);
      await call('PUT', `${base}/nosuch`, 404);
      await call('GET', `/v3/projects/${project.id}/users/nosuch/roles`, 404);
    });

    it('lists /v3/role_assignments with the user, project, domain and role filters, and names', async () => {
      const m = await member();
      await grant(m.project.id, m.user.id, 'reader');
      const byUser = (await call('GET', `/v3/role_assignments?user.id=${m.user.id}`, 200)).role_assignments;
      expect(byUser).toEqual(
        [roleIds.member, roleIds.reader]
          .map((roleId) => ({
            role: { id: roleId },
            user: { id: m.user.id },
            scope: { project: { id: m.project.id } },
            links: { assignment: `${s.url}/v3/projects/${m.project.id}/users/${m.user.id}/roles/${roleId}` },
          }))
          .sort((a, b) => (a.role.id! < b.role.id! ? -1 : 1)),
      );
      const filtered = (
        await call(
          'GET',
          `/v3/role_assignments?scope.project.id=${m.project.id}&role.id=${roleIds.reader}`,
          200,
        )
      ).role_assignments;
      expect(filtered.map((a: Json) => [a.user.id, a.role.id])).toEqual([[m.user.id, roleIds.reader]]);

      const named = (
        await call('GET', `/v3/role_assignments?scope.project.id=${m.project.id}&include_names=True`, 200)
      ).role_assignments;
      expect(named).toContainEqual(
        expect.objectContaining({
          role: { id: roleIds.member, name: 'member' },
          user: { id: m.user.id, name: m.user.name, domain: { id: 'default', name: 'Default' } },
          scope: {
            project: { id: m.project.id, name: m.project.name, domain: { id: 'default', name: 'Default' } },
          },
        }),
      );
      // Groups, system scope and inheritance do not exist: nothing matches them.
      expect((await call('GET', '/v3/role_assignments?group.id=g', 200)).role_assignments).toEqual([]);
      await call('GET', `/v3/role_assignments?scope.project.id=${m.project.id}&scope.domain.id=default`, 400);
    });

    it('grants roles on a domain and issues domain-scoped tokens by domain id and name', async () => {
      const domain = (await call('POST', '/v3/domains', 201, { body: { domain: { name: uniq('dom') } } }))
        .domain;
      const user = await createUser({ name: uniq('user'), password: 'pw' });
      const scopeById = {
        identity: passwordIdentity({ id: user.id }, 'pw'),
        scope: { domain: { id: domain.id } },
      };
      expect((await authenticate(scopeById)).status).toBe(401);

      const base = `/v3/domains/${domain.id}/users/${user.id}/roles`;
      await call('PUT', `${base}/${roleIds.admin}`, 204);
      expect((await s.request('HEAD', `${base}/${roleIds.admin}`)).status).toBe(204);
      expect((await call('GET', base, 200)).roles.map((r: Json) => r.name)).toEqual(['admin']);
      const listed = (
        await call('GET', `/v3/role_assignments?scope.domain.id=${domain.id}&include_names`, 200)
      ).role_assignments;
      expect(listed).toEqual([
        {
          role: { id: roleIds.admin, name: 'admin' },
          user: { id: user.id, name: user.name, domain: { id: 'default', name: 'Default' } },
          scope: { domain: { id: domain.id, name: domain.name } },
          links: { assignment: `${s.url}/v3/domains/${domain.id}/users/${user.id}/roles/${roleIds.admin}` },
        },
      ]);

      const byId = await authenticate(scopeById);
      expect(byId.status).toBe(201);
      expect(byId.body.token).toMatchObject({
        domain: { id: domain.id, name: domain.name },
        roles: [{ id: roleIds.admin, name: 'admin' }],
      });
      expect(byId.body.token.project).toBeUndefined();
      expect(byId.body.token.catalog.map((c: Json) => c.type)).toEqual(['image', 'identity']);
      const byName = await authenticate({
        identity: passwordIdentity({ id: user.id }, 'pw'),
        scope: { domain: { name: domain.name } },
      });
      expect(byName.status).toBe(201);
      const validated = await s.request('GET', '/v3/auth/tokens', {
        token: byName.token,
        headers: { 'x-subject-token': byName.token },
      });
      expect((await body(validated)).token.domain.id).toBe(domain.id);
      const domains = await call('GET', '/v3/auth/domains', 200, { token: byName.token });
      expect(domains.domains.map((d: Json) => d.id)).toEqual([domain.id]);

      // A domain-scoped admin token administers; it is no project token for the image API.
      await call('GET', '/v3/users', 200, { token: byId.token });
      expect((await s.request('GET', '/v2/images', { token: byId.token })).status).toBe(401);
      // Rescoping an unscoped token to the domain works too.
      const unscoped = await authenticate({
        identity: passwordIdentity({ id: user.id }, 'pw'),
        scope: 'unscoped',
      });
      const rescoped = await authenticate({
        identity: { methods: ['token'], token: { id: unscoped.token } },
        scope: { domain: { id: domain.id } },
      });
      expect(rescoped.status).toBe(201);

      await call('DELETE', `${base}/${roleIds.admin}`, 204);
      expect((await s.request('GET', '/v3/users', { token: byId.token })).status).toBe(401);
      expect((await authenticate(scopeById)).status).toBe(401);
      expect(
        (
          await authenticate({
            identity: passwordIdentity({ id: user.id }, 'pw'),
            scope: { domain: { id: domain.id }, project: { id: 'x' } },
          })
        ).status,
      ).toBe(400);
    });
  });

  describe('what a non-admin may see', () => {
    it("GET /v3/projects is for admins (as Keystone); /v3/auth/projects and /v3/users/{id}/projects show the caller's", async () => {
      const m = await member();
      const second = await createProject({ name: uniq('proj') });
      await grant(second.id, m.user.id, 'reader');
      const mine = [m.project.id, second.id].sort();
      const ids = (b: Json) => (b.projects as Json[]).map((p) => p.id).sort();
      expectKeystoneError(await call('GET', '/v3/projects', 403, { token: m.token }), 403);
      await call('GET', `/v3/projects?name=${second.name}`, 403, { token: m.token });
      expect(ids(await call('GET', `/v3/users/${m.user.id}/projects`, 200, { token: m.token }))).toEqual(
        mine,
      );
      expect(ids(await call('GET', `/v3/users/${m.user.id}/projects`, 200))).toEqual(mine);
      const auth = await call('GET', '/v3/auth/projects', 200, { token: m.token });
      expect(auth.links.self).toBe(`${s.url}/v3/auth/projects`);
      expect(ids(auth)).toEqual(mine);
      // Disabled projects cannot be scoped to, so /v3/auth/projects leaves them out.
      await call('PATCH', `/v3/projects/${second.id}`, 200, { body: { project: { enabled: false } } });
      expect(ids(await call('GET', '/v3/auth/projects', 200, { token: m.token }))).toEqual([m.project.id]);
      expect((await call('GET', '/v3/auth/domains', 200, { token: m.token })).domains).toEqual([]);

      expect((await call('GET', `/v3/projects/${m.project.id}`, 200, { token: m.token })).project.id).toBe(
        m.project.id,
      );
      const adminProject = (await call('GET', '/v3/projects?name=admin', 200)).projects[0];
      await call('GET', `/v3/projects/${adminProject.id}`, 403, { token: m.token });
      await call('GET', '/v3/domains/default', 200, { token: m.token });
      const other = await member();
      await call('GET', `/v3/users/${other.user.id}`, 403, { token: m.token });
      await call('GET', `/v3/users/${other.user.id}/projects`, 403, { token: m.token });
      await call('GET', '/v3/projects', 401, { token: null });
      await call('GET', '/v3/auth/projects', 401, { token: null });
    });

    it('refuses every admin call to a member and to a reader with 403, changing nothing', async () => {
      const m = await member();
      const r = await member('reader');
      const target = await member();
      const custom = (await call('POST', '/v3/roles', 201, { body: { role: { name: uniq('role') } } })).role;
      const domain = (await call('POST', '/v3/domains', 201, { body: { domain: { name: uniq('dom') } } }))
        .domain;
      const before = await snapshot();
      const grantPath = `/v3/projects/${target.project.id}/users/${m.user.id}/roles/${roleIds.admin}`;
      const attempts: [string, string, unknown?][] = [
        ['GET', '/v3/domains'],
        ['POST', '/v3/domains', { domain: { name: uniq('evil') } }],
        ['PATCH', `/v3/domains/${domain.id}`, { domain: { enabled: false } }],
        ['DELETE', `/v3/domains/${domain.id}`],
        ['POST', '/v3/projects', { project: { name: uniq('evil') } }],
        ['PATCH', `/v3/projects/${target.project.id}`, { project: { enabled: false } }],
        ['DELETE', `/v3/projects/${target.project.id}`],
        ['GET', '/v3/users'],
        ['POST', '/v3/users', { user: { name: uniq('evil'), password: 'x' } }],
        ['PATCH', `/v3/users/${target.user.id}`, { user: { password: 'taken-over' } }],
        ['PATCH', `/v3/users/${m.user.id}`, { user: { enabled: true, name: 'renamed' } }],
        ['DELETE', `/v3/users/${target.user.id}`],
        ['GET', '/v3/roles'],
        ['GET', `/v3/roles/${roleIds.admin}`],
        ['POST', '/v3/roles', { role: { name: uniq('evil') } }],
        ['DELETE', `/v3/roles/${custom.id}`],
        ['PUT', grantPath],
        ['PUT', `/v3/projects/${m.project.id}/users/${m.user.id}/roles/${roleIds.admin}`],
        ['PUT', `/v3/domains/default/users/${m.user.id}/roles/${roleIds.admin}`],
        ['GET', grantPath],
        ['DELETE', `/v3/projects/${target.project.id}/users/${target.user.id}/roles/${roleIds.member}`],
        ['GET', `/v3/projects/${target.project.id}/users/${target.user.id}/roles`],
        ['GET', '/v3/role_assignments'],
        [
          'POST',
          `/v3/users/${target.user.id}/application_credentials`,
          { application_credential: { name: 'x' } },
        ],
        ['GET', `/v3/users/${target.user.id}/application_credentials`],
      ];
      for (const who of [m, r]) {
        for (const [method, path, reqBody] of attempts) {
          const res = await s.request(method, path, { token: who.token, body: reqBody });
          expect(res.status, `${method} ${path}`).toBe(403);
          expectKeystoneError(await body(res), 403);
        }
      }
      expect(await snapshot()).toEqual(before);
      expect((await s.request('GET', '/v2/images', { token: target.token })).status).toBe(200);
    });
  });

  describe('hostile input', () => {
    it('stores SQL-looking, unicode and odd names exactly, and finds them by name', async () => {
      const names = [
        "x'; DROP TABLE users; --",
        "Robert'); DELETE FROM projects WHERE ('1'='1",
        '" OR 1=1 --',
        '%_\\',
        '镜像-项目-测试',
        'مشروع',
        '🚀 launch',
        'e\u0301cole',
        ' padded ',
      ];
      for (const name of names) {
        const project = await createProject({ name, description: `${name}\n\tkept` });
        expect(project.name).toBe(name);
        expect(project.description).toBe(`${name}\n\tkept`);
        const found = (await call('GET', `/v3/projects?name=${encodeURIComponent(name)}`, 200)).projects;
        expect(found.map((p: Json) => p.id)).toEqual([project.id]);
        const user = await createUser({ name, password: name, email: name });
        expect(user).toMatchObject({ name, email: name });
        expect((await call('GET', `/v3/users/${user.id}`, 200)).user.name).toBe(name);
        expect(
          (
            await authenticate({
              identity: passwordIdentity({ name, domain: { id: 'default' } }, name),
              scope: 'unscoped',
            })
          ).status,
        ).toBe(201);
      }
      // The tables are all still there.
      expect((await call('GET', '/v3/users', 200)).users.length).toBeGreaterThan(names.length);
      // Lookalike names are different names.
      await createProject({ name: 'école' });
      await createProject({ name: 'ÉCOLE' });
    });

    it('refuses oversized, empty, blank, control-character and mistyped fields with 400', async () => {
      const before = await snapshot();
      const p64 = 'p'.repeat(64);
      await createProject({ name: p64 });
      await call('POST', '/v3/projects', 400, { body: { project: { name: `${p64}p` } } });
      await call('POST', '/v3/projects', 400, { body: { project: { name: '🚀'.repeat(65) } } });
      await createProject({ name: '🚀'.repeat(64) });
      await call('POST', '/v3/domains', 400, { body: { domain: { name: 'd'.repeat(65) } } });
      await createUser({ name: 'u'.repeat(255) });
      await call('POST', '/v3/users', 400, { body: { user: { name: 'u'.repeat(256) } } });
      await call('POST', '/v3/roles', 400, { body: { role: { name: 'r'.repeat(256) } } });
      await call('POST', '/v3/users', 400, {
        body: { user: { name: uniq('u'), password: 'x'.repeat(4097) } },
      });
      const invalid: [string, unknown][] = [
        ['/v3/projects', { project: { name: '' } }],
        ['/v3/projects', { project: { name: '   ' } }],
        ['/v3/projects', { project: { name: 'nul\u0000byte' } }],
        ['/v3/projects', { project: { name: 'new\nline' } }],
        ['/v3/projects', { project: { name: '\ud800lone' } }],
        ['/v3/projects', { project: { name: uniq('p'), description: 'nul\u0000byte' } }],
        ['/v3/projects', { project: { name: 42 } }],
        ['/v3/projects', { project: { name: uniq('p'), enabled: 'true' } }],
        ['/v3/projects', { project: { name: uniq('p'), tags: ['a,b'] } }],
        ['/v3/projects', { project: { name: uniq('p'), tags: 'a' } }],
        ['/v3/projects', { project: { name: uniq('p'), domain_id: "x' or 1=1" } }],
        ['/v3/projects', { project: {} }],
        ['/v3/projects', { name: 'flat' }],
        ['/v3/projects', []],
        ['/v3/users', { user: { name: uniq('u'), enabled: 1 } }],
        ['/v3/users', { user: { name: uniq('u'), password: 42 } }],
        ['/v3/users', { user: { name: uniq('u'), options: { lock_password: true } } }],
        ['/v3/users', { user: { name: uniq('u'), extra: 'x'.repeat(70_000) } }],
        ['/v3/domains', { domain: { name: null } }],
        ['/v3/roles', { role: {} }],
      ];
      for (const [path, reqBody] of invalid) {
        const res = await s.request('POST', path, { body: reqBody });
        expect(res.status, `${path} ${JSON.stringify(reqBody).slice(0, 80)}`).toBe(400);
        expectKeystoneError(await body(res), 400);
      }
      const malformed = await s.request('POST', '/v3/projects', {
        body: '{"project": {"name": ',
        headers: { 'content-type': 'application/json' },
      });
      expect(malformed.status).toBe(400);
      const after = await snapshot();
      const names = (b: Json) => (b.projects as Json[]).map((p) => p.name);
      expect(names(after['/v3/projects'])).toEqual(
        expect.arrayContaining([...names(before['/v3/projects']), p64, '🚀'.repeat(64)]),
      );
      expect(after['/v3/projects'].projects.length).toBe(before['/v3/projects'].projects.length + 2);
      expect(after['/v3/users'].users.length).toBe(before['/v3/users'].users.length + 1);
      expect(after['/v3/domains']).toEqual(before['/v3/domains']);
      expect(after['/v3/roles']).toEqual(before['/v3/roles']);
    });

    it('answers 404 for unknown and SQL-looking ids', async () => {
      for (const path of [
        '/v3/domains/nosuch',
        "/v3/projects/x'%20OR%20'1'='1",
        '/v3/users/%E2%9C%93',
        '/v3/roles/1;DROP%20TABLE%20roles',
      ])
        expectKeystoneError(await call('GET', path, 404), 404);
      expect((await call('GET', '/v3/roles', 200)).roles.length).toBeGreaterThanOrEqual(3);
    });
  });

  describe('tokens of deleted or disabled users, projects and domains', () => {
    it("a deleted user's token is refused with 401", async () => {
      const m = await member();
      expect((await s.request('GET', '/v2/images', { token: m.token })).status).toBe(200);
      await call('DELETE', `/v3/users/${m.user.id}`, 204);
      const res = await s.request('GET', '/v2/images', { token: m.token });
      expect(res.status).toBe(401);
      expect((await body(res)).message).toMatch(/user/i);
      // Keystone routes too, in Keystone's shape.
      expectKeystoneError(await call('GET', '/v3/auth/projects', 401, { token: m.token }), 401);
    });

    it("a disabled project's token is refused with 401, and stays refused once re-enabled", async () => {
      const m = await member();
      await call('PATCH', `/v3/projects/${m.project.id}`, 200, { body: { project: { enabled: false } } });
      expect((await s.request('GET', '/v2/images', { token: m.token })).status).toBe(401);
      expect(
        (
          await authenticate({
            identity: passwordIdentity({ id: m.user.id }, m.password),
            scope: { project: { id: m.project.id } },
          })
        ).status,
      ).toBe(401);
      await call('PATCH', `/v3/projects/${m.project.id}`, 200, { body: { project: { enabled: true } } });
      expect((await s.request('GET', '/v2/images', { token: m.token })).status).toBe(401);
      const fresh = await projectToken(m.user.id, m.password, m.project.id);
      expect((await s.request('GET', '/v2/images', { token: fresh })).status).toBe(200);
    });

    it('deleted projects, disabled users and disabled domains end their tokens', async () => {
      const a = await member();
      await call('DELETE', `/v3/projects/${a.project.id}`, 204);
      expect((await s.request('GET', '/v2/images', { token: a.token })).status).toBe(401);

      const b = await member();
      await call('PATCH', `/v3/users/${b.user.id}`, 200, { body: { user: { enabled: false } } });
      expect((await s.request('GET', '/v2/images', { token: b.token })).status).toBe(401);
      expect((await authenticate({ identity: passwordIdentity({ id: b.user.id }, b.password) })).status).toBe(
        401,
      );
      await call('PATCH', `/v3/users/${b.user.id}`, 200, { body: { user: { enabled: true } } });
      expect((await s.request('GET', '/v2/images', { token: b.token })).status).toBe(401);

      const domain = (await call('POST', '/v3/domains', 201, { body: { domain: { name: uniq('dom') } } }))
        .domain;
      const project = await createProject({ name: uniq('proj'), domain_id: domain.id });
      const user = await createUser({ name: uniq('user'), domain_id: domain.id, password: 'pw' });
      await grant(project.id, user.id, 'member');
      const token = await projectToken(user.id, 'pw', project.id);
      // A default-domain user on a project of the domain is cut off too.
      const c = await member();
      await grant(project.id, c.user.id, 'member');
      const cToken = await projectToken(c.user.id, c.password, project.id);
      await call('PATCH', `/v3/domains/${domain.id}`, 200, { body: { domain: { enabled: false } } });
      expect((await s.request('GET', '/v2/images', { token })).status).toBe(401);
      expect((await s.request('GET', '/v2/images', { token: cToken })).status).toBe(401);
      expect((await s.request('GET', '/v2/images', { token: c.token })).status).toBe(200);
      await call('PATCH', `/v3/domains/${domain.id}`, 200, { body: { domain: { enabled: true } } });
      expect((await s.request('GET', '/v2/images', { token })).status).toBe(401);
      await projectToken(user.id, 'pw', project.id);
    });
  });

  describe('application credentials', () => {
    const appCredAuth = (c: Json) => ({ methods: ['application_credential'], application_credential: c });

    it('creates (secret shown once, stored hashed), lists, shows, authenticates by id and by name, deletes', async () => {
      const m = await member();
      const path = `/v3/users/${m.user.id}/application_credentials`;
      const created = (
        await call('POST', path, 201, {
          token: m.token,
          body: { application_credential: { name: 'ci', description: 'pipeline' } },
        })
      ).application_credential;
      expect(created).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{32}$/),
        name: 'ci',
        description: 'pipeline',
        expires_at: null,
        project_id: m.project.id,
        roles: [
          { id: roleIds.member, name: 'member', domain_id: null },
          { id: roleIds.reader, name: 'reader', domain_id: null },
        ],
        unrestricted: false,
        access_rules: [],
        secret: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
        links: { self: `${s.url}${path}/${created.id}` },
      });
      const { secret, ...shown } = created;
      const stored = await s.server.db.kysely
        .selectFrom('application_credentials')
        .select('secret_hash')
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      expect(stored.secret_hash).toMatch(/^scrypt\$/);
      expect(stored.secret_hash).not.toContain(secret);
      expect((await call('GET', path, 200, { token: m.token })).application_credentials).toEqual([shown]);
      expect((await call('GET', `${path}?name=ci`, 200, { token: m.token })).application_credentials).toEqual(
        [shown],
      );
      expect(
        (await call('GET', `${path}/${created.id}`, 200, { token: m.token })).application_credential,
      ).toEqual(shown);
      expect((await call('GET', path, 200)).application_credentials).toEqual([shown]);

      const byId = await authenticate({ identity: appCredAuth({ id: created.id, secret }) });
      expect(byId.status).toBe(201);
      expect(byId.body.token).toMatchObject({
        methods: ['application_credential'],
        project: { id: m.project.id },
        application_credential: { id: created.id, name: 'ci', restricted: true },
      });
      expect(byId.body.token.roles.map((r: Json) => r.name)).toEqual(['member', 'reader']);
      expect((await s.request('GET', '/v2/images', { token: byId.token })).status).toBe(200);
      const byName = await authenticate({
        identity: appCredAuth({
          name: 'ci',
          user: { name: m.user.name, domain: { name: 'Default' } },
          secret,
        }),
      });
      expect(byName.status).toBe(201);

      for (const bad of [
        { id: created.id, secret: `${secret}x` },
        { id: created.id },
        { id: 'nosuch', secret },
        { name: 'ci', user: { id: 'nosuch' }, secret },
      ])
        expect((await authenticate({ identity: appCredAuth(bad) })).status).toBe(401);
      expect((await authenticate({ identity: appCredAuth({ secret }) })).status).toBe(400);
      // The scope is the credential's: asking for one is refused.
      expect(
        (
          await authenticate({
            identity: appCredAuth({ id: created.id, secret }),
            scope: { project: { id: m.project.id } },
          })
        ).status,
      ).toBe(401);
      // A credential's token cannot mint other tokens, nor (restricted) other credentials.
      expect(
        (await authenticate({ identity: { methods: ['token'], token: { id: byId.token } } })).status,
      ).toBe(403);
      await call('POST', path, 403, {
        token: byId.token,
        body: { application_credential: { name: 'more' } },
      });
      await call('DELETE', `${path}/${created.id}`, 403, { token: byId.token });

      await call('DELETE', `${path}/${created.id}`, 204, { token: m.token });
      expect((await s.request('GET', '/v2/images', { token: byId.token })).status).toBe(401);
      expect((await authenticate({ identity: appCredAuth({ id: created.id, secret }) })).status).toBe(401);
      await call('GET', `${path}/${created.id}`, 404, { token: m.token });
    });

    it('delegates only roles the user holds, honours expiry, and refuses duplicates and other users', async () => {
      const m = await member();
      const path = `/v3/users/${m.user.id}/application_credentials`;
      const reader = (
        await call('POST', path, 201, {
          token: m.token,
          body: {
            application_credential: { name: 'ro', roles: [{ name: 'reader' }], secret: 'my-own-secret' },
          },
        })
      ).application_credential;
      expect(reader.secret).toBe('my-own-secret');
      expect(reader.roles.map((r: Json) => r.name)).toEqual(['reader']);
      const ro = await authenticate({ identity: appCredAuth({ id: reader.id, secret: 'my-own-secret' }) });
      expect(ro.body.token.roles.map((r: Json) => r.name)).toEqual(['reader']);
      // Read-only for real: the project's image may be read, not changed.
      const image = await s.request('POST', '/v2/images', {
        token: m.token,
        body: { name: 'x', disk_format: 'raw', container_format: 'bare' },
      });
      const imageId = (await body(image)).id as string;
      expect((await s.request('GET', `/v2/images/${imageId}`, { token: ro.token })).status).toBe(200);
      const change = await s.request('DELETE', `/v2/images/${imageId}`, { token: ro.token });
      expect(change.status).toBe(403);

      for (const roles of [[{ name: 'admin' }], [{ id: roleIds.admin }], [{ name: 'nosuch' }]])
        await call('POST', path, 400, {
          token: m.token,
          body: { application_credential: { name: uniq('c'), roles } },
        });
      await call('POST', path, 409, { token: m.token, body: { application_credential: { name: 'ro' } } });
      await call('POST', path, 400, {
        token: m.token,
        body: { application_credential: { name: uniq('c'), expires_at: '2000-01-01T00:00:00' } },
      });
      await call('POST', path, 400, {
        token: m.token,
        body: { application_credential: { name: uniq('c'), expires_at: 'tomorrow' } },
      });
      await call('POST', path, 400, {
        token: m.token,
        body: { application_credential: { name: uniq('c'), access_rules: [{ method: 'GET' }] } },
      });
      // Only for oneself, even as admin; and only with a project-scoped token.
      await call('POST', path, 403, { body: { application_credential: { name: uniq('c') } } });
      const other = await member();
      await call('GET', `${path}/${reader.id}`, 403, { token: other.token });
      await call('GET', `/v3/users/${other.user.id}/application_credentials/${reader.id}`, 403, {
        token: other.token,
      });
      await call('DELETE', `${path}/${reader.id}`, 403, { token: other.token });

      const expiresAt = new Date(clock.now().getTime() + 10 * 60_000).toISOString();
      const shortLived = (
        await call('POST', path, 201, {
          token: m.token,
          body: { application_credential: { name: 'short', expires_at: expiresAt.replace('Z', '') } },
        })
      ).application_credential;
      expect(shortLived.expires_at).toBe(expiresAt.replace(/\.(\d{3})Z$/, '.$1000Z'));
      const short = await authenticate({
        identity: appCredAuth({ id: shortLived.id, secret: shortLived.secret }),
      });
      expect(Date.parse(short.body.token.expires_at)).toBeLessThanOrEqual(Date.parse(expiresAt));
      clock.offsetMs = 11 * 60_000;
      try {
        expect(
          (await authenticate({ identity: appCredAuth({ id: shortLived.id, secret: shortLived.secret }) }))
            .status,
        ).toBe(401);
        expect((await s.request('GET', '/v2/images', { token: short.token })).status).toBe(401);
      } finally {
        clock.offsetMs = 0;
      }

      // Losing the project role drops the user's credentials on it (Keystone).
      await call('DELETE', `/v3/projects/${m.project.id}/users/${m.user.id}/roles/${roleIds.member}`, 204);
      expect(
        (await authenticate({ identity: appCredAuth({ id: reader.id, secret: 'my-own-secret' }) })).status,
      ).toBe(401);
      expect((await call('GET', path, 200)).application_credentials).toEqual([]);
    });
  });
});

describe(`GET /v3/projects?name= for non-admins (${TEST_DB})`, () => {
  it('refuses every lookup with a token, as Keystone does (the OpenStack CLI then uses the id it has)', async () => {
    const mine = await s.tokenFor(uniq('own'), uniq('looker'), 'member');
    const other = await s.tokenFor(uniq('other'), uniq('someone'), 'member');
    const ownName = (await call('GET', `/v3/projects/${mine.projectId}`, 200)).project.name;
    const own = await call('GET', `/v3/projects?name=${encodeURIComponent(ownName)}`, 403, {
      token: mine.token,
    });
    expectKeystoneError(own, 403);
    // `openstack image remove project <id>` looks the id up by name, gets 403 and uses the id.
    const refused = await call('GET', `/v3/projects?name=${other.projectId}`, 403, { token: mine.token });
    expectKeystoneError(refused, 403);
  });
});
