import type { FastifyInstance } from 'fastify';
import { assertProjectInPath } from '../../domain/context.ts';
import type { JobService } from '../../services/jobs/service.ts';
import { callerOf } from '../context.ts';

const tags = ['jobs (IMS)'];

/** IMS job status: the same job under the project path and under /v1/cloudimages/job. */
export function registerImsJobRoutes(app: FastifyInstance, jobs: JobService): void {
  app.get<{ Params: { project_id: string; job_id: string } }>(
    '/v1/:project_id/jobs/:job_id',
    {
      schema: {
        tags,
        summary: 'Show a job (IMS ShowJob)',
        params: {
          type: 'object',
          properties: { project_id: { type: 'string' }, job_id: { type: 'string' } },
          required: ['project_id', 'job_id'],
        },
      },
    },
    async (request) => {
      const ctx = callerOf(request);
      assertProjectInPath(ctx, request.params.project_id);
      return jobs.get(ctx, request.params.job_id);
    },
  );

  app.get<{ Params: { job_id: string } }>(
    '/v1/cloudimages/job/:job_id',
    {
      schema: {
        tags,
        summary: 'Show a job with its progress (IMS ShowJobProgress)',
        params: { type: 'object', properties: { job_id: { type: 'string' } }, required: ['job_id'] },
      },
    },
    async (request) => {
      const job = await jobs.get(callerOf(request), request.params.job_id);
      // This path shows progress inside entities, as a float percentage.
      return { ...job, entities: { ...job.entities, process_percent: job.progress } };
    },
  );
}
