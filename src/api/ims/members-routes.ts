import type { FastifyInstance } from 'fastify';
import { fail } from '../../domain/errors.ts';
import type { SharingPolicy } from '../../domain/sharing.ts';
import type { MemberView, SharingService } from '../../services/sharing.ts';
import { callerOf } from '../context.ts';

const tags = ['image members (IMS)'];
const str = (description: string) => ({ type: 'string', description }) as const;
const strings = (description: string) => ({ type: 'array', items: { type: 'string' }, description }) as const;
const params = (names: Record<string, string>) =>
  ({
    type: 'object',
    properties: Object.fromEntries(Object.entries(names).map(([n, d]) => [n, str(d)])),
    required: Object.keys(names),
  }) as const;

const membersBody = {
  type: 'object',
  properties: {
    images: strings('Image ids (1-100), the caller’s own active private images'),
    projects: strings('Project ids in this region'),
    domains: strings('Account (domain) ids: every project of the account in this region'),
    organizations: strings(
      'Organization or unit URNs (organizations::{account}:organization:o-…, …:root:o-…/r-…, …:ou:o-…/ou-…) or bare o-/r-/ou- ids',
    ),
  },
} as const;
const answerBody = {
  type: 'object',
  properties: {
    images: strings('Image ids (1-100) shared with the project'),
    project_id: str('The recipient project: the caller’s own'),
    status: { type: 'string', enum: ['accepted', 'rejected'] },
    vault_id: str('CBR vault (full-ECS images); accepted and unused here'),
  },
} as const;
const policyBody = {
  type: 'object',
  properties: {
    sharing_policy: {
      type: 'object',
      properties: {
        accept_own_account: {
          type: 'boolean',
          description: 'Accept at once images shared by another project of the same account',
        },
        accept_organizations: strings(
          'Accept at once images whose owner’s account is in one of these organizations or units (URNs or ids)',
        ),
      },
    },
  },
} as const;
const jobAnswer = { 200: { type: 'object', properties: { job_id: { type: 'string' } } } } as const;

/** A member as IMS shows it (ims-api.md §4.2): `urn` only for organizations. */
function imsMember(m: MemberView): Record<string, unknown> {
  return {
    status: m.status,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
    image_id: m.imageId,
    member_id: m.memberId,
    schema: '/v2/schemas/member',
    member_type: m.memberType,
    ...(m.urn ? { urn: m.urn } : {}),
  };
}

const policyView = (p: SharingPolicy) => ({
  sharing_policy: {
    accept_own_account: p.acceptOwnAccount,
    accept_organizations: p.acceptOrganizations,
    updated_at: p.updatedAt,
  },
});

/** `limit` 1..1000 (default 500); `marker` is the opaque base64 token of the last member shown. */
function page(members: MemberView[], query: { limit?: string; marker?: string }) {
  const limit = query.limit === undefined ? 500 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    fail('ValidationFailed', 'limit must be an integer from 1 to 1000');
  let start = 0;
  if (query.marker !== undefined) {
    const after = Buffer.from(query.marker, 'base64').toString('utf8');
    const at = members.findIndex((m) => m.memberId === after);
    if (at < 0) fail('ValidationFailed', 'Invalid marker');
    start = at + 1;
  }
  const shown = members.slice(start, start + limit);
  const last = shown[shown.length - 1];
  const more = start + limit < members.length && last;
  return {
    members: shown.map(imsMember),
    schema: '/v2/schemas/members',
    page_info: {
      ...(more ? { next_marker: Buffer.from(last.memberId, 'utf8').toString('base64') } : {}),
      current_count: shown.length,
    },
  };
}

/**
 * IMS sharing: the batch member jobs, the member views, and what no peer has:
 * the recipient's list of what is shared with it and its auto-accept policy.
 */
