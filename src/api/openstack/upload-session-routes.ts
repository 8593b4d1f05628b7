import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { DomainError } from '../../domain/errors.ts';
import { expectedFromHeaders } from '../../domain/expected-hash.ts';
import type { UploadSessionService } from '../../services/upload-sessions.ts';
import { callerOf, mediaType } from '../context.ts';
import { glanceImage } from './image-view.ts';

const tags = ['images (OpenStack)'];
const imageParams = {
  type: 'object',
  properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
  required: ['image_id'],
} as const;
const sessionParams = {
  type: 'object',
  properties: {
    image_id: { type: 'string', description: 'Image id (UUID)' },
    session_id: { type: 'string', description: 'Upload session id' },
  },
  required: ['image_id', 'session_id'],
} as const;
const audit = (operation: string) => ({
  audit: { operation, resourceType: 'image', resourceParam: 'image_id' },
});

interface SessionRoute {
  Params: { image_id: string; session_id: string };
}

/**
 * Resumable uploads (an IMS extension beside Glance's PUT /file): create a session
 * with the image's size, PUT chunks with Content-Range (or ?offset=) in any order,
 * GET what arrived, commit. Errors in the Glance dialect.
 */
export function registerUploadSessionRoutes(app: FastifyInstance, sessions: UploadSessionService): void {
  const base = '/v2/images/:image_id/upload-sessions';

  app.post<{ Params: { image_id: string } }>(
    base,
    {
      config: audit('createUploadSession'),
      schema: {
        tags,
        summary: 'Start a resumable upload of a queued image ({"size": bytes})',
        params: imageParams,
        body: { type: 'object' },
      },
    },
    async (request, reply) => {
      const session = await sessions.create(callerOf(request), request.params.image_id, request.body);
      return reply
        .code(201)
        .header('location', `/v2/images/${session.image_id}/upload-sessions/${session.id}`)
        .send(session);
    },
  );

  app.get<{ Params: { image_id: string } }>(
    base,
    {
      schema: {
        tags,
        summary: "The caller's project's open upload sessions of the image",
        params: imageParams,
      },
    },
    async (request) => ({ upload_sessions: await sessions.list(callerOf(request), request.params.image_id) }),
  );

  app.get<SessionRoute>(
    `${base}/:session_id`,
    {
      schema: { tags, summary: 'Show an upload session and the byte ranges it holds', params: sessionParams },
    },
    async (request) => sessions.show(callerOf(request), request.params.image_id, request.params.session_id),
  );

  app.put<SessionRoute & { Querystring: { offset?: string } }>(
    `${base}/:session_id`,
    {
      config: audit('uploadImageChunk'),
      schema: {
        tags,
        summary: 'Send a chunk (application/octet-stream) at Content-Range: bytes a-b/size, or at ?offset=',
        params: sessionParams,
        querystring: { type: 'object', properties: { offset: { type: 'string' } } },
      },
    },
    async (request) => {
      if (mediaType(request) !== 'application/octet-stream') {
        throw new DomainError('UnsupportedMediaType', 'Chunks must be sent as application/octet-stream');
      }
      const h = request.headers;
      return sessions.putChunk(
        callerOf(request),
        request.params.image_id,
        request.params.session_id,
        {
          ...(h['content-range'] !== undefined ? { contentRange: String(h['content-range']) } : {}),
          ...(h['content-length'] !== undefined ? { contentLength: String(h['content-length']) } : {}),
          ...(request.query.offset !== undefined ? { offset: request.query.offset } : {}),
        },
        request.body as Readable,
      );
    },
  );

  app.post<SessionRoute>(
    `${base}/:session_id/commit`,
    {
      config: audit('commitUploadSession'),
      schema: {
        tags,
        summary: 'Assemble the chunks into the image data (inspected and hashed as PUT /file)',
        params: sessionParams,
      },
    },
    async (request) =>
      glanceImage(
        await sessions.commit(
          callerOf(request),
          request.params.image_id,
          request.params.session_id,
          expectedFromHeaders(request.headers),
        ),
      ),
  );

  app.delete<SessionRoute>(
    `${base}/:session_id`,
    {
      config: audit('deleteUploadSession'),
      schema: { tags, summary: 'Abandon an upload session and drop its chunks', params: sessionParams },
    },
    async (request, reply) => {
      await sessions.abandon(callerOf(request), request.params.image_id, request.params.session_id);
      return reply.code(204).send();
    },
  );
}
