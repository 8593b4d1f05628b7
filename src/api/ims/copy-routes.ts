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
}
