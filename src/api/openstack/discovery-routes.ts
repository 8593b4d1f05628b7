import type { FastifyInstance } from 'fastify';
import { imageSchema, imagesSchema, memberSchema, membersSchema } from './glance-schemas.ts';
import { fail } from '../../domain/errors.ts';
import { imageVersion, imageVersions } from './versions.ts';

const anonymous = { auth: 'anonymous' as const };

/**
 * Version discovery and the JSON schemas clients fetch before anything else.
 * The public URL is read per request: it may be settled only after listen (port 0).
 */
export function registerDiscoveryRoutes(app: FastifyInstance, publicUrl: () => string): void {
  const schema = { tags: ['discovery'], summary: 'Image API version document' };
  app.get('/', { config: anonymous, schema }, async (_req, reply) =>
    reply.code(300).send(imageVersions(publicUrl())),
  );
  app.get('/versions', { config: anonymous, schema }, async () => imageVersions(publicUrl()));
  app.get('/v2', { config: anonymous, schema }, async () => imageVersions(publicUrl()));
  // IMS's ShowVersion: 300 with that one version (ims-api.md 2.14). Other paths of one segment are not found.
  app.get<{ Params: { version: string } }>(
    '/:version',
    { config: anonymous, schema: { tags: ['discovery'], summary: 'One API version (IMS ShowVersion)' } },
    async (req, reply) => {
      const doc = imageVersion(publicUrl(), req.params.version);
      if (!doc) return fail('NotFound', `Unknown version or path: /${req.params.version.slice(0, 64)}`);
      return reply.code(300).send(doc);
    },
  );

  const tags = ['schemas'];
  app.get('/v2/schemas/image', { schema: { tags, summary: 'Image schema' } }, async () => imageSchema());
  app.get('/v2/schemas/images', { schema: { tags, summary: 'Image list schema' } }, async () =>
    imagesSchema(),
  );
  app.get('/v2/schemas/member', { schema: { tags, summary: 'Image member schema' } }, async () =>
    memberSchema(),
  );
  app.get('/v2/schemas/members', { schema: { tags, summary: 'Image member list schema' } }, async () =>
    membersSchema(),
  );
}
