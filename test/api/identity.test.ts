import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A clock the test moves forward, to expire tokens without waiting. */
const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer({ IMS_TOKEN_TTL: '1h', IMS_REGION: 'RegionTest' }, { clock });
});
afterAll(async () => s?.close());

const passwordAuth = (user: Json, scope?: unknown) => ({
  auth: { identity: { methods: ['password'], password: { user } }, ...(scope ? { scope } : {}) },
});
const issue = (body: unknown) => s.request('POST', '/v3/auth/tokens', { token: null, body });

describe(`Keystone v3 tokens (${TEST_DB})`, () => {
  it('answers the version document anonymously', async () => {
    const res = await s.request('GET', '/v3', { token: null });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body.version).toMatchObject({ id: 'v3.14', status: 'stable' });
    expect(body.version.links[0].href).toBe(`${s.url}/v3/`);
  });

  it('issues a project-scoped token by name with roles and a catalog pointing at itself', async () => {
    const res = await issue(
      passwordAuth(
        { name: 'admin', domain: { name: 'Default' }, password: ADMIN_PASSWORD },
        { project: { name: 'admin', domain: { name: 'Default' } } },
      ),
    );
    expect(res.status).toBe(201);
    const token = res.headers.get('x-subject-token');
    expect(token).toMatch(/^ims1\./);
    const body = ((await res.json()) as Json).token;
    expect(body.methods).toEqual(['password']);
    expect(body.user).toMatchObject({ name: 'admin', domain: { id: 'default', name: 'Default' } });
    expect(body.project).toMatchObject({ name: 'admin', domain: { id: 'default', name: 'Default' } });
    expect(body.roles.map((r: Json) => r.name)).toEqual(['admin']);
    const expires = Date.parse(body.expires_at) - Date.parse(body.issued_at);
    expect(expires).toBe(3600 * 1000);
    const image = body.catalog.find((c: Json) => c.type === 'image');
    expect(image.endpoints).toContainEqual(
      expect.objectContaining({
        interface: 'public',
        region_id: 'RegionTest',
        region: 'RegionTest',
        url: s.config.publicUrl,
      }),
    );
    const identity = body.catalog.find((c: Json) => c.type === 'identity');
    expect(identity.endpoints[0].url).toBe(`${s.config.publicUrl}/v3`);
  });

  it('scopes by project id and by the default project when no scope is given', async () => {
    const alice = await s.tokenFor('p-one', 'alice2', 'member');
    const byId = await issue(
      passwordAuth(
        { name: 'alice2', domain: { id: 'default' }, password: 'pw-alice2' },
        { project: { id: alice.projectId } },
      ),
    );
    expect(byId.status).toBe(201);
    const roles = (((await byId.json()) as Json).token.roles as Json[]).map((r) => r.name);
    expect(roles).toEqual(['member']);
    const implicit = await issue(passwordAuth({ id: alice.userId, password: 'pw-alice2' }));
    expect(((await implicit.json()) as Json).token.project.id).toBe(alice.projectId);
    const unscoped = await issue({
      auth: {
        identity: { methods: ['password'], password: { user: { id: alice.userId, password: 'pw-alice2' } } },
        scope: 'unscoped',
      },
    });
    const body = ((await unscoped.json()) as Json).token;
    expect(body.project).toBeUndefined();
    expect(body.catalog).toBeUndefined();
    // an unscoped token cannot use the image API
    const images = await s.request('GET', '/v2/images', { token: unscoped.headers.get('x-subject-token') });
    expect(images.status).toBe(401);
  });

  it('refuses wrong passwords, unknown users, projects without a role, and malformed bodies', async () => {
    const wrong = await issue(passwordAuth({ name: 'admin', domain: { id: 'default' }, password: 'nope' }));
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as Json).error).toMatchObject({ code: 401, title: 'Unauthorized' });
    expect(
      (await issue(passwordAuth({ name: 'ghost', domain: { id: 'default' }, password: 'x' }))).status,
    ).toBe(401);
    const other = await s.tokenFor('p-two', 'carl', 'member');
    void other;
    const noRole = await issue(
      passwordAuth(
        { name: 'carl', domain: { id: 'default' }, password: 'pw-carl' },
        { project: { name: 'admin', domain: { id: 'default' } } },
      ),
    );
    expect(noRole.status).toBe(401);
    expect((await issue({ auth: {} })).status).toBe(400);
    expect(
      (
        await s.request('POST', '/v3/auth/tokens', {
          token: null,
          body: '{"auth":',
          headers: { 'content-type': 'application/json' },
        })
      ).status,
    ).toBe(400);
  });

  it('validates, rescopes and revokes tokens', async () => {
    const alice = await s.tokenFor('p-three', 'dana', 'member');
    const check = await s.request('GET', '/v3/auth/tokens', {
      token: alice.token,
      headers: { 'x-subject-token': alice.token },
    });
    expect(check.status).toBe(200);
    expect(check.headers.get('x-subject-token')).toBe(alice.token);
    expect(((await check.json()) as Json).token.project.id).toBe(alice.projectId);

    const rescoped = await issue({
      auth: {
        identity: { methods: ['token'], token: { id: alice.token } },
        scope: { project: { id: alice.projectId } },
      },
    });
    expect(rescoped.status).toBe(201);
    const second = rescoped.headers.get('x-subject-token')!;
    expect(((await rescoped.json()) as Json).token.methods).toEqual(['token', 'password']);

    expect(
      (
        await s.request('DELETE', '/v3/auth/tokens', {
          token: second,
          headers: { 'x-subject-token': alice.token },
        })
      ).status,
    ).toBe(204);
    const revoked = await s.request('GET', '/v2/images', { token: alice.token });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as Json).message).toContain('revoked');
    expect(
      (
        await s.request('GET', '/v3/auth/tokens', {
          token: second,
          headers: { 'x-subject-token': alice.token },
        })
      ).status,
    ).toBe(404);
    // the other token is unaffected
    expect((await s.request('GET', '/v2/images', { token: second })).status).toBe(200);
  });

  it('refuses expired, forged and missing tokens with 401', async () => {
    const ed = await s.tokenFor('p-four', 'eddie', 'member');
    expect((await s.request('GET', '/v2/images', { token: ed.token })).status).toBe(200);
    clock.offsetMs = 3601 * 1000;
    try {
      const expired = await s.request('GET', '/v2/images', { token: ed.token });
      expect(expired.status).toBe(401);
      expect(((await expired.json()) as Json).message).toContain('expired');
    } finally {
      clock.offsetMs = 0;
    }
    const [prefix, body] = ed.token.split('.');
    const claims = JSON.parse(Buffer.from(body!, 'base64url').toString());
    claims.roles = ['admin', 'member', 'reader'];
    const forged = `${prefix}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${ed.token.split('.')[2]}`;
    expect((await s.request('GET', '/v2/images', { token: forged })).status).toBe(401);
    const missing = await s.request('GET', '/v2/images', { token: null });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Keystone uri=');
  });
});
