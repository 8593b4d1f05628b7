/**
 * The policy over HTTP: every (role, action, own/other project) cell of the
 * matrix below, written out by hand from the rule (reader reads,
 * member writes in its project, admin does everything) and Glance's
 * not-found-rather-than-forbidden for what a caller cannot see. It is never
 * derived from the policy table it checks. Then deny-wins and an operator's
 * policy file.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/adapters/clock.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { ACTIONS, DEFAULT_POLICY, parsePolicyOverride, permits } from '../../src/domain/policy.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';
import { JobService } from '../../src/services/jobs/service.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Role = 'reader' | 'member' | 'admin';
type Where = 'own' | 'other';
/** Expected HTTP status per role, for the caller's own project and for another project. */
type Row = Record<Role, Record<Where, number>>;

const row = (reader: [number, number], member: [number, number], admin: [number, number]): Row => ({
  reader: { own: reader[0], other: reader[1] },
  member: { own: member[0], other: member[1] },
  admin: { own: admin[0], other: admin[1] },
});

/** The expected matrix, by hand. 404: the caller cannot see the other project's private image. */
const EXPECTED: Record<string, Row> = {
  'ims:images:list': row([200, 200], [200, 200], [200, 200]),
  'ims:images:get': row([200, 404], [200, 404], [200, 200]),
  'ims:images:create': row([403, 403], [201, 403], [201, 201]),
  'ims:images:update': row([403, 404], [200, 404], [200, 200]),
  'ims:images:upload': row([403, 404], [204, 404], [204, 204]),
  'ims:images:download': row([200, 404], [200, 404], [200, 200]),
  'ims:images:delete': row([403, 404], [204, 404], [204, 204]),
  'ims:images:deactivate': row([403, 404], [204, 404], [204, 204]),
  'ims:images:share': row([403, 404], [200, 404], [200, 200]),
  'ims:images:answerShare': row([403, 404], [200, 404], [200, 200]),
  'ims:jobs:get': row([200, 404], [200, 404], [200, 200]),
  'ims:traces:list': row([403, 403], [200, 403], [200, 200]),
  'identity:manage_credentials': row([201, 403], [201, 403], [201, 201]),
  'identity:list_projects': row([403, 403], [403, 403], [200, 200]),
  'identity:create_project': row([403, 403], [403, 403], [201, 201]),
  'ims:organizations:manage': row([403, 403], [403, 403], [201, 201]),
};

/**
 * The decision for every action of the table, by hand too: which roles may,
 * in their own project. (Beyond it, only admin may: checked above over HTTP.)
 */
const DECISIONS: Record<string, Role[]> = {
  'ims:images:list': ['reader', 'member', 'admin'],
  'ims:images:get': ['reader', 'member', 'admin'],
  'ims:images:create': ['member', 'admin'],
  'ims:serverImages:create': ['member', 'admin'],
  'ims:dataImages:create': ['member', 'admin'],
  'ims:wholeImages:create': ['member', 'admin'],
  'ims:images:update': ['member', 'admin'],
  'ims:images:upload': ['member', 'admin'],
  'ims:images:download': ['reader', 'member', 'admin'],
  'ims:images:delete': ['member', 'admin'],
  'ims:images:export': ['member', 'admin'],
  'ims:images:copy': ['member', 'admin'],
  'ims:images:share': ['member', 'admin'],
  'ims:images:answerShare': ['member', 'admin'],
  'ims:sharingPolicy:get': ['reader', 'member', 'admin'],
  'ims:sharingPolicy:update': ['member', 'admin'],
  'ims:images:deactivate': ['member', 'admin'],
  'ims:quotas:get': ['reader', 'member', 'admin'],
  'ims:quotas:update': ['admin'],
  'ims:metadefs:manage': ['admin'],
  'ims:jobs:get': ['reader', 'member', 'admin'],
  'ims:traces:list': ['member', 'admin'],
  'ims:organizations:manage': ['admin'],
  'ims:organizations:get': ['admin'],
  'identity:manage_credentials': ['reader', 'member', 'admin'],
};

let s: TestServer;
const uniq = (p: string) => `${p}-${Math.random().toString(16).slice(2, 10)}`;
const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