export function registerImsMemberRoutes(app: FastifyInstance, sharing: SharingService): void {
  // The bodies are documented by the schemas and checked by the domain, with IMS's codes.
  const noValidation = () => () => true;

  app.post(
    '/v1/cloudimages/members',
    {
      config: { audit: { operation: 'addMember', resourceType: 'image' } },
      validatorCompiler: noValidation,
      schema: {
        tags,
        summary:
          'Share images with projects, accounts and organizations (BatchAddMembers): job imsAddImageMembersJob, per-image results',
        body: membersBody,
        response: jobAnswer,
      },
    },
    async (request) => ({ job_id: (await sharing.add(callerOf(request), request.body)).jobId }),
  );

  app.put(
    '/v1/cloudimages/members',
    {
      config: { audit: { operation: 'updateMember', resourceType: 'image' } },
      validatorCompiler: noValidation,
      schema: {
        tags,
        summary:
          'Accept or reject images shared with the caller’s project (BatchUpdateMembers): job imsUpdateImageMembersJob',
        body: answerBody,
        response: jobAnswer,
      },
    },
    async (request) => ({ job_id: (await sharing.answer(callerOf(request), request.body)).jobId }),
  );

  app.delete(
    '/v1/cloudimages/members',
    {
      config: { audit: { operation: 'deleteMember', resourceType: 'image' } },
      validatorCompiler: noValidation,
      schema: {
        tags,
        summary: 'Stop sharing images (BatchDeleteMembers; the body names them): job imsDelImageMembersJob',
        body: membersBody,
        response: jobAnswer,
      },
    },
    async (request) => ({ job_id: (await sharing.remove(callerOf(request), request.body)).jobId }),
  );

  app.get<{
    Params: { project_id: string; image_id: string };
    Querystring: { limit?: string; marker?: string };
  }>(
    '/v1/:project_id/cloudimages/:image_id/members',
    {
      schema: {
        tags,
        summary: 'Members of an image (ListImageMembers): the owner sees all, a recipient its own entry',
        params: params({ project_id: 'The caller’s project', image_id: 'Image id' }),
        querystring: {
          type: 'object',
          properties: { limit: str('1-1000, default 500'), marker: str('next_marker of the previous page') },
        },
      },
    },
    async (request) => {
      const { project_id, image_id } = request.params;
      return page(await sharing.members(callerOf(request), project_id, image_id), request.query);
    },
  );

  app.get<{ Params: { project_id: string; image_id: string; member_id: string } }>(
    '/v1/:project_id/cloudimages/:image_id/members/:member_id',
    {
      schema: {
        tags,
        summary: 'One member of an image (ShowImageMember)',
        params: params({
          project_id: 'The caller’s project',
          image_id: 'Image id',
          member_id: 'Project id, account id or organization URN',
        }),
      },
    },
    async (request) => {
      const { project_id, image_id, member_id } = request.params;
      return imsMember(await sharing.member(callerOf(request), project_id, image_id, member_id));
    },
  );

  app.get<{ Params: { project_id: string } }>(
    '/v1/:project_id/cloudimages/shared-with-me',
    {
      schema: {
        tags,
        summary:
          'Images shared with the project: owner, how (project, account, organization), who shared, when, and the answer',
        params: params({ project_id: 'The caller’s project' }),
      },
    },
    async (request) => {
      const shares = await sharing.incoming(callerOf(request), request.params.project_id);
      return {
        shares: shares.map((s) => ({
          image_id: s.imageId,
          image_name: s.imageName,
          owner: s.owner,
          owner_account_id: s.ownerAccountId,
          member_type: s.memberType,
          member_id: s.memberId,
          ...(s.urn ? { urn: s.urn } : {}),
          shared_by: s.sharedBy,
          shared_at: s.sharedAt,
          status: s.status,
          answered_by: s.answeredBy,
          answered_at: s.answeredAt,
        })),
      };
    },
  );

  app.get<{ Params: { project_id: string } }>(
    '/v1/:project_id/cloudimages/sharing-policy',
    {
      schema: {
        tags,
        summary: 'The project’s auto-accept rules for images shared with it',
        params: params({ project_id: 'The caller’s project' }),
      },
    },
    async (request) => policyView(await sharing.getPolicy(callerOf(request), request.params.project_id)),
  );

  app.put<{ Params: { project_id: string } }>(
    '/v1/:project_id/cloudimages/sharing-policy',
    {
      config: {
        audit: { operation: 'updateSharingPolicy', resourceType: 'project', resourceParam: 'project_id' },
      },
      validatorCompiler: noValidation,
      schema: {
        tags,
        summary:
          'Set the auto-accept rules: images shared by the own account, or from organizations (applies to new shares)',
        params: params({ project_id: 'The caller’s project' }),
        body: policyBody,
      },
    },
    async (request) =>
      policyView(await sharing.setPolicy(callerOf(request), request.params.project_id, request.body)),
  );
}
