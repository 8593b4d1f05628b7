import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller, GrantTarget, Query } from '../../services/identity-admin.ts';
import type { IdentityService, ScopedClaims } from '../../services/identity.ts';
import {
  applicationCredentialView,
  collection,
  domainView,
  projectView,
  roleAssignmentView,
  roleView,
  userView,
} from './keystone-admin-views.ts';

const tags = ['identity (Keystone v3 admin)'];
const token = { auth: 'token' } as const;

const idParams = (...names: string[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
  required: names,
});

type Params = Record<string, string>;

/** The validated token of the request (the auth hook has checked it on `auth: 'token'` routes). */
export async function tokenCaller(request: FastifyRequest, identity: IdentityService): Promise<Caller> {
  if (request.tokenClaims) return request.tokenClaims as ScopedClaims;
  const header = request.headers['x-auth-token'];
  return identity.validate(typeof header === 'string' ? header : undefined);
}

/** Query string values: the first of repeated ones. */
export function queryOf(request: FastifyRequest): Query {
  const out: Query = {};
  for (const [k, v] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string') out[k] = first;
  }
  return out;
}

/**
 * The Keystone v3 admin API: domains, projects, users, roles, role
 * assignments (project and domain grants), `GET /v3/role_assignments`, a
 * user's projects, self-service password change and application credentials.
 */