describe(`policy matrix over HTTP (${TEST_DB})`, () => {
  it('answers every role, action and project as the matrix says', async () => {
    const own = uniq('own');
    const other = uniq('other');
    const third = uniq('third');
    const callers = {
      reader: await s.tokenFor(own, uniq('reader'), 'reader'),
      member: await s.tokenFor(own, uniq('member'), 'member'),
      admin: await s.tokenFor(own, uniq('admin'), 'admin'),
    };
    const otherMember = await s.tokenFor(other, uniq('other-member'), 'member');
    const thirdMember = await s.tokenFor(third, uniq('third-member'), 'member');
    const ownId = callers.member.projectId;
    const otherId = otherMember.projectId;
    const jobs = new JobService(new Repositories(s.server.db.kysely), systemClock);
    const kind = defineJobKind<null>('policyMatrix');

    /** A fresh private image (shared, for member calls) of the project, optionally with data and members. */
    const image = async (where: Where, opts: { data?: boolean; shared?: boolean; member?: string } = {}) => {
      const token = where === 'own' ? callers.member.token : otherMember.token;
      const created = await json(
        await s.request('POST', '/v2/images', {
          token,
          body: {
            name: 'm',
            disk_format: 'raw',
            container_format: 'bare',
            visibility: opts.shared || opts.member ? 'shared' : 'private',
          },
        }),
      );
      const id = created.id as string;
      if (opts.data) {
        const up = await s.request('PUT', `/v2/images/${id}/file`, {
          token,
          body: 'data',
          headers: { 'content-type': 'application/octet-stream' },
        });
        expect(up.status).toBe(204);
      }
      if (opts.member) {
        const add = await s.request('POST', `/v2/images/${id}/members`, {
          token,
          body: { member: opts.member },
        });
        expect(add.status).toBe(200);
      }
      return id;
    };
    const patch = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
    const project = (where: Where) => (where === 'own' ? ownId : otherId);
    const users = {
      own: (role: Role) => callers[role].userId,
      other: () => otherMember.userId,
    };

    const CALLS: Record<string, (role: Role, where: Where, token: string) => Promise<Response>> = {
      'ims:images:list': (_r, where, token) =>
        s.request('GET', where === 'own' ? '/v2/images' : '/v2/images?visibility=all', { token }),
      'ims:images:get': async (_r, where, token) =>
        s.request('GET', `/v2/images/${await image(where)}`, { token }),
      'ims:images:create': (_r, where, token) =>
        s.request('POST', '/v2/images', {
          token,
          body: where === 'own' ? { name: 'c' } : { name: 'c', owner: otherId },
        }),
      'ims:images:update': async (_r, where, token) =>
        s.request('PATCH', `/v2/images/${await image(where)}`, {
          token,
          body: [{ op: 'replace', path: '/name', value: 'x' }],
          headers: patch,
        }),
      'ims:images:upload': async (_r, where, token) =>
        s.request('PUT', `/v2/images/${await image(where)}/file`, {
          token,
          body: 'bytes',
          headers: { 'content-type': 'application/octet-stream' },
        }),
      'ims:images:download': async (_r, where, token) =>
        s.request('GET', `/v2/images/${await image(where, { data: true })}/file`, { token }),
      'ims:images:delete': async (_r, where, token) =>
        s.request('DELETE', `/v2/images/${await image(where)}`, { token }),
      'ims:images:deactivate': async (_r, where, token) =>
        s.request('POST', `/v2/images/${await image(where, { data: true })}/actions/deactivate`, { token }),
      'ims:images:share': async (_r, where, token) =>
        s.request('POST', `/v2/images/${await image(where, { shared: true })}/members`, {
          token,
          body: { member: thirdMember.projectId },
        }),
      // own: an image of the other project shared with the caller's; other: shared with a third project.
      'ims:images:answerShare': async (_r, where, token) => {
        const to = where === 'own' ? ownId : thirdMember.projectId;
        const id = await image('other', { member: to });
        return s.request('PUT', `/v2/images/${id}/members/${to}`, { token, body: { status: 'accepted' } });
      },
      'ims:jobs:get': async (_r, where, token) => {
        const job = await jobs.enqueue({ projectId: project(where) }, kind, null);
        return s.request('GET', `/v1/cloudimages/job/${job.id}`, { token });
      },
      'ims:traces:list': (_r, where, token) => s.request('GET', `/v1/${project(where)}/traces`, { token }),
      'identity:manage_credentials': (role, where, token) =>
        s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', {
          token,
          body: { credential: { user_id: where === 'own' ? users.own(role) : users.other() } },
        }),
      'identity:list_projects': (_r, where, token) =>
        s.request('GET', where === 'own' ? '/v3/projects' : `/v3/projects?domain_id=default`, { token }),
      'identity:create_project': (_r, where, token) =>
        s.request('POST', '/v3/projects', {
          token,
          body: { project: { name: uniq('p'), ...(where === 'other' ? { domain_id: 'default' } : {}) } },
        }),
      // own: an organization of the caller's account; other: of a new account.
      'ims:organizations:manage': async (_r, where, token) => {
        const domain = async () =>
          (
            (await json(await s.request('POST', '/v3/domains', { body: { domain: { name: uniq('d') } } })))
              .domain as { id: string }
          ).id;
        const account = where === 'own' ? {} : { management_account_id: await domain() };
        return s.request('POST', '/v1/organizations', {
          token,
          body: { organization: { name: 'o', ...account } },
        });
      },
    };

    const got: Record<string, Row> = {};
    for (const [action, call] of Object.entries(CALLS)) {
      const r = row([0, 0], [0, 0], [0, 0]);
      for (const role of ['reader', 'member', 'admin'] as const) {
        for (const where of ['own', 'other'] as const) {
          const res = await call(role, where, callers[role].token);
          r[role][where] = res.status;
          // Drain bodies (downloads) so that connections are reused.
          await res.arrayBuffer();
        }
      }
      got[action] = r;
    }
    expect(got).toEqual(EXPECTED);
    // About 100 requests and 60 images: minutes on a loaded machine.
  }, 300_000);

  it('decides every action of the table as written out by hand', () => {
    const decided: Record<string, Role[]> = {};
    for (const action of ACTIONS) {
      if (action.startsWith('identity:') && action !== 'identity:manage_credentials') {
        // Keystone's admin API: administrators only.
        expect(
          (['reader', 'member', 'admin'] as const).filter((r) =>
            permits(DEFAULT_POLICY, { roles: [r], projectId: 'p', userId: 'u' }, action),
          ),
          action,
        ).toEqual(['admin']);
        continue;
      }
      decided[action] = (['reader', 'member', 'admin'] as const).filter((r) =>
        permits(DEFAULT_POLICY, { roles: [r], projectId: 'p', userId: 'u' }, action, { projectId: 'p' }),
      );
    }
    expect(decided).toEqual(DECISIONS);
  });
});

