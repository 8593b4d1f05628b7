import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { DomainError } from '../../domain/errors.ts';
import { parsePatch } from '../../domain/image-rules.ts';
import { parseRangeHeader } from '../../domain/byte-range.ts';
import { expectedFromHeaders } from '../../domain/expected-hash.ts';
import type { QueryInput } from '../../domain/image-query.ts';
import type { ImageService } from '../../services/images.ts';
import type { ImageDataService } from '../../services/image-data.ts';
import { callerOf, mediaType } from '../context.ts';
import { glanceImage, pageLinks } from './image-view.ts';

const PATCH_TYPES = [
  'application/openstack-images-v2.1-json-patch',
  'application/openstack-images-v2.0-json-patch',
];
const imageParams = {
  type: 'object',
  properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
  required: ['image_id'],
} as const;
const tagParams = {
  type: 'object',
  properties: { image_id: { type: 'string' }, tag: { type: 'string' } },
  required: ['image_id', 'tag'],
} as const;
const tags = ['images (OpenStack)'];

interface ImageRoute {
  Params: { image_id: string };
}

/** OpenStack Image API v2: images, their data, actions and tags. */
export function registerImageRoutes(
  app: FastifyInstance,
  images: ImageService,
  data: ImageDataService,
): void {
  app.post(
    '/v2/images',
    {
      config: { audit: { operation: 'createImage', resourceType: 'image' } },
      schema: { tags, summary: 'Create an image (metadata only)', body: { type: 'object' } },
    },
    async (request, reply) => {
      const image = await images.create(callerOf(request), request.body);
      return reply.code(201).header('location', `/v2/images/${image.id}`).send(glanceImage(image));
    },
  );

  app.get(
    '/v2/images',
    { schema: { tags, summary: 'List images visible to the caller' } },
    async (request) => {
      // `/v2/images/` is a show with an empty id in Glance (404), not the list.
      if (request.url.split('?')[0]!.endsWith('/')) {
        throw new DomainError('ImageNotFound', 'No image found with ID ');
      }
      const page = await images.list(callerOf(request), request.query as QueryInput);
      const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
      return {
        images: page.images.map(glanceImage),
        schema: '/v2/schemas/images',
        ...pageLinks(rawQuery, page.nextMarker),
      };
    },
  );

  app.get<ImageRoute>(
    '/v2/images/:image_id',
    { schema: { tags, summary: 'Show an image', params: imageParams } },
    async (request) => glanceImage(await images.show(callerOf(request), request.params.image_id)),
  );

  app.patch<ImageRoute>(
    '/v2/images/:image_id',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: { tags, summary: 'Update an image with a JSON-patch document', params: imageParams },
    },
    async (request) => {
      const type = mediaType(request);
      if (!PATCH_TYPES.includes(type)) {
        throw new DomainError('UnsupportedMediaType', `Content type must be ${PATCH_TYPES[0]}`);
      }
      const dialect = type === PATCH_TYPES[1] ? 'v2.0' : 'v2.1';
      const ops = parsePatch(request.body, dialect);
      const image = await images.update(callerOf(request), request.params.image_id, ops);
      return glanceImage(image);
    },
  );

  app.delete<ImageRoute>(
    '/v2/images/:image_id',
    {
      config: { audit: { operation: 'deleteImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: { tags, summary: 'Delete an image', params: imageParams },
    },
    async (request, reply) => {
      await images.delete(callerOf(request), request.params.image_id);
      return reply.code(204).send();
    },
  );

  app.post<ImageRoute>(
    '/v2/images/:image_id/actions/deactivate',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Deactivate an image (its data can no longer be downloaded)',
        params: imageParams,
      },
    },
    async (request, reply) => {
      await images.deactivate(callerOf(request), request.params.image_id);
      return reply.code(204).send();
    },
  );

  app.post<ImageRoute>(
    '/v2/images/:image_id/actions/reactivate',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: { tags, summary: 'Reactivate a deactivated image', params: imageParams },
    },
    async (request, reply) => {
      await images.reactivate(callerOf(request), request.params.image_id);
      return reply.code(204).send();
    },
  );

  app.put<{ Params: { image_id: string; tag: string } }>(
    '/v2/images/:image_id/tags/:tag',
    {
      config: { audit: { operation: 'addTag', resourceType: 'image', resourceParam: 'image_id' } },
      schema: { tags, summary: 'Add a tag', params: tagParams },
    },
    async (request, reply) => {
      await images.addTag(callerOf(request), request.params.image_id, request.params.tag);
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { image_id: string; tag: string } }>(
    '/v2/images/:image_id/tags/:tag',
    {
      config: { audit: { operation: 'deleteTag', resourceType: 'image', resourceParam: 'image_id' } },
      schema: { tags, summary: 'Remove a tag', params: tagParams },
    },
    async (request, reply) => {
      await images.removeTag(callerOf(request), request.params.image_id, request.params.tag);
      return reply.code(204).send();
    },
  );

  app.put<ImageRoute>(
    '/v2/images/:image_id/file',
    {
      config: { audit: { operation: 'updateImage', resourceType: 'image', resourceParam: 'image_id' } },
      schema: {
        tags,
        summary: 'Upload image data (application/octet-stream, streamed)',
        params: imageParams,
      },
    },
    async (request, reply) => {
      if (mediaType(request) !== 'application/octet-stream') {
        throw new DomainError('UnsupportedMediaType', 'Image data must be sent as application/octet-stream');
      }
      const lengthHeader = request.headers['content-length'];
      const declared = lengthHeader === undefined ? null : Number(lengthHeader);
      await data.upload(
        callerOf(request),
        request.params.image_id,
        request.body as Readable,
        declared,
        expectedFromHeaders(request.headers),
      );
      return reply.code(204).send();
    },
  );

  app.get<ImageRoute>(
    '/v2/images/:image_id/file',
    {
      schema: { tags, summary: 'Download image data (streamed; HTTP Range supported)', params: imageParams },
    },
    async (request, reply) => {
      const result = await data.download(
        callerOf(request),
        request.params.image_id,
        parseRangeHeader(request.headers.range),
      );
      if (result.kind === 'empty') return reply.code(204).send();
      if (result.kind === 'redirect') return reply.redirect(result.url, 302);
      const { image, stream, range, total } = result;
      void reply.header('content-type', 'application/octet-stream').header('accept-ranges', 'bytes');
      if (range) {
        void reply
          .code(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${total}`)
          .header('content-length', range.end - range.start + 1);
      } else {
        void reply.header('content-length', total);
        if (image.checksum) void reply.header('content-md5', image.checksum);
      }
      return reply.send(stream);
    },
  );
}
