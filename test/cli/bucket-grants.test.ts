/**
 * `ims admin bucket` through the built binary: grants to a project and to every
 * project of an account (resolved when asked, so a project added later has the
 * bucket and one moved out of reach does not), and each grant and revoke in the
 * service's audit chain, which `ims audit verify` still finds intact. `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { runOnServer } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let s: TestServer;

beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s?.close();
});

const ims = (...args: string[]) => runOnServer(s, ['admin', 'bucket', ...args]);

async function created(path: string, body: Json): Promise<Json> {
  const res = await s.request('POST', path, { body });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Json;
}

const newAccount = async (name: string) =>
  (await created('/v3/domains', { domain: { name } })).domain.id as string;
const newProject = async (name: string, domainId: string) =>
  (await created('/v3/projects', { project: { name, domain_id: domainId } })).project.id as string;

async function bucketEvents(): Promise<Json[]> {
  return s.server.db.kysely
    .selectFrom('audit_events')
    .select(['operation', 'resource_id', 'resource_name', 'result', 'http_status', 'source_ip'])
    .where('operation', 'in', ['grantBucket', 'revokeBucket'])
    .orderBy('seq')
    .execute();
}

describe(`ims admin bucket (${TEST_DB})`, { timeout: 120_000 }, () => {
  it('grants a bucket to every project of an account, resolved at read time; audited in the API chain', async () => {
    const repos = new Repositories(s.server.db.kysely);
    const acme = await newAccount('bucket-acme');
    const other = await newAccount('bucket-other');
    const web = await newProject('web', acme);
    const elsewhere = await newProject('elsewhere', other);

    const grant = await ims('grant', '--account', acme, 'acme-files');
    expect(grant.code, grant.out).toBe(0);
    expect(grant.out).toContain(`granted bucket acme-files to account ${acme}`);
    // By name as well; granting again is a no-op that succeeds.
    expect((await ims('grant', '--account', 'bucket-acme', 'acme-files')).code).toBe(0);
    const later = await newProject('added-later', acme);
    expect(await repos.buckets.isGranted(web, 'acme-files')).toBe(true);
    expect(await repos.buckets.isGranted(later, 'acme-files')).toBe(true);
    expect(await repos.buckets.isGranted(elsewhere, 'acme-files')).toBe(false);
    expect((await ims('list', later)).out).toMatch(
      new RegExp(`^${later} acme-files \\S+ account:${acme}$`, 'm'),
    );
    expect((await ims('list', '--account', acme)).out).toMatch(new RegExp(`^${acme} acme-files \\S+$`, 'm'));
    expect((await ims('list', '--account')).out).toContain(`${acme} acme-files `);

    // A project's own grant stays when its account's is revoked.
    expect((await ims('grant', web, 'acme-files')).code).toBe(0);
    expect((await ims('revoke', '--account', acme, 'acme-files')).code).toBe(0);
    expect(await repos.buckets.isGranted(web, 'acme-files')).toBe(true);
    expect(await repos.buckets.isGranted(later, 'acme-files')).toBe(false);
    const again = await ims('revoke', '--account', acme, 'acme-files');
    expect(again.code).toBe(1);
    expect(again.out).toContain('has no grant');
    expect((await ims('revoke', web, 'acme-files')).code).toBe(0);

    // Refusals: unknown account, the image store's bucket, usage errors.
    expect((await ims('grant', '--account', 'no-such-account', 'acme-files')).code).toBe(1);
    expect((await ims('grant', '--account', acme)).code).toBe(2);
    expect((await ims('grant', '--account', acme, 'a-bucket', 'extra')).code).toBe(2);

    const events = await bucketEvents();
    expect(events.map((e) => [e.operation, e.resource_id, e.result])).toEqual([
      ['grantBucket', `account:${acme}:acme-files`, 'success'],
      ['grantBucket', `account:${acme}:acme-files`, 'success'],
      ['grantBucket', `${web}:acme-files`, 'success'],
      ['revokeBucket', `account:${acme}:acme-files`, 'success'],
      ['revokeBucket', `account:${acme}:acme-files`, 'failure'],
      ['revokeBucket', `${web}:acme-files`, 'success'],
      ['grantBucket', 'account:no-such-account:acme-files', 'failure'],
    ]);
    expect(events.every((e) => e.source_ip === 'ims admin bucket' && e.resource_name === 'acme-files')).toBe(
      true,
    );

    // API events after the CLI's continue the same chain, which verifies.
    const image = await s.request('POST', '/v2/images', { body: { name: 'after-grants' } });
    expect(image.status).toBe(201);
    const verify = await runOnServer(s, ['audit', 'verify']);
    expect(verify.code, verify.out).toBe(0);
  });
});