describe(`operator policy file (${TEST_DB})`, () => {
  let custom: TestServer;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-policy-'));
    const file = path.join(dir, 'policy.json');
    await fs.writeFile(
      file,
      JSON.stringify({
        // Readers may create images here; nobody but admins deletes; admins (who also hold member) may not update.
        'ims:images:create': { allow: ['reader', 'member', 'admin'] },
        'ims:images:delete': { allow: ['admin'] },
        'ims:images:update': { allow: ['member', 'admin'], deny: ['admin'] },
      }),
    );
    custom = await startTestServer({ IMS_POLICY_FILE: file });
  });
  afterAll(async () => {
    await custom?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('replaces the rules it names, keeps the others, and deny wins over allow', async () => {
    const project = uniq('pf');
    const reader = await custom.tokenFor(project, uniq('r'), 'reader');
    const member = await custom.tokenFor(project, uniq('m'), 'member');
    const created = await custom.request('POST', '/v2/images', {
      token: reader.token,
      body: { name: 'by reader' },
    });
    expect(created.status).toBe(201);
    const id = (await json(created)).id as string;
    const del = await custom.request('DELETE', `/v2/images/${id}`, { token: member.token });
    expect(del.status).toBe(403);
    expect((await del.text()).toLowerCase()).toContain('ims:images:delete');
    expect((await custom.request('PUT', `/v2/images/${id}/tags/a`, { token: member.token })).status).toBe(
      204,
    );
    // An admin token carries admin, member and reader: member is allowed, admin denied, and deny wins.
    expect((await custom.request('PUT', `/v2/images/${id}/tags/b`)).status).toBe(403);
    expect((await custom.request('DELETE', `/v2/images/${id}`)).status).toBe(204);
  });

  it('refuses a policy file with unknown actions or roles, naming them', () => {
    expect(() => parsePolicyOverride('{"ims:images:fly": {"allow": ["admin"]}}', 'p.json')).toThrow(
      /unknown action "ims:images:fly"/,
    );
    expect(() => parsePolicyOverride('{"ims:images:get": {"allow": ["root"]}}', 'p.json')).toThrow(
      /list of roles/,
    );
    expect(() => parsePolicyOverride('[1]', 'p.json')).toThrow(/JSON object/);
    expect(() => parsePolicyOverride('{', 'p.json')).toThrow(/not JSON/);
  });
});
