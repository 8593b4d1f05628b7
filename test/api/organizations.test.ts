/**
 * Organizations and units for URN sharing: the admin API, membership of
 * accounts, URNs in IMS's format, and accountsInOrganization (sub-units
 * included), on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOrgRef } from '../../src/domain/organization.ts';
import { OrganizationService } from '../../src/services/organizations.ts';
import { OrganizationRepository } from '../../src/adapters/db/organization-repository.ts';
import { IdentityRepository } from '../../src/adapters/db/identity-repository.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import { Policy } from '../../src/services/policy.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
let service: OrganizationService;
const uniq = (p: string) => `${p}-${Math.random().toString(16).slice(2, 10)}`;

async function call(
  method: string,
  p: string,
  status: number,
  body?: unknown,
  token?: string,
): Promise<Json> {
  const res = await s.request(method, p, { body, ...(token ? { token } : {}) });
  const text = await res.text();
  expect(res.status, `${method} ${p}: ${text}`).toBe(status);
  return text ? (JSON.parse(text) as Json) : {};
}
const newDomain = async () =>
  (await call('POST', '/v3/domains', 201, { domain: { name: uniq('acct') } })).domain.id as string;

beforeAll(async () => {
  s = await startTestServer();
  service = new OrganizationService(
    new OrganizationRepository(s.server.db.kysely),
    new IdentityRepository(s.server.db.kysely),
    systemClock,
    new Policy(),
  );
});
afterAll(async () => {
  await s?.close();
});

describe(`organizations (${TEST_DB})`, () => {
  it('builds a tree of units with IMS URNs and finds every account below a unit', async () => {
    const mgmt = await newDomain();
    const org = (
      await call('POST', '/v1/organizations', 201, {
        organization: { name: 'Acme', management_account_id: mgmt },
      })
    ).organization;
    expect(org.id).toMatch(/^o-[a-z0-9]+$/);
    expect(org.urn).toBe(`organizations::${mgmt}:organization:${org.id}`);
    expect(org.root_urn).toBe(`organizations::${mgmt}:root:${org.id}/${org.root_id}`);
    const base = `/v1/organizations/${org.id}`;
    const unit = async (name: string, parent?: string) =>
      (
        await call('POST', `${base}/organizational-units`, 201, {
          organizational_unit: { name, ...(parent ? { parent_id: parent } : {}) },
        })
      ).organizational_unit;
    const eng = await unit('Engineering');
    const qa = await unit('QA', eng.id);
    const sales = await unit('Sales');
    expect(eng.urn).toBe(`organizations::${mgmt}:ou:${org.id}/${eng.id}`);
    expect(qa.parent_id).toBe(eng.id);

    const [a, b, c] = [await newDomain(), await newDomain(), await newDomain()];
    await call('PUT', `${base}/accounts/${a}`, 200, { account: { parent_id: eng.id } });
    await call('PUT', `${base}/accounts/${b}`, 200, { account: { parent_id: qa.id } });
    const placed = (await call('PUT', `${base}/accounts/${c}`, 200)).account;
    expect(placed).toMatchObject({ account_id: c, parent_id: org.root_id, parent_urn: org.root_urn });

    const sorted = (xs: string[]) => [...xs].sort();
    expect(sorted(await service.accountsInOrganization(org.urn))).toEqual(sorted([mgmt, a, b, c]));
    expect(sorted(await service.accountsInOrganization(org.root_urn))).toEqual(sorted([mgmt, a, b, c]));
    expect(sorted(await service.accountsInOrganization(eng.urn))).toEqual(sorted([a, b]));
    expect(await service.accountsInOrganization(qa.urn)).toEqual([b]);
    expect(await service.accountsInOrganization(sales.urn)).toEqual([]);
    // Bare ids are accepted and normalised to the URN.
    expect(sorted(await service.accountsInOrganization(eng.id))).toEqual(sorted([a, b]));
    expect(await service.normalize(qa.id)).toBe(qa.urn);
    const viaHttp = await call('GET', `/v1/organizations/members?urn=${encodeURIComponent(eng.urn)}`, 200);
    expect({ urn: viaHttp.urn, ids: sorted(viaHttp.account_ids) }).toEqual({
      urn: eng.urn,
      ids: sorted([a, b]),
    });

    // Moving an account moves it out of the old subtree.
    await call('PUT', `${base}/accounts/${b}`, 200, { account: { parent_id: sales.id } });
    expect(await service.accountsInOrganization(eng.urn)).toEqual([a]);
    expect(await service.accountsInOrganization(sales.urn)).toEqual([b]);

    // An account belongs to one organization; units go only when empty; the root never.
    const other = (
      await call('POST', '/v1/organizations', 201, {
        organization: { name: 'Other', management_account_id: await newDomain() },
      })
    ).organization;
    await call('PUT', `/v1/organizations/${other.id}/accounts/${a}`, 409);
    await call('DELETE', `${base}/organizational-units/${eng.id}`, 409);
    await call('DELETE', `${base}/organizational-units/${org.root_id}`, 403);
    await call('DELETE', `${base}/accounts/${a}`, 204);
    await call('DELETE', `${base}/accounts/${a}`, 404);
    await call('DELETE', `${base}/accounts/${mgmt}`, 403);
    await call('DELETE', `${base}/organizational-units/${qa.id}`, 204);
    await call('DELETE', `${base}/organizational-units/${eng.id}`, 204);
    expect(
      (await call('GET', `${base}/organizational-units`, 200)).organizational_units.map((u: Json) => u.id),
    ).toEqual([sales.id]);
    expect(
      sorted((await call('GET', `${base}/accounts`, 200)).accounts.map((m: Json) => m.account_id)),
    ).toEqual(sorted([mgmt, b, c]));
    // A URN with the wrong management account, an unknown unit, a unit of another organization: not found.
    await expect(
      service.accountsInOrganization(`organizations::${a}:organization:${org.id}`),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      service.accountsInOrganization(`organizations::${mgmt}:ou:${org.id}/ou-nosuch`),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      service.accountsInOrganization(`organizations::${mgmt}:ou:${other.id}/${sales.id}`),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      service.accountsInOrganization(
        `organizations::${mgmt}:root:${org.id}/${sales.id.replace('ou-', 'r-')}`,
      ),
    ).rejects.toMatchObject({ status: 404 });

    await call('DELETE', base, 204);
    await call('GET', base, 404);
    await expect(service.accountsInOrganization(org.urn)).rejects.toMatchObject({ status: 404 });
    // Its accounts are free to join another one.
    await call('PUT', `/v1/organizations/${other.id}/accounts/${b}`, 200);
  });

  it('parses the three URN forms and bare ids, and refuses anything else with 400', () => {
    expect(parseOrgRef('organizations::acct1:organization:o-abc')).toEqual({
      kind: 'organization',
      accountId: 'acct1',
      orgId: 'o-abc',
    });
    expect(parseOrgRef('organizations::acct1:root:o-abc/r-12')).toEqual({
      kind: 'root',
      accountId: 'acct1',
      orgId: 'o-abc',
      unitId: 'r-12',
    });
    expect(parseOrgRef('organizations::acct1:ou:o-abc/ou-x1-y2')).toEqual({
      kind: 'ou',
      accountId: 'acct1',
      orgId: 'o-abc',
      unitId: 'ou-x1-y2',
    });
    expect(parseOrgRef('ou-1')).toEqual({ kind: 'ou', unitId: 'ou-1' });
    for (const bad of [
      '',
      'o-',
      'organizations::a:organization:x-1',
      "organizations::a' OR 1=1:organization:o-1",
      'organizations::a:ou:o-1',
      'organizations::a:ou:o-1/ou-1/ou-2',
      'urn:organizations::a:organization:o-1',
      'o-ÄÖ',
      'x'.repeat(1000),
      42,
      null,
    ]) {
      expect(() => parseOrgRef(bad), String(bad)).toThrow(expect.objectContaining({ status: 400 }));
    }
  });

  it('is for administrators; hostile bodies get IMS errors and change nothing', async () => {
    const member = await s.tokenFor(uniq('org-m'), uniq('org-m'), 'member');
    const res = await s.request('POST', '/v1/organizations', {
      token: member.token,
      body: { organization: { name: 'x' } },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'IMG.0026' } });
    expect((await s.request('GET', '/v1/organizations', { token: member.token })).status).toBe(403);
    expect((await s.request('GET', '/v1/organizations', { token: null })).status).toBe(401);
    const before = (await call('GET', '/v1/organizations', 200)).organizations.length;
    const bad = [
      { organization: { name: '' } },
      { organization: { name: 'x'.repeat(65) } },
      { organization: { name: 'a\u0000b' } },
      { organization: { name: ['x'] } },
      { organization: { name: 'x', management_account_id: 'nosuch' } },
      { organization: { name: 'x', management_account_id: { $ne: 1 } } },
      [],
      'text',
    ];
    for (const body of bad) {
      const r = await s.request('POST', '/v1/organizations', { body });
      expect(r.status, JSON.stringify(body)).toBeGreaterThanOrEqual(400);
      expect(r.status, JSON.stringify(body)).toBeLessThan(500);
      expect(((await r.json()) as Json).error.code).toMatch(/^IMG\./);
    }
    expect((await call('GET', '/v1/organizations', 200)).organizations).toHaveLength(before);
    await call(
      'GET',
      `/v1/organizations/members?urn=${encodeURIComponent("'; drop table domains; --")}`,
      400,
    );
    await call('PUT', '/v1/organizations/o-nosuch/accounts/default', 404);
  });
});