export function registerKeystoneAdminRoutes(
  app: FastifyInstance,
  identity: IdentityService,
  publicUrlOf: () => string,
): void {
  const admin = identity.admin;
  const creds = identity.applicationCredentials;
  const base = publicUrlOf;
  const selfUrl = (request: FastifyRequest) => `${publicUrlOf()}${request.url}`;
  const caller = (request: FastifyRequest) => tokenCaller(request, identity);

  // ---- domains
  app.get(
    '/v3/domains',
    { config: token, schema: { tags, summary: 'List domains (admin)' } },
    async (request) =>
      collection(
        'domains',
        (await admin.listDomains(await caller(request), queryOf(request))).map((d) => domainView(d, base())),
        selfUrl(request),
      ),
  );
  app.post(
    '/v3/domains',
    {
      config: { ...token, audit: { operation: 'createDomain', resourceType: 'domain' } },
      schema: { tags, summary: 'Create a domain (admin)', body: { type: 'object' } },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send({ domain: domainView(await admin.createDomain(await caller(request), request.body), base()) }),
  );
  const domainParams = idParams('domain_id');
  app.get<{ Params: Params }>(
    '/v3/domains/:domain_id',
    { config: token, schema: { tags, summary: 'Show a domain', params: domainParams } },
    async (request) => ({
      domain: domainView(await admin.getDomain(await caller(request), request.params.domain_id!), base()),
    }),
  );
  app.patch<{ Params: Params }>(
    '/v3/domains/:domain_id',
    {
      config: {
        ...token,
        audit: { operation: 'updateDomain', resourceType: 'domain', resourceParam: 'domain_id' },
      },
      schema: { tags, summary: 'Update a domain (admin)', params: domainParams },
    },
    async (request) => ({
      domain: domainView(
        await admin.updateDomain(await caller(request), request.params.domain_id!, request.body),
        base(),
      ),
    }),
  );
  app.delete<{ Params: Params }>(
    '/v3/domains/:domain_id',
    {
      config: {
        ...token,
        audit: { operation: 'deleteDomain', resourceType: 'domain', resourceParam: 'domain_id' },
      },
      schema: { tags, summary: 'Delete a disabled domain and its contents (admin)', params: domainParams },
    },
    async (request, reply) => {
      await admin.deleteDomain(await caller(request), request.params.domain_id!);
      return reply.code(204).send();
    },
  );

  // ---- projects
  app.get(
    '/v3/projects',
    {
      config: { ...token, signedAccount: true },
      schema: { tags, summary: "List projects (admin; AK/SK-signed: the key owner's)" },
    },
    async (request) =>
      collection(
        'projects',
        (request.signedUserId
          ? await admin.listProjectsOfKeyOwner(request.signedUserId, queryOf(request))
          : await admin.listProjects(await caller(request), queryOf(request))
        ).map((p) => projectView(p, base())),
        selfUrl(request),
      ),
  );
  app.post(
    '/v3/projects',
    {
      config: { ...token, audit: { operation: 'createProject', resourceType: 'project' } },
      schema: { tags, summary: 'Create a project (admin)', body: { type: 'object' } },
    },
    async (request, reply) =>
      reply.code(201).send({
        project: projectView(await admin.createProject(await caller(request), request.body), base()),
      }),
  );
  const projectParams = idParams('project_id');
  app.get<{ Params: Params }>(
    '/v3/projects/:project_id',
    { config: token, schema: { tags, summary: 'Show a project', params: projectParams } },
    async (request) => ({
      project: projectView(await admin.getProject(await caller(request), request.params.project_id!), base()),
    }),
  );
  app.patch<{ Params: Params }>(
    '/v3/projects/:project_id',
    {
      config: {
        ...token,
        audit: { operation: 'updateProject', resourceType: 'project', resourceParam: 'project_id' },
      },
      schema: { tags, summary: 'Update a project (admin)', params: projectParams },
    },
    async (request) => ({
      project: projectView(
        await admin.updateProject(await caller(request), request.params.project_id!, request.body),
        base(),
      ),
    }),
  );
  app.delete<{ Params: Params }>(
    '/v3/projects/:project_id',
    {
      config: {
        ...token,
        audit: { operation: 'deleteProject', resourceType: 'project', resourceParam: 'project_id' },
      },
      schema: { tags, summary: 'Delete a project (admin)', params: projectParams },
    },
    async (request, reply) => {
      await admin.deleteProject(await caller(request), request.params.project_id!);
      return reply.code(204).send();
    },
  );

  // ---- users
  app.get('/v3/users', { config: token, schema: { tags, summary: 'List users (admin)' } }, async (request) =>
    collection(
      'users',
      (await admin.listUsers(await caller(request), queryOf(request))).map((u) => userView(u, base())),
      selfUrl(request),
    ),
  );
  app.post(
    '/v3/users',
    {
      config: { ...token, audit: { operation: 'createUser', resourceType: 'user' } },
      schema: { tags, summary: 'Create a user (admin)', body: { type: 'object' } },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send({ user: userView(await admin.createUser(await caller(request), request.body), base()) }),
  );
  const userParams = idParams('user_id');
  app.get<{ Params: Params }>(
    '/v3/users/:user_id',
    { config: token, schema: { tags, summary: 'Show a user (admin or the user)', params: userParams } },
    async (request) => ({
      user: userView(await admin.getUser(await caller(request), request.params.user_id!), base()),
    }),
  );
  app.patch<{ Params: Params }>(
    '/v3/users/:user_id',
    {
      config: {
        ...token,
        audit: { operation: 'updateUser', resourceType: 'user', resourceParam: 'user_id' },
      },
      schema: { tags, summary: 'Update a user (admin)', params: userParams },
    },
    async (request) => ({
      user: userView(
        await admin.updateUser(await caller(request), request.params.user_id!, request.body),
        base(),
      ),
    }),
  );
  app.delete<{ Params: Params }>(
    '/v3/users/:user_id',
    {
      config: {
        ...token,
        audit: { operation: 'deleteUser', resourceType: 'user', resourceParam: 'user_id' },
      },
      schema: { tags, summary: 'Delete a user (admin)', params: userParams },
    },
    async (request, reply) => {
      await admin.deleteUser(await caller(request), request.params.user_id!);
      return reply.code(204).send();
    },
  );
  app.post<{ Params: Params }>(
    '/v3/users/:user_id/password',
    {
      // As Keystone: no token, the original password is the proof.
      config: {
        auth: 'anonymous',
        audit: { operation: 'changePassword', resourceType: 'user', resourceParam: 'user_id' },
      },
      schema: { tags, summary: 'Change your own password', params: userParams, body: { type: 'object' } },
    },
    async (request, reply) => {
      await admin.changePassword(request.params.user_id!, request.body);
      return reply.code(204).send();
    },
  );
  app.get<{ Params: Params }>(
    '/v3/users/:user_id/projects',
    {
      config: token,
      schema: { tags, summary: 'Projects the user holds a role on (admin or the user)', params: userParams },
    },
    async (request) =>
      collection(
        'projects',
        (await admin.projectsOfUser(await caller(request), request.params.user_id!)).map((p) =>
          projectView(p, base()),
        ),
        selfUrl(request),
      ),
  );

  // ---- roles
  app.get('/v3/roles', { config: token, schema: { tags, summary: 'List roles (admin)' } }, async (request) =>
    collection(
      'roles',
      (await admin.listRoles(await caller(request), queryOf(request))).map((r) => roleView(r, base())),
      selfUrl(request),
    ),
  );
  app.post(
    '/v3/roles',
    {
      config: { ...token, audit: { operation: 'createRole', resourceType: 'role' } },
      schema: { tags, summary: 'Create a role (admin)', body: { type: 'object' } },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send({ role: roleView(await admin.createRole(await caller(request), request.body), base()) }),
  );
  const roleParams = idParams('role_id');
  app.get<{ Params: Params }>(
    '/v3/roles/:role_id',
    { config: token, schema: { tags, summary: 'Show a role (admin)', params: roleParams } },
    async (request) => ({
      role: roleView(await admin.getRole(await caller(request), request.params.role_id!), base()),
    }),
  );
  app.delete<{ Params: Params }>(
    '/v3/roles/:role_id',
    {
      config: {
        ...token,
        audit: { operation: 'deleteRole', resourceType: 'role', resourceParam: 'role_id' },
      },
      schema: { tags, summary: 'Delete a role that is not built in (admin)', params: roleParams },
    },
    async (request, reply) => {
      await admin.deleteRole(await caller(request), request.params.role_id!);
      return reply.code(204).send();
    },
  );

  // ---- grants: /v3/{projects|domains}/{id}/users/{user_id}/roles[/{role_id}]
  for (const scope of ['project', 'domain'] as const) {
    const idName = `${scope}_id`;
    const prefix = `/v3/${scope}s/:${idName}/users/:user_id/roles`;
    const target = (p: Params): GrantTarget => ({ scope, id: p[idName]! });
    const oneParams = idParams(idName, 'user_id', 'role_id');
    app.get<{ Params: Params }>(
      prefix,
      {
        config: token,
        schema: {
          tags,
          summary: `Roles of a user on a ${scope} (admin)`,
          params: idParams(idName, 'user_id'),
        },
      },
      async (request) =>
        collection(
          'roles',
          (
            await admin.listGrants(await caller(request), target(request.params), request.params.user_id!)
          ).map((r) => roleView(r, base())),
          selfUrl(request),
        ),
    );
    app.put<{ Params: Params }>(
      `${prefix}/:role_id`,
      {
        config: {
          ...token,
          audit: { operation: 'grantRole', resourceType: 'user', resourceParam: 'user_id' },
        },
        schema: { tags, summary: `Grant a role on a ${scope} (admin)`, params: oneParams },
      },
      async (request, reply) => {
        const p = request.params;
        await admin.grant(await caller(request), target(p), p.user_id!, p.role_id!);
        return reply.code(204).send();
      },
    );
    // GET answers HEAD too: 204 when the assignment exists, 404 when not.
    app.get<{ Params: Params }>(
      `${prefix}/:role_id`,
      { config: token, schema: { tags, summary: `Check a role on a ${scope} (admin)`, params: oneParams } },
      async (request, reply) => {
        const p = request.params;
        await admin.checkGrant(await caller(request), target(p), p.user_id!, p.role_id!);
        return reply.code(204).send();
      },
    );
    app.delete<{ Params: Params }>(
      `${prefix}/:role_id`,
      {
        config: {
          ...token,
          audit: { operation: 'revokeRole', resourceType: 'user', resourceParam: 'user_id' },
        },
        schema: { tags, summary: `Revoke a role on a ${scope} (admin)`, params: oneParams },
      },
      async (request, reply) => {
        const p = request.params;
        await admin.revokeGrant(await caller(request), target(p), p.user_id!, p.role_id!);
        return reply.code(204).send();
      },
    );
  }

  app.get(
    '/v3/role_assignments',
    {
      config: token,
      schema: {
        tags,
        summary: 'List role assignments (admin); filters user.id, scope.project.id, scope.domain.id, role.id',
      },
    },
    async (request) =>
      collection(
        'role_assignments',
        (await admin.listRoleAssignments(await caller(request), queryOf(request))).map((a) =>
          roleAssignmentView(a, base()),
        ),
        selfUrl(request),
      ),
  );

  // ---- application credentials
  const credParams = idParams('user_id', 'application_credential_id');
  app.post<{ Params: Params }>(
    '/v3/users/:user_id/application_credentials',
    {
      config: {
        ...token,
        audit: { operation: 'createApplicationCredential', resourceType: 'applicationCredential' },
      },
      schema: {
        tags,
        summary: 'Create an application credential (the secret is shown only here)',
        params: userParams,
        body: { type: 'object' },
      },
    },
    async (request, reply) =>
      reply.code(201).send({
        application_credential: applicationCredentialView(
          await creds.create(await caller(request), request.params.user_id!, request.body),
          base(),
        ),
      }),
  );
  app.get<{ Params: Params }>(
    '/v3/users/:user_id/application_credentials',
    { config: token, schema: { tags, summary: "List a user's application credentials", params: userParams } },
    async (request) =>
      collection(
        'application_credentials',
        (await creds.list(await caller(request), request.params.user_id!, queryOf(request).name)).map((c) =>
          applicationCredentialView(c, base()),
        ),
        selfUrl(request),
      ),
  );
  app.get<{ Params: Params }>(
    '/v3/users/:user_id/application_credentials/:application_credential_id',
    { config: token, schema: { tags, summary: 'Show an application credential', params: credParams } },
    async (request) => ({
      application_credential: applicationCredentialView(
        await creds.get(
          await caller(request),
          request.params.user_id!,
          request.params.application_credential_id!,
        ),
        base(),
      ),
    }),
  );
  app.delete<{ Params: Params }>(
    '/v3/users/:user_id/application_credentials/:application_credential_id',
    {
      config: {
        ...token,
        audit: {
          operation: 'deleteApplicationCredential',
          resourceType: 'applicationCredential',
          resourceParam: 'application_credential_id',
        },
      },
      schema: { tags, summary: 'Delete an application credential (its tokens end)', params: credParams },
    },
    async (request, reply) => {
      await creds.delete(
        await caller(request),
        request.params.user_id!,
        request.params.application_credential_id!,
      );
      return reply.code(204).send();
    },
  );
}
