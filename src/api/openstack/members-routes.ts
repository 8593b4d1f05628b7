import type { FastifyInstance } from 'fastify';
import { parseNewMember, parseStatusRequest, type ImageMember } from '../../domain/member-rules.ts';
import type { MemberService } from '../../services/members.ts';
import { callerOf } from '../context.ts';
import { glanceTime } from './image-view.ts';

const tags = ['image members (OpenStack)'];
const imageParams = {
  type: 'object',
  properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
  required: ['image_id'],
} as const;
const memberParams = {
  type: 'object',
  properties: {
    image_id: { type: 'string', description: 'Image id (UUID)' },
    member_id: { type: 'string', description: 'Project id of the member' },
  },
  required: ['image_id', 'member_id'],
} as const;
// Documented but left unconstrained here: the domain rules read the bodies, with
// Glance's messages and without the type coercion of schema validation.
const createBody = { description: 'A JSON object: {"member": "<project id>"}' } as const;
const statusBody = { description: 'A JSON object: {"status": "pending" | "accepted" | "rejected"}' } as const;

interface ImageRoute {
  Params: { image_id: string };
}
interface MemberRoute {
  Params: { image_id: string; member_id: string };
}

/** A member in the Glance v2 shape (schema `/v2/schemas/member`), times to the second. */
export function glanceMember(member: ImageMember): Record<string, unknown> {
  return {
    created_at: glanceTime(member.createdAt),
    image_id: member.imageId,
    member_id: member.memberId,
    schema: '/v2/schemas/member',
    status: member.status,
    updated_at: glanceTime(member.updatedAt),
  };
}

/** OpenStack Image API v2: sharing an image with other projects. */
export function registerMemberRoutes(app: FastifyInstance, members: MemberService): void {
  app.post<ImageRoute>(
    '/v2/images/:image_id/members',
    {
      config: { audit: { operation: 'addMember', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Share a shared image with a project (the owner only); the member starts pending',
        params: imageParams,
        body: createBody,
      },
    },
    async (request) => {
      const memberId = parseNewMember(request.body);
      return glanceMember(await members.add(callerOf(request), request.params.image_id, memberId));
    },
  );

  app.get<ImageRoute>(
    '/v2/images/:image_id/members',
    {
      schema: {
        tags,
        summary: 'List the members of an image (a member sees its own entry only)',
        params: imageParams,
      },
    },
    async (request) => {
      const list = await members.list(callerOf(request), request.params.image_id);
      return { members: list.map(glanceMember), schema: '/v2/schemas/members' };
    },
  );

  app.get<MemberRoute>(
    '/v2/images/:image_id/members/:member_id',
    { schema: { tags, summary: 'Show one member of an image', params: memberParams } },
    async (request) => {
      const { image_id, member_id } = request.params;
      return glanceMember(await members.show(callerOf(request), image_id, member_id));
    },
  );

  app.put<MemberRoute>(
    '/v2/images/:image_id/members/:member_id',
    {
      config: { audit: { operation: 'updateMember', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Accept, reject or reset a shared image (the member itself only)',
        params: memberParams,
        body: statusBody,
      },
    },
    async (request) => {
      const requested = parseStatusRequest(request.body);
      const { image_id, member_id } = request.params;
      return glanceMember(await members.setStatus(callerOf(request), image_id, member_id, requested));
    },
  );

  app.delete<MemberRoute>(
    '/v2/images/:image_id/members/:member_id',
    {
      config: { audit: { operation: 'deleteMember', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Stop sharing an image with a project (the owner only)',
        params: memberParams,
      },
    },
    async (request, reply) => {
      const { image_id, member_id } = request.params;
      await members.remove(callerOf(request), image_id, member_id);
      return reply.code(204).send();
    },
  );
}
