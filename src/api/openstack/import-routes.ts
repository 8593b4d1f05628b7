import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { DomainError } from '../../domain/errors.ts';
import { expectedFromHeaders } from '../../domain/expected-hash.ts';
import type { ImageImportService } from '../../services/image-import.ts';
import { callerOf, mediaType } from '../context.ts';

const imageParams = {
  type: 'object',
  properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
  required: ['image_id'],
} as const;
const tags = ['images (OpenStack)'];

interface ImageRoute {
  Params: { image_id: string };
}

/** Content-Length as a number, or null when absent; anything else is refused. */
function declaredLength(header: string | undefined): number | null {
  if (header === undefined) return null;
  if (!/^\d{1,16}$/.test(header)) throw new DomainError('BadRequest', 'Invalid Content-Length');
  return Number(header);
}

/** Glance interoperable import: discovery, stage, import, tasks. */
export function registerImportRoutes(app: FastifyInstance, imports: ImageImportService): void {
  app.get(
    '/v2/info/import',
    {
      schema: {
        tags: ['discovery'],
        summary: 'Import methods (and the conversion format, when one is configured)',
      },
    },
    async () => {
      const info = imports.importInfo();
      return {
        'import-methods': { description: 'Import methods available.', type: 'array', value: info.methods },
        ...(info.conversionFormat
          ? {
              conversion_format: {
                description: 'Disk format imported images are converted to.',
                type: 'string',
                value: info.conversionFormat,
              },
            }
          : {}),
      };
    },
  );

  app.get(
    '/v2/info/stores',
    { schema: { tags: ['discovery'], summary: 'The stores images can be imported to' } },
    async () => ({ stores: imports.storesInfo() }),
  );

  app.put<ImageRoute>(
    '/v2/images/:image_id/stage',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Stage image data for a glance-direct import (streamed)',
        params: imageParams,
      },
    },
    async (request, reply) => {
      if (mediaType(request) !== 'application/octet-stream') {
        throw new DomainError('UnsupportedMediaType', 'Image data must be sent as application/octet-stream');
      }
      await imports.stage(
        callerOf(request),
        request.params.image_id,
        request.body as Readable,
        declaredLength(request.headers['content-length']),
        expectedFromHeaders(request.headers),
      );
      return reply.code(204).send();
    },
  );

  app.post<ImageRoute>(
    '/v2/images/:image_id/import',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Import image data: glance-direct, web-download or copy-image',
        params: imageParams,
      },
    },
    async (request, reply) => {
      await imports.startImport(
        callerOf(request),
        request.params.image_id,
        request.body,
        expectedFromHeaders(request.headers),
      );
      return reply.code(202).send();
    },
  );

  app.get<ImageRoute>(
    '/v2/images/:image_id/tasks',
    { schema: { tags, summary: 'Import tasks of an image', params: imageParams } },
    async (request) => ({ tasks: await imports.tasks(callerOf(request), request.params.image_id) }),
  );
}
