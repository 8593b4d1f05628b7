import type { FastifyInstance } from 'fastify';
import type { IdentityService } from '../../services/identity.ts';
import type { OrganizationService } from '../../services/organizations.ts';
import { tokenCaller } from './keystone-admin-routes.ts';

const tags = ['organizations (admin)'];
const ids = (...names: string[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string', maxLength: 128 }])),
  required: names,
});
const audited = (operation: string, resourceType: string, resourceParam?: string) => ({
  auth: 'token' as const,
  audit: { operation, resourceType, ...(resourceParam ? { resourceParam } : {}) },
});

type P = Record<string, string>;

/**
 * Organizations and their units, for sharing images by URN. Administrators
 * only; errors in the IMS shape (`/v1/...`).
 *
 * - `POST /v1/organizations` `{"organization":{"name","management_account_id"?}}`; `GET` lists
 * - `GET|DELETE /v1/organizations/{org_id}`
 * - `POST /v1/organizations/{org_id}/organizational-units` `{"organizational_unit":{"name","parent_id"?}}`; `GET` lists
 * - `DELETE /v1/organizations/{org_id}/organizational-units/{ou_id}` (empty units only)
 * - `PUT /v1/organizations/{org_id}/accounts/{account_id}` `{"account":{"parent_id"?}}` adds or moves; `DELETE` removes; `GET .../accounts` lists
 * - `GET /v1/organizations/members?urn=...`: the accounts an organization URN reaches
 */
export function registerOrganizationRoutes(
  app: FastifyInstance,
  orgs: OrganizationService,
  identity: IdentityService,
): void {
  const caller = (request: Parameters<typeof tokenCaller>[0]) => tokenCaller(request, identity);
  const token = { auth: 'token' as const };

  app.post(
    '/v1/organizations',
    {
      config: audited('createOrganization', 'organization'),
      schema: { tags, summary: 'Create an organization', body: { type: 'object' } },
    },
    async (request, reply) =>
      reply.code(201).send({ organization: await orgs.create(await caller(request), request.body) }),
  );
  app.get(
    '/v1/organizations',
    { config: token, schema: { tags, summary: 'List organizations' } },
    async (request) => ({
      organizations: await orgs.list(await caller(request)),
    }),
  );
  app.get<{ Querystring: { urn?: string } }>(
    '/v1/organizations/members',
    {
      config: token,
      schema: {
        tags,
        summary: 'Accounts in an organization or unit (sub-units included), by URN or id',
        querystring: {
          type: 'object',
          properties: { urn: { type: 'string', maxLength: 400 } },
          required: ['urn'],
        },
      },
    },
    async (request) => {
      const who = await caller(request);
      await orgs.list(who); // the same policy check as reading organizations
      return {
        urn: await orgs.normalize(request.query.urn!),
        account_ids: await orgs.accountsInOrganization(request.query.urn!),
      };
    },
  );
  app.get<{ Params: P }>(
    '/v1/organizations/:org_id',
    { config: token, schema: { tags, summary: 'Show an organization', params: ids('org_id') } },
    async (request) => ({ organization: await orgs.get(await caller(request), request.params.org_id!) }),
  );
  app.delete<{ Params: P }>(
    '/v1/organizations/:org_id',
    {
      config: audited('deleteOrganization', 'organization', 'org_id'),
      schema: { tags, summary: 'Delete an organization', params: ids('org_id') },
    },
    async (request, reply) => {
      await orgs.delete(await caller(request), request.params.org_id!);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: P }>(
    '/v1/organizations/:org_id/organizational-units',
    {
      config: audited('createOrganizationalUnit', 'organizationalUnit'),
      schema: {
        tags,
        summary: 'Create an organizational unit',
        params: ids('org_id'),
        body: { type: 'object' },
      },
    },
    async (request, reply) =>
      reply.code(201).send({
        organizational_unit: await orgs.createUnit(
          await caller(request),
          request.params.org_id!,
          request.body,
        ),
      }),
  );
  app.get<{ Params: P }>(
    '/v1/organizations/:org_id/organizational-units',
    { config: token, schema: { tags, summary: 'List organizational units', params: ids('org_id') } },
    async (request) => ({
      organizational_units: await orgs.listUnits(await caller(request), request.params.org_id!),
    }),
  );
  app.delete<{ Params: P }>(
    '/v1/organizations/:org_id/organizational-units/:ou_id',
    {
      config: audited('deleteOrganizationalUnit', 'organizationalUnit', 'ou_id'),
      schema: { tags, summary: 'Delete an empty organizational unit', params: ids('org_id', 'ou_id') },
    },
    async (request, reply) => {
      await orgs.deleteUnit(await caller(request), request.params.org_id!, request.params.ou_id!);
      return reply.code(204).send();
    },
  );

  app.put<{ Params: P }>(
    '/v1/organizations/:org_id/accounts/:account_id',
    {
      config: audited('addOrganizationAccount', 'organization', 'org_id'),
      schema: { tags, summary: 'Add an account or move it to a unit', params: ids('org_id', 'account_id') },
    },
    async (request) => ({
      account: await orgs.placeAccount(
        await caller(request),
        request.params.org_id!,
        request.params.account_id!,
        request.body,
      ),
    }),
  );
  app.delete<{ Params: P }>(
    '/v1/organizations/:org_id/accounts/:account_id',
    {
      config: audited('removeOrganizationAccount', 'organization', 'org_id'),
      schema: { tags, summary: 'Remove an account', params: ids('org_id', 'account_id') },
    },
    async (request, reply) => {
      await orgs.removeAccount(await caller(request), request.params.org_id!, request.params.account_id!);
      return reply.code(204).send();
    },
  );
  app.get<{ Params: P }>(
    '/v1/organizations/:org_id/accounts',
    { config: token, schema: { tags, summary: 'List member accounts', params: ids('org_id') } },
    async (request) => ({ accounts: await orgs.listAccounts(await caller(request), request.params.org_id!) }),
  );
}
