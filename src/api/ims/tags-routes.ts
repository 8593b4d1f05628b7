import type { FastifyInstance, FastifyRequest } from 'fastify';
import { assertProjectInPath, type RequestContext } from '../../domain/context.ts';
import { fail } from '../../domain/errors.ts';
import type { QueryInput } from '../../domain/image-query.ts';
import {
  checkKeyValueTag,
  checkKeyValueTags,
  checkTagSelectors,
  decodeTag,
  parseLegacyTag,
  parseResourceQuery,
} from '../../domain/tag-rules.ts';
import type { TagService } from '../../services/tags.ts';
import { callerOf } from '../context.ts';

const tags = ['tags (IMS)'];
const str = { type: 'string' } as const;
const params = (...names: string[]) =>
  ({
    type: 'object',
    properties: Object.fromEntries(names.map((n) => [n, str])),
    required: names,
  }) as const;

interface ProjectImage {
  Params: { project_id: string; image_id: string };
}

/** The caller of a path that names a project: it must be the caller's (IMG.0030 otherwise). */
function projectCaller(request: FastifyRequest<{ Params: { project_id: string } }>): RequestContext {
  const ctx = callerOf(request);
  assertProjectInPath(ctx, request.params.project_id);
  return ctx;
}

/** The body as an object, IMS style: empty is IMG.0007, anything else not an object IMG.0001. */
function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined) return fail('EmptyBody', 'The request body is empty');
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail('ValidationFailed', 'The request body must be a JSON object');
  return body as Record<string, unknown>;
}

/**
 * The IMS tag APIs of every generation (ims-api.md §1.3), over the one tag
 * store that Glance's simple tags use too (rules: domain/tag-rules.ts).
 */
export function registerImsTagRoutes(app: FastifyInstance, service: TagService): void {
  app.put(
    '/v1/cloudimages/tags',
    {
      // The image is named in the body: the event carries no resource id.
      config: { audit: { operation: 'addTag', resourceType: 'image' } },
      schema: {
        tags,
        summary:
          'Add or update a tag: {image_id, tag: "key.value"} or {image_id, image_tag: {key, value}} (CreateOrUpdateTags)',
      },
    },
    async (request, reply) => {
      const body = objectBody(request.body);
      if (typeof body.image_id !== 'string' || body.image_id === '')
        fail('ValidationFailed', '"image_id" must be an image id');
      if ((body.tag === undefined) === (body.image_tag === undefined))
        fail('InvalidTag', 'Give exactly one of "tag" ("key.value") and "image_tag" ({key, value})');
      const tag = body.tag !== undefined ? parseLegacyTag(body.tag) : checkKeyValueTag(body.image_tag);
      await service.set(callerOf(request), body.image_id as string, [tag]);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/cloudimages/tags',
    { schema: { tags, summary: 'Distinct tags ("key=value") of the images a query lists (ListTags)' } },
    async (request) => ({ tags: await service.listed(callerOf(request), request.query as QueryInput) }),
  );

  app.post<ProjectImage>(
    '/v2/:project_id/images/:image_id/tags',
    {
      config: { audit: { operation: 'addTag', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Add or update one key/value tag (AddImageTag)',
        params: params('project_id', 'image_id'),
      },
    },
    async (request, reply) => {
      const ctx = projectCaller(request);
      const tag = checkKeyValueTag(objectBody(request.body).tag);
      await service.set(ctx, request.params.image_id, [tag]);
      return reply.code(204).send();
    },
  );

  app.post<ProjectImage>(
    '/v2/:project_id/images/:image_id/tags/action',
    {
      // Adds or deletes, as the body says: a change of the image's tags.
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Add or delete key/value tags in one go (BatchAddOrDeleteTags)',
        params: params('project_id', 'image_id'),
      },
    },
    async (request, reply) => {
      const ctx = projectCaller(request);
      const body = objectBody(request.body);
      if (body.action === 'create')
        await service.set(ctx, request.params.image_id, checkKeyValueTags(body.tags));
      else if (body.action === 'delete')
        await service.remove(ctx, request.params.image_id, checkTagSelectors(body.tags));
      else fail('ValidationFailed', '"action" must be "create" or "delete"');
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { project_id: string; image_id: string; key: string } }>(
    '/v2/:project_id/images/:image_id/tags/:key',
    {
      config: { audit: { operation: 'deleteTag', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Delete the tag with this key; 404 when absent (DeleteImageTag)',
        params: params('project_id', 'image_id', 'key'),
      },
    },
    async (request, reply) => {
      await service.removeKey(projectCaller(request), request.params.image_id, request.params.key);
      return reply.code(204).send();
    },
  );

  app.delete<ProjectImage>(
    '/v1/:project_id/cloudimages/:image_id/tags/delete',
    {
      config: { audit: { operation: 'deleteTag', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Delete tags, ignoring absent ones (BatchDeleteTags)',
        params: params('project_id', 'image_id'),
      },
    },
    async (request, reply) => {
      const ctx = projectCaller(request);
      await service.remove(ctx, request.params.image_id, checkTagSelectors(objectBody(request.body).tags));
      return reply.code(204).send();
    },
  );

  app.get<ProjectImage>(
    '/v2/:project_id/images/:image_id/tags',
    {
      schema: {
        tags,
        summary: "An image's tags as {key, value} (ListImageTags)",
        params: params('project_id', 'image_id'),
      },
    },
    async (request) => ({ tags: await service.ofImage(projectCaller(request), request.params.image_id) }),
  );

  app.get<{ Params: { project_id: string } }>(
    '/v2/:project_id/images/tags',
    {
      schema: {
        tags,
        summary: "Every key on the project's images with its values (ListImagesTags)",
        params: params('project_id'),
      },
    },
    async (request) => ({ tags: await service.ofProject(projectCaller(request)) }),
  );

  app.post<{ Params: { project_id: string } }>(
    '/v2/:project_id/images/resource_instances/action',
    {
      // A query sent as POST: it changes nothing.
      config: { audit: 'none' },
      schema: {
        tags,
        summary: "Filter or count the project's images by tags (ListImageByTags)",
        params: params('project_id'),
      },
    },
    async (request) => {
      const ctx = projectCaller(request);
      const query = parseResourceQuery(objectBody(request.body));
      const found = await service.findResources(ctx, query);
      if (query.action === 'count') return { total_count: found.total };
      return {
        resources: found.resources.map((r) => ({
          resource_id: r.id,
          resource_name: r.name ?? '',
          resource_detail: { status: r.status },
          tags: r.tags.map(decodeTag),
        })),
        total_count: found.total,
      };
    },
  );
}
