/**
 * The audit trail over HTTP: every mutating route declares its trace, each
 * call to one records exactly one event (success or failure with its code),
 * the trace query filters and pages, and the HMAC chain shows a changed,
 * removed or cut-off event, on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditRepository } from '../../src/adapters/db/audit-repository.ts';
import { runInAuditScope } from '../../src/adapters/audit-scope.ts';
import { Repositories } from '../../src/adapters/db/repositories.ts';
import { JobRepository } from '../../src/adapters/db/job-repository.ts';
import { FileBlobStore } from '../../src/adapters/storage/file-blob-store.ts';
import { systemClock } from '../../src/adapters/clock.ts';
import { MUTATING_METHODS } from '../../src/api/audit-hooks.ts';
import { openAuditRepository, createAuditService } from '../../src/services/audit/create.ts';
import { exportTrail, verifyTrail } from '../../src/services/audit/archive.ts';
import { JobService } from '../../src/services/jobs/service.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';
import { JobRegistry } from '../../src/services/jobs/registry.ts';
import { Worker } from '../../src/services/jobs/worker.ts';
import { runOnServer } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import path from 'node:path';

type Json = Record<string, unknown>;

let s: TestServer;
let repo: AuditRepository;

beforeAll(async () => {
  s = await startTestServer();
  repo = await openAuditRepository(s.server.db, s.config);
});
afterAll(async () => {
  await s?.close();
});

const events = async (requestId: string) =>
  s.server.db.kysely.selectFrom('audit_events').selectAll().where('request_id', '=', requestId).execute();

describe(`audit trail (${TEST_DB})`, () => {
  it('every mutating route declares its audit operation (or "none" on purpose)', () => {
    const missing = s.server.app.auditedRoutes
      .filter((r) => MUTATING_METHODS.includes(r.method) && r.audit === undefined)
      .map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
  });

  it('records exactly one event for each call of every audited route, with the operation and result', async () => {
    const covered = new Set<string>();
    const uniq = (p: string) => `${p}-${Math.random().toString(16).slice(2, 10)}`;
    /** Calls one route and checks its single event; returns the parsed body. */
    const step = async (
      route: string,
      operation: string,
      status: number,
      send: () => Promise<Response>,
      resourceId?: string,
      result?: 'accepted',
    ): Promise<Json> => {
      const res = await send();
      const text = await res.text();
      expect(res.status, `${route}: ${text}`).toBe(status);
      const requestId = res.headers.get('x-request-id')!;
      // An accepted call's job, when it ends, adds a second event (no source) with the same request id.
      const found = (await events(requestId)).filter((e) => result !== 'accepted' || e.source_ip !== null);
      expect(found, route).toHaveLength(1);
      expect(found[0]!.operation, route).toBe(operation);
      expect(found[0]!.result, route).toBe(result ?? (status < 400 ? 'success' : 'failure'));
      if (result === 'accepted') expect(found[0]!.job_id, route).toBeTruthy();
      expect(found[0]!.source_ip, route).toBe('127.0.0.1');
      if (resourceId) expect(found[0]!.resource_id, route).toBe(resourceId);
      covered.add(route);
      return text ? (JSON.parse(text) as Json) : {};
    };
    const r = (method: string, p: string, body?: unknown, headers?: Record<string, string>) => () =>
      s.request(method, p, { body, ...(headers ? { headers } : {}) });

    // images and their data, tags and members
    const owner = await s.tokenFor(uniq('audit-owner'), uniq('audit-owner'), 'member');
    const recipient = await s.tokenFor(uniq('audit-recipient'), uniq('audit-recipient'), 'member');
    const created = await step('POST /v2/images', 'createImage', 201, () =>
      s.request('POST', '/v2/images', {
        token: owner.token,
        body: { name: 'audited', disk_format: 'raw', container_format: 'bare', visibility: 'shared' },
      }),
    );
    const id = created.id as string;
    expect(
      (await events((await s.request('GET', `/v2/images/${id}`)).headers.get('x-request-id')!)).length,
    ).toBe(0);
    const img = `/v2/images/${id}`;
    const patch = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
    await step(
      'PATCH /v2/images/:image_id',
      'updateImage',
      200,
      r('PATCH', img, [{ op: 'replace', path: '/name', value: 'n2' }], patch),
      id,
    );
    await step('PUT /v2/images/:image_id/tags/:tag', 'addTag', 204, r('PUT', `${img}/tags/t1`), id);
    await step('DELETE /v2/images/:image_id/tags/:tag', 'deleteTag', 204, r('DELETE', `${img}/tags/t1`), id);
    await step('PUT /v2/images/:image_id/file', 'updateImage', 204, () =>
      s.request('PUT', `${img}/file`, {
        body: 'x'.repeat(1024),
        headers: { 'content-type': 'application/octet-stream' },
      }),
    );
    for (const prefix of ['/v1', '/v2.1']) {
      await step(
        `POST ${prefix}/cloudimages/:image_id/copy`,
        'copyImage',
        200,
        r('POST', `${prefix}/cloudimages/${id}/copy`, { name: `copy-${prefix.slice(1)}` }),
        id,
        'accepted',
      );
    }
    // No peer region is configured here: the refusal is recorded as a failure.
    await step(
      'POST /v1/cloudimages/:image_id/cross_region_copy',
      'copyImage',
      400,
      r('POST', `/v1/cloudimages/${id}/cross_region_copy`, {
        name: 'far',
        region: 'RegionFar',
        project_name: 'p',
        agency_name: 'a',
      }),
      id,
    );
    // Without a tenants' object store (IMS_USER_S3_*) these are refused, and the refusal is recorded.
    const fileBody = { name: 'from-file', image_url: 'bucket-a:disk.raw', min_disk: 1 };
    for (const [route, body] of [
      ['/v2/cloudimages/action', fileBody],
      ['/v2.1/cloudimages/action', fileBody],
      ['/v1/cloudimages/dataimages/action', fileBody],
      ['/v2.1/cloudimages/dataimages/action', fileBody],
      ['/v2/cloudimages/quickimport/action', { ...fileBody, os_version: 'CentOS 7.6 64bit' }],
      ['/v2.1/cloudimages/quickimport/action', { ...fileBody, os_version: 'CentOS 7.6 64bit' }],
      ['/v1/cloudimages/wholeimages/action', { name: 'whole', instance_id: 'server-1' }],
    ] as const) {
      await step(`POST ${route}`, 'createImage', 400, r('POST', route, body));
    }
    await step(
      'PUT /v1/cloudimages/:image_id/upload',
      'updateImage',
      400,
      r('PUT', `/v1/cloudimages/${id}/upload`, { image_url: 'bucket-a:disk.raw' }),
      id,
    );
    for (const prefix of ['/v1', '/v2.1']) {
      await step(
        `POST ${prefix}/cloudimages/:image_id/file`,
        'exportImage',
        400,
        r('POST', `${prefix}/cloudimages/${id}/file`, {
          bucket_url: 'bucket-a:out.qcow2',
          file_format: 'qcow2',
        }),
        id,
      );
    }
    // IMS batch sharing and the sharing policy
    const batch = { images: [id], projects: [recipient.projectId] };
    const tokenReq = (token: string, method: string, p: string, body: unknown) => () =>
      s.request(method, p, { token, body });
    await step(
      'POST /v1/cloudimages/members',
      'addMember',
      200,
      tokenReq(owner.token, 'POST', '/v1/cloudimages/members', batch),
      id,
      'accepted',
    );
    await step(
      'PUT /v1/cloudimages/members',
      'updateMember',
      200,
      tokenReq(recipient.token, 'PUT', '/v1/cloudimages/members', {
        images: [id],
        project_id: recipient.projectId,
        status: 'accepted',
      }),
      id,
      'accepted',
    );
    await step(
      'DELETE /v1/cloudimages/members',
      'deleteMember',
      200,
      tokenReq(owner.token, 'DELETE', '/v1/cloudimages/members', batch),
      id,
      'accepted',
    );
    await step(
      'PUT /v1/:project_id/cloudimages/sharing-policy',
      'updateSharingPolicy',
      200,
      tokenReq(recipient.token, 'PUT', `/v1/${recipient.projectId}/cloudimages/sharing-policy`, {
        sharing_policy: { accept_own_account: true },
      }),
      recipient.projectId,
    );
    await step(
      'POST /v2/images/:image_id/actions/deactivate',
      'updateImage',
      204,
      r('POST', `${img}/actions/deactivate`),
    );
    await step(
      'POST /v2/images/:image_id/actions/reactivate',
      'updateImage',
      204,
      r('POST', `${img}/actions/reactivate`),
    );
    await step(
      'POST /v2/images/:image_id/members',
      'addMember',
      200,
      r('POST', `${img}/members`, { member: recipient.projectId }),
      id,
    );
    await step('PUT /v2/images/:image_id/members/:member_id', 'updateMember', 200, () =>
      s.request('PUT', `${img}/members/${recipient.projectId}`, {
        token: recipient.token,
        body: { status: 'accepted' },
      }),
    );
    await step(
      'DELETE /v2/images/:image_id/members/:member_id',
      'deleteMember',
      204,
      r('DELETE', `${img}/members/${recipient.projectId}`),
    );
    await step('PATCH /v2/cloudimages/:image_id', 'updateImage', 200, () =>
      s.request('PATCH', `/v2/cloudimages/${id}`, {
        token: owner.token,
        body: [{ op: 'replace', path: '/name', value: 'n3' }],
      }),
    );
    // IMS tags, every generation
    const o = (method: string, p: string, body?: unknown) => () =>
      s.request(method, p, { token: owner.token, body });
    const ptags = `/v2/${owner.projectId}/images/${id}/tags`;
    await step(
      'PUT /v1/cloudimages/tags',
      'addTag',
      204,
      o('PUT', '/v1/cloudimages/tags', { image_id: id, tag: 'k1.v1' }),
    );
    await step(
      'POST /v2/:project_id/images/:image_id/tags',
      'addTag',
      204,
      o('POST', ptags, { tag: { key: 'k2', value: 'v2' } }),
      id,
    );
    await step(
      'POST /v2/:project_id/images/:image_id/tags/action',
      'updateImage',
      204,
      o('POST', `${ptags}/action`, { action: 'delete', tags: [{ key: 'k2', value: 'v2' }] }),
      id,
    );
    await step(
      'DELETE /v2/:project_id/images/:image_id/tags/:key',
      'deleteTag',
      204,
      o('DELETE', `${ptags}/k1`),
      id,
    );
    await step(
      'DELETE /v1/:project_id/cloudimages/:image_id/tags/delete',
      'deleteTag',
      204,
      o('DELETE', `/v1/${owner.projectId}/cloudimages/${id}/tags/delete`, {
        tags: [{ key: 'absent', value: '' }],
      }),
      id,
    );
    const query = await s.request('POST', `/v2/${owner.projectId}/images/resource_instances/action`, {
      token: owner.token,
      body: { action: 'count', tags: [] },
    });
    expect(query.status).toBe(200);
    expect((await events(query.headers.get('x-request-id')!)).length).toBe(0);
    await step('DELETE /v2/images/:image_id', 'deleteImage', 204, r('DELETE', img), id);
    await step(
      'PUT /v1/cloudimages/quota',
      'updateQuota',
      200,
      r('PUT', '/v1/cloudimages/quota', { project_id: owner.projectId, quotas: { image: 100 } }),
    );
    // Glance's interoperable import: staging, then an accepted (asynchronous) import
    const staged = (
      await step('POST /v2/images', 'createImage', 201, () =>
        s.request('POST', '/v2/images', {
          token: owner.token,
          body: { name: 'staged', disk_format: 'raw', container_format: 'bare' },
        }),
      )
    ).id as string;
    await step(
      'PUT /v2/images/:image_id/stage',
      'updateImage',
      204,
      () =>
        s.request('PUT', `/v2/images/${staged}/stage`, {
          token: owner.token,
          body: 'y'.repeat(1024),
          headers: { 'content-type': 'application/octet-stream' },
        }),
      staged,
    );
    await step(
      'POST /v2/images/:image_id/import',
      'updateImage',
      202,
      o('POST', `/v2/images/${staged}/import`, { method: { name: 'glance-direct' } }),
      staged,
      'accepted',
    );

    // resumable uploads: each step of a session is audited against its image
    const resumed = (
      await step('POST /v2/images', 'createImage', 201, () =>
        s.request('POST', '/v2/images', {
          token: owner.token,
          body: { name: 'resumed', disk_format: 'raw', container_format: 'bare' },
        }),
      )
    ).id as string;
    const sessions = `/v2/images/${resumed}/upload-sessions`;
    const session = await step(
      'POST /v2/images/:image_id/upload-sessions',
      'createUploadSession',
      201,
      o('POST', sessions, { size: 16 }),
      resumed,
    );
    const sessionUrl = `${sessions}/${session.id as string}`;
    await step(
      'PUT /v2/images/:image_id/upload-sessions/:session_id',
      'uploadImageChunk',
      200,
      () =>
        s.request('PUT', sessionUrl, {
          token: owner.token,
          body: 'z'.repeat(16),
          headers: { 'content-type': 'application/octet-stream', 'content-range': 'bytes 0-15/16' },
        }),
      resumed,
    );
    await step(
      'POST /v2/images/:image_id/upload-sessions/:session_id/commit',
      'commitUploadSession',
      200,
      o('POST', `${sessionUrl}/commit`),
      resumed,
    );
    await step(
      'DELETE /v2/images/:image_id/upload-sessions/:session_id',
      'deleteUploadSession',
      204,
      o('DELETE', sessionUrl),
      resumed,
    );

    // metadata definitions (admin writes), recorded against the namespace
    const nsName = uniq('OS::Audit');
    const ns = `/v2/metadefs/namespaces/${encodeURIComponent(nsName)}`;
    const meta = (
      route: string,
      operation: string,
      status: number,
      method: string,
      p: string,
      body?: unknown,
    ) => step(`${method} /v2/metadefs/namespaces${route}`, operation, status, r(method, p, body), nsName);
    await step(
      'POST /v2/metadefs/namespaces',
      'createMetadefNamespace',
      201,
      r('POST', '/v2/metadefs/namespaces', { namespace: nsName }),
    );
    await meta('/:namespace', 'updateMetadefNamespace', 200, 'PUT', ns, {
      namespace: nsName,
      description: 'audited',
    });
    await meta(
      '/:namespace/resource_types',
      'createMetadefResourceTypeAssociation',
      201,
      'POST',
      `${ns}/resource_types`,
      {
        name: 'OS::Glance::Image',
      },
    );
    await meta(
      '/:namespace/resource_types/:item',
      'deleteMetadefResourceTypeAssociation',
      204,
      'DELETE',
      `${ns}/resource_types/OS::Glance::Image`,
    );
    const property = { name: 'p1', title: 'P1', type: 'string' };
    await meta('/:namespace/properties', 'createMetadefProperty', 201, 'POST', `${ns}/properties`, property);
    await meta(
      '/:namespace/properties/:item',
      'updateMetadefProperty',
      200,
      'PUT',
      `${ns}/properties/p1`,
      property,
    );
    await meta('/:namespace/properties/:item', 'deleteMetadefProperty', 204, 'DELETE', `${ns}/properties/p1`);
    await meta('/:namespace/properties', 'deleteMetadefProperties', 204, 'DELETE', `${ns}/properties`);
    await meta('/:namespace/objects', 'createMetadefObject', 201, 'POST', `${ns}/objects`, { name: 'o1' });
    await meta('/:namespace/objects/:item', 'updateMetadefObject', 200, 'PUT', `${ns}/objects/o1`, {
      name: 'o1',
    });
    await meta('/:namespace/objects/:item', 'deleteMetadefObject', 204, 'DELETE', `${ns}/objects/o1`);
    await meta('/:namespace/objects', 'deleteMetadefObjects', 204, 'DELETE', `${ns}/objects`);
    await meta('/:namespace/tags', 'createMetadefTags', 201, 'POST', `${ns}/tags`, {
      tags: [{ name: 't1' }],
    });
    await meta('/:namespace/tags/:item', 'createMetadefTag', 201, 'POST', `${ns}/tags/t2`);
    await meta('/:namespace/tags/:item', 'updateMetadefTag', 200, 'PUT', `${ns}/tags/t2`, { name: 't3' });
    await meta('/:namespace/tags/:item', 'deleteMetadefTag', 204, 'DELETE', `${ns}/tags/t3`);
    await meta('/:namespace/tags', 'deleteMetadefTags', 204, 'DELETE', `${ns}/tags`);
    await meta('/:namespace', 'deleteMetadefNamespace', 204, 'DELETE', ns);

    // Keystone: domains, projects, users, roles, grants, credentials, tokens
    const domain = (
      await step(
        'POST /v3/domains',
        'createDomain',
        201,
        r('POST', '/v3/domains', { domain: { name: uniq('d') } }),
      )
    ).domain as Json;
    const dpath = `/v3/domains/${domain.id as string}`;
    await step(
      'PATCH /v3/domains/:domain_id',
      'updateDomain',
      200,
      r('PATCH', dpath, { domain: { enabled: false } }),
      domain.id as string,
    );
    const project = (
      await step(
        'POST /v3/projects',
        'createProject',
        201,
        r('POST', '/v3/projects', { project: { name: uniq('p') } }),
      )
    ).project as Json;
    const ppath = `/v3/projects/${project.id as string}`;
    await step(
      'PATCH /v3/projects/:project_id',
      'updateProject',
      200,
      r('PATCH', ppath, { project: { description: 'x' } }),
    );
    const user = (
      await step(
        'POST /v3/users',
        'createUser',
        201,
        r('POST', '/v3/users', { user: { name: uniq('u'), password: 'first-pass' } }),
      )
    ).user as Json;
    const upath = `/v3/users/${user.id as string}`;
    await step(
      'PATCH /v3/users/:user_id',
      'updateUser',
      200,
      r('PATCH', upath, { user: { email: 'a@example.org' } }),
    );
    await step(
      'POST /v3/users/:user_id/password',
      'changePassword',
      204,
      () =>
        s.request('POST', `${upath}/password`, {
          token: null,
          body: { user: { original_password: 'first-pass', password: 'second-pass' } },
        }),
      user.id as string,
    );
    const role = (
      await step('POST /v3/roles', 'createRole', 201, r('POST', '/v3/roles', { role: { name: uniq('r') } }))
    ).role as Json;
    const member = ((await (await s.request('GET', '/v3/roles?name=member')).json()) as { roles: Json[] })
      .roles[0]!;
    await step(
      'PUT /v3/projects/:project_id/users/:user_id/roles/:role_id',
      'grantRole',
      204,
      r('PUT', `${ppath}/users/${user.id as string}/roles/${member.id as string}`),
    );
    await step(
      'DELETE /v3/projects/:project_id/users/:user_id/roles/:role_id',
      'revokeRole',
      204,
      r('DELETE', `${ppath}/users/${user.id as string}/roles/${member.id as string}`),
    );
    await step(
      'PUT /v3/domains/:domain_id/users/:user_id/roles/:role_id',
      'grantRole',
      204,
      r('PUT', `/v3/domains/default/users/${user.id as string}/roles/${role.id as string}`),
    );
    await step(
      'DELETE /v3/domains/:domain_id/users/:user_id/roles/:role_id',
      'revokeRole',
      204,
      r('DELETE', `/v3/domains/default/users/${user.id as string}/roles/${role.id as string}`),
    );
    await step('DELETE /v3/roles/:role_id', 'deleteRole', 204, r('DELETE', `/v3/roles/${role.id as string}`));
    const cred = (
      await step('POST /v3/users/:user_id/application_credentials', 'createApplicationCredential', 201, () =>
        s.request('POST', `/v3/users/${owner.userId}/application_credentials`, {
          token: owner.token,
          body: { application_credential: { name: uniq('ac') } },
        }),
      )
    ).application_credential as Json;
    await step(
      'DELETE /v3/users/:user_id/application_credentials/:application_credential_id',
      'deleteApplicationCredential',
      204,
      () =>
        s.request('DELETE', `/v3/users/${owner.userId}/application_credentials/${cred.id as string}`, {
          token: owner.token,
        }),
      cred.id as string,
    );
    const key = (
      await step(
        'POST /v3.0/OS-CREDENTIAL/credentials',
        'createAccessKey',
        201,
        r('POST', '/v3.0/OS-CREDENTIAL/credentials', { credential: { description: 'audited' } }),
      )
    ).credential as Json;
    const kpath = `/v3.0/OS-CREDENTIAL/credentials/${key.access as string}`;
    await step(
      'PUT /v3.0/OS-CREDENTIAL/credentials/:access_key',
      'updateAccessKey',
      200,
      r('PUT', kpath, { credential: { status: 'inactive' } }),
      key.access as string,
    );
    await step(
      'DELETE /v3.0/OS-CREDENTIAL/credentials/:access_key',
      'deleteAccessKey',
      204,
      r('DELETE', kpath),
      key.access as string,
    );
    const doomed = await s.tokenFor(uniq('audit-doomed'), uniq('audit-doomed'), 'member');
    await step('DELETE /v3/auth/tokens', 'revokeToken', 204, () =>
      s.request('DELETE', '/v3/auth/tokens', {
        token: doomed.token,
        headers: { 'x-subject-token': doomed.token },
      }),
    );
    await step('DELETE /v3/users/:user_id', 'deleteUser', 204, r('DELETE', upath));
    await step('DELETE /v3/projects/:project_id', 'deleteProject', 204, r('DELETE', ppath));

    // organizations
    const org = (
      await step(
        'POST /v1/organizations',
        'createOrganization',
        201,
        r('POST', '/v1/organizations', { organization: { name: 'audited' } }),
      )
    ).organization as Json;
    const opath = `/v1/organizations/${org.id as string}`;
    expect((await events((await s.request('GET', opath)).headers.get('x-request-id')!)).length).toBe(0);
    const ou = (
      await step(
        'POST /v1/organizations/:org_id/organizational-units',
        'createOrganizationalUnit',
        201,
        r('POST', `${opath}/organizational-units`, { organizational_unit: { name: 'ou1' } }),
      )
    ).organizational_unit as Json;
    await step(
      'PUT /v1/organizations/:org_id/accounts/:account_id',
      'addOrganizationAccount',
      200,
      r('PUT', `${opath}/accounts/${domain.id as string}`, { account: { parent_id: ou.id } }),
    );
    await step(
      'DELETE /v1/organizations/:org_id/accounts/:account_id',
      'removeOrganizationAccount',
      204,
      r('DELETE', `${opath}/accounts/${domain.id as string}`),
    );
    await step(
      'DELETE /v1/organizations/:org_id/organizational-units/:ou_id',
      'deleteOrganizationalUnit',
      204,
      r('DELETE', `${opath}/organizational-units/${ou.id as string}`),
    );
    await step(
      'DELETE /v1/organizations/:org_id',
      'deleteOrganization',
      204,
      r('DELETE', opath),
      org.id as string,
    );
    await step('DELETE /v3/domains/:domain_id', 'deleteDomain', 204, r('DELETE', dpath));

    const audited = s.server.app.auditedRoutes
      .filter((rt) => MUTATING_METHODS.includes(rt.method) && typeof rt.audit === 'object')
      .map((rt) => `${rt.method} ${rt.url}`);
    expect(audited.filter((rt) => !covered.has(rt))).toEqual([]);
    expect((await repo.verify()).ok).toBe(true);
    // About 60 requests, several of them scrypt logins: slow on a loaded machine.
  }, 240_000);

  it('records a failed call as a failure event with its error code, and a refused login as none', async () => {
    const reader = await s.tokenFor('audit-readers', 'audit-reader', 'reader');
    const refused = await s.request('POST', '/v2/images', { token: reader.token, body: { name: 'no' } });
    expect(refused.status).toBe(403);
    const [ev] = await events(refused.headers.get('x-request-id')!);
    expect(ev).toMatchObject({
      operation: 'createImage',
      result: 'failure',
      error_code: 'IMG.0026',
      http_status: 403,
      user_id: reader.userId,
      project_id: reader.projectId,
    });
    const missing = await s.request('DELETE', '/v2/images/00000000-0000-4000-8000-000000000000');
    expect(missing.status).toBe(404);
    expect(await events(missing.headers.get('x-request-id')!)).toMatchObject([
      {
        operation: 'deleteImage',
        result: 'failure',
        error_code: 'IMG.0027',
        resource_id: '00000000-0000-4000-8000-000000000000',
      },
    ]);
    const anonymous = await s.request('DELETE', '/v2/images/x', { token: 'forged' });
    expect(anonymous.status).toBe(401);
    expect(await events(anonymous.headers.get('x-request-id')!)).toMatchObject([
      { operation: 'deleteImage', result: 'failure', user_id: null, http_status: 401 },
    ]);
    const badLogin = await fetch(`${s.url}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'admin', domain: { id: 'default' }, password: 'wrong' } },
          },
        },
      }),
    });
    expect(badLogin.status).toBe(401);
    expect(await events(badLogin.headers.get('x-request-id')!)).toEqual([]);
  });

  it('records the change and its event in one transaction: a rolled-back change leaves no success event', async () => {
    const before = (await repo.head()).seq;
    const dup = await s.request('POST', '/v2/images', {
      body: { id: '11111111-1111-4111-8111-111111111111', name: 'first' },
    });
    expect(dup.status).toBe(201);
    const again = await s.request('POST', '/v2/images', {
      body: { id: '11111111-1111-4111-8111-111111111111', name: 'second' },
    });
    expect(again.status).toBe(409);
    expect((await events(again.headers.get('x-request-id')!)).map((e) => e.result)).toEqual(['failure']);
    expect((await repo.head()).seq).toBe(before + 2);
  });

  it('links an asynchronous call and the end of its job by the job id', async () => {
    const audit = await createAuditService(s.server.db, s.config, systemClock);
    const repos = new Repositories(s.server.db.kysely);
    const jobs = new JobService(repos, systemClock);
    const kind = defineJobKind<{ fail: boolean }>('auditTest', { maxAttempts: 1 });
    const requestId = `req-async-${Date.now()}`;
    const req = {
      operation: 'exportImage',
      resourceType: 'image',
      resourceId: 'img-1',
      requestId,
      sourceIp: '192.0.2.7',
      actor: () => ({ projectId: 'p1', domainId: 'default', userId: 'u1' }),
    };
    const enqueue = async (fail: boolean) => {
      const scope = audit.open(req);
      const job = await runInAuditScope(scope, () =>
        repos.transaction((tx) => jobs.enqueue({ projectId: 'p1' }, kind, { fail }, { tx })),
      );
      await audit.finish(req, scope, { httpStatus: 200, errorCode: null });
      return job.id;
    };
    const okJob = await enqueue(false);
    const failJob = await enqueue(true);
    const registry = new JobRegistry().register(kind, async (run) => {
      if (run.payload.fail) throw new Error('boom');
    });
    const worker = new Worker(
      {
        jobs: new JobRepository(s.server.db.kysely),
        registry,
        clock: systemClock,
        onJobEnd: (job, outcome) => audit.jobEnded(job, outcome),
      },
      { pollMs: 20, maxIdleMs: 50 },
    );
    worker.start();
    try {
      for (let i = 0; i < 200; i++) {
        const ended = await s.server.db.kysely
          .selectFrom('audit_events')
          .select('job_id')
          .where('job_id', 'in', [okJob, failJob])
          .execute();
        if (ended.length === 4) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await worker.stop({ graceMs: 1000 });
    }
    const byJob = async (jobId: string) =>
      (
        await s.server.db.kysely
          .selectFrom('audit_events')
          .selectAll()
          .where('job_id', '=', jobId)
          .orderBy('seq')
          .execute()
      ).map((e) => [e.operation, e.result, e.resource_id, e.request_id, e.error_code]);
    expect(await byJob(okJob)).toEqual([
      ['exportImage', 'accepted', 'img-1', requestId, null],
      ['exportImage', 'success', 'img-1', requestId, null],
    ]);
    const failed = await byJob(failJob);
    expect(failed[0]).toEqual(['exportImage', 'accepted', 'img-1', requestId, null]);
    expect(failed[1]!.slice(0, 4)).toEqual(['exportImage', 'failure', 'img-1', requestId]);
    expect(failed[1]![4]).toBeTruthy();
  });

  it('answers the trace query to admins and project members, with filters and paging', async () => {
    const m = await s.tokenFor('audit-query', 'audit-query-member', 'member');
    const r = await s.tokenFor('audit-query', 'audit-query-reader', 'reader');
    const stranger = await s.tokenFor('audit-query-other', 'audit-query-other', 'member');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await s.request('POST', '/v2/images', { token: m.token, body: { name: `q${i}` } });
      ids.push(((await res.json()) as Json).id as string);
    }
    await s.request('DELETE', `/v2/images/${ids[0]}`, { token: m.token });
    const traces = async (query: string, token = m.token, project = m.projectId) => {
      const res = await s.request('GET', `/v1/${project}/traces${query}`, { token });
      return { status: res.status, body: (await res.json()) as { traces: Json[]; meta_data: Json } };
    };
    const all = await traces('');
    expect(all.status).toBe(200);
    expect(all.body.traces.map((t) => [t.trace_name, t.resource_id])).toEqual([
      ['deleteImage', ids[0]],
      ['createImage', ids[2]],
      ['createImage', ids[1]],
      ['createImage', ids[0]],
    ]);
    expect(all.body.traces[0]).toMatchObject({
      service_type: 'IMS',
      resource_type: 'image',
      trace_rating: 'normal',
      user: { id: m.userId },
      project_id: m.projectId,
      source_ip: '127.0.0.1',
    });
    expect((await traces(`?trace_name=deleteImage`)).body.traces).toHaveLength(1);
    expect((await traces(`?resource_id=${ids[1]}`)).body.traces).toHaveLength(1);
    expect((await traces(`?user=${m.userId}`)).body.traces).toHaveLength(4);
    expect((await traces(`?user=nobody`)).body.traces).toHaveLength(0);
    const future = Date.now() + 3600_000;
    expect((await traces(`?from=${future}`)).body.traces).toHaveLength(0);
    expect((await traces(`?to=${future}&from=${Date.now() - 3600_000}`)).body.traces).toHaveLength(4);
    const page1 = await traces('?limit=3');
    expect(page1.body.traces).toHaveLength(3);
    const page2 = await traces(`?limit=3&next=${page1.body.meta_data.marker as string}`);
    expect(page2.body.traces.map((t) => t.resource_id)).toEqual([ids[0]]);
    expect(page2.body.meta_data.marker).toBeNull();
    // admins see any project's trail; a reader and another project's member do not
    expect((await traces('', s.adminToken)).body.traces).toHaveLength(4);
    expect((await traces('', r.token)).status).toBe(403);
    const other = await traces('', stranger.token);
    expect(other.status).toBe(403);
    expect(other.body).toMatchObject({ error: { code: 'IMG.0026' } });
    expect((await traces('?limit=0')).status).toBe(400);
    expect((await traces('?from=yesterday')).status).toBe(400);
    expect((await traces("?trace_name=' OR 1=1 --")).body.traces).toEqual([]);
  });

  describe('tamper evidence', () => {
    const tail = async () => (await repo.head()).seq;

    it('verify passes on the untouched trail, and export writes it to the blob store', async () => {
      expect(await verifyTrail(repo, null)).toMatchObject({ ok: true, problems: [] });
      const store = new FileBlobStore(path.join(s.dataDir, 'images'));
      const done = await exportTrail(repo, store, new Date());
      expect(done.key).toMatch(/^audit\/events-000000000001-\d{12}\.jsonl$/);
      const lines: string[] = [];
      let text = '';
      for await (const chunk of await store.read(done.key!)) text += (chunk as Buffer).toString();
      lines.push(...text.trim().split('\n'));
      expect(lines).toHaveLength(done.to);
      expect(JSON.parse(lines[0]!)).toMatchObject({ seq: 1, prevMac: '' });
      expect((await exportTrail(repo, store, new Date())).key).toBeNull();
    });

    it('detects a changed event', async () => {
      const seq = Math.max(1, (await tail()) - 3);
      const row = await s.server.db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', seq)
        .executeTakeFirstOrThrow();
      await s.server.db.kysely
        .updateTable('audit_events')
        .set({ user_id: 'someone-else' })
        .where('seq', '=', seq)
        .execute();
      expect((await repo.verify()).problems).toEqual([expect.objectContaining({ kind: 'changed', seq })]);
      await s.server.db.kysely
        .updateTable('audit_events')
        .set({ user_id: row.user_id })
        .where('seq', '=', seq)
        .execute();
      expect((await repo.verify()).ok).toBe(true);
    });

    it('detects a removed event', async () => {
      const seq = Math.max(1, (await tail()) - 2);
      const row = await s.server.db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', seq)
        .executeTakeFirstOrThrow();
      await s.server.db.kysely.deleteFrom('audit_events').where('seq', '=', seq).execute();
      expect((await repo.verify()).problems).toEqual([expect.objectContaining({ kind: 'missing', seq })]);
      await s.server.db.kysely.insertInto('audit_events').values(row).execute();
      expect((await repo.verify()).ok).toBe(true);
    });

    it('detects events cut off the end, with the head row or, when that is rewound too, with the exported head', async () => {
      const store = new FileBlobStore(path.join(s.dataDir, 'images'));
      await exportTrail(repo, store, new Date());
      const last = await tail();
      const cut = await s.server.db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '>', last - 2)
        .execute();
      await s.server.db.kysely
        .deleteFrom('audit_events')
        .where('seq', '>', last - 2)
        .execute();
      expect((await repo.verify()).problems).toEqual([expect.objectContaining({ kind: 'truncated' })]);
      // Rewinding the head row to the new last event hides it from the database alone...
      const newLast = await s.server.db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', last - 2)
        .executeTakeFirstOrThrow();
      await s.server.db.kysely
        .updateTable('audit_chain_head')
        .set({ seq: last - 2, mac: newLast.mac })
        .where('id', '=', 1)
        .execute();
      expect((await repo.verify()).ok).toBe(true);
      // ...not from the head exported apart.
      expect((await verifyTrail(repo, store)).problems).toEqual([
        expect.objectContaining({ kind: 'truncated' }),
      ]);
      await s.server.db.kysely.insertInto('audit_events').values(cut).execute();
      const restored = cut.find((e) => Number(e.seq) === last)!;
      await s.server.db.kysely
        .updateTable('audit_chain_head')
        .set({ seq: last, mac: restored.mac })
        .where('id', '=', 1)
        .execute();
      expect((await verifyTrail(repo, store)).ok).toBe(true);
    });

    it('a forged event without the key does not pass', async () => {
      const head = await repo.head();
      const forged = {
        ...(await s.server.db.kysely
          .selectFrom('audit_events')
          .selectAll()
          .where('seq', '=', head.seq)
          .executeTakeFirstOrThrow()),
      };
      const forger = new AuditRepository(s.server.db.kysely, s.server.db.dialect, Buffer.alloc(32, 7));
      const ev = { ...forged, seq: head.seq + 1, id: 'forged', prev_mac: head.mac };
      const mac = forger.mac(head.mac, {
        seq: ev.seq,
        id: ev.id,
        time: ev.time,
        operation: ev.operation,
        resourceType: ev.resource_type,
        resourceId: ev.resource_id,
        resourceName: ev.resource_name,
        projectId: ev.project_id,
        domainId: ev.domain_id,
        userId: ev.user_id,
        sourceIp: ev.source_ip,
        requestId: ev.request_id,
        result: ev.result as 'success',
        httpStatus: ev.http_status,
        errorCode: ev.error_code,
        jobId: ev.job_id,
      });
      await s.server.db.kysely
        .insertInto('audit_events')
        .values({ ...ev, mac })
        .execute();
      await s.server.db.kysely
        .updateTable('audit_chain_head')
        .set({ seq: ev.seq, mac })
        .where('id', '=', 1)
        .execute();
      expect((await repo.verify()).problems).toEqual([
        expect.objectContaining({ kind: 'changed', seq: ev.seq }),
      ]);
      await s.server.db.kysely.deleteFrom('audit_events').where('seq', '=', ev.seq).execute();
      await s.server.db.kysely.updateTable('audit_chain_head').set(head).where('id', '=', 1).execute();
      expect((await repo.verify()).ok).toBe(true);
    });

    it('ims audit verify exits 0 when intact, 1 when tampered with; export writes JSON Lines; 2 on a bad subcommand', async () => {
      const ims = (...args: string[]) => runOnServer(s, ['audit', ...args]);
      const intact = await ims('verify');
      expect(intact, intact.out).toMatchObject({ code: 0 });
      expect(intact.out).toMatch(/intact: \d+ events/);
      expect((await s.request('POST', '/v2/images', { body: { name: 'for the cli' } })).status).toBe(201);
      const seq = (await repo.head()).seq;
      const row = await s.server.db.kysely
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '=', seq)
        .executeTakeFirstOrThrow();
      await s.server.db.kysely
        .updateTable('audit_events')
        .set({ result: 'success', error_code: null, operation: 'innocent' })
        .where('seq', '=', seq)
        .execute();
      const tampered = await ims('verify');
      expect(tampered.code, tampered.out).toBe(1);
      expect(tampered.out).toContain(`TAMPERED (changed) at event ${seq}`);
      await s.server.db.kysely.updateTable('audit_events').set(row).where('seq', '=', seq).execute();
      const exported = await ims('export');
      expect(exported.code, exported.out).toBe(0);
      expect(exported.out).toMatch(/exported events \d+-\d+ to audit\/events-|nothing to export/);
      expect((await ims('frobnicate')).code).toBe(2);
      // Four starts of the CLI from source: slow on a loaded machine.
    }, 300_000);

    it('serialises appends from many connections into one unbroken chain', async () => {
      const audit = await createAuditService(s.server.db, s.config, systemClock);
      const before = (await repo.head()).seq;
      const req = (i: number) => ({
        operation: 'updateImage',
        resourceType: 'image',
        resourceId: `r${i}`,
        requestId: `req-concurrent-${i}`,
        sourceIp: '127.0.0.1',
        actor: () => ({ projectId: null, domainId: null, userId: null }),
      });
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          audit.finish(req(i), audit.open(req(i)), { httpStatus: 204, errorCode: null }),
        ),
      );
      expect((await repo.head()).seq).toBe(before + 40);
      expect((await repo.verify()).ok).toBe(true);
    });
  });
});
