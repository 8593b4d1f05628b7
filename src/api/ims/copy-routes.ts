import type { FastifyInstance } from 'fastify';
import type { ImageCopyService } from '../../services/image-copy.ts';
import { callerOf } from '../context.ts';

const copyBody = {
  type: 'object',
  properties: {
    name: {
      type: 'string',
      description: 'Name of the copy: 1-128 characters (IMG.0013, IMG.0002, IMG.0003)',
    },
    description: { type: 'string', description: 'At most 1024 characters (IMG.0004)' },
    enterprise_project_id: { type: 'string', description: '"0" (default) or an enterprise project id' },
    cmk_id: {
      type: 'string',
      description: 'Refused with IMG.0095: this deployment has no KMS, so copies are not encrypted',
    },
  },
  required: ['name'],
} as const;

/** IMS's in-region copy (CopyImageInRegion and its safe-mode twin): 200 with the job. */
export function registerImsCopyRoutes(app: FastifyInstance, copies: ImageCopyService): void {
  for (const prefix of ['/v1', '/v2.1']) {
    app.post<{ Params: { image_id: string } }>(
      `${prefix}/cloudimages/:image_id/copy`,
      {
        schema: {
          tags: ['images (IMS)'],
          summary:
            'Copy an image in the region (IMS CopyImageInRegion): a private image of the caller ' +
            'sharing the source data, made by job imsCopyImageInRegionJob',
          params: {
            type: 'object',
            properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
            required: ['image_id'],
          },
          body: copyBody,
        },
        // The schema documents the body; the domain checks it, with IMS's codes.
        validatorCompiler: () => () => true,
        config: { audit: { operation: 'copyImage', resourceType: 'image', resourceParam: 'image_id' } },
      },
      async (request) => {
        const { jobId } = await copies.copyInRegion(callerOf(request), request.params.image_id, request.body);
        return { job_id: jobId };
      },
    );
  }

  app.post<{ Params: { image_id: string } }>(
    '/v1/cloudimages/:image_id/cross_region_copy',
    {
      schema: {
        tags: ['images (IMS)'],
        summary:
          'Copy an image to a peer region (IMS CopyImageCrossRegion): the peer makes it in the ' +
          'named project through its own API, by job imsCopyImageCrossUserJob',
        params: {
          type: 'object',
          properties: { image_id: { type: 'string', description: 'Image id (UUID)' } },
          required: ['image_id'],
        },
        body: {
          type: 'object',
          properties: {
            name: copyBody.properties.name,
            description: copyBody.properties.description,
            region: { type: 'string', description: 'Destination region: a peer in IMS_PEER_REGIONS_FILE' },
            project_name: { type: 'string', description: "Project of the caller's account there" },
            agency_name: { type: 'string', description: 'The trust configured for that region (IMG.0179)' },
            vault_id: { type: 'string', description: 'Ignored: this deployment has no full-ECS images' },
          },
          required: ['name', 'region', 'project_name', 'agency_name'],
        },
      },
      validatorCompiler: () => () => true,
      config: {
        audit: { operation: 'copyImage', resourceType: 'image', resourceParam: 'image_id' },
      },
    },
    async (request) => {
      const { jobId } = await copies.copyCrossRegion(
        callerOf(request),
        request.params.image_id,
        request.body,
      );
      return { job_id: jobId };
    },
  );
}
