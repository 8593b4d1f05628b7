import type { FastifyInstance } from 'fastify';
import { assertProjectInPath } from '../../domain/context.ts';
import { JOB_STATUSES } from '../../domain/job.ts';
import { JOB_LIST_LIMITS, parseJobQuery, type JobQueryInput } from '../../domain/job-query.ts';
import type { JobService } from '../../services/jobs/service.ts';
import { callerOf } from '../context.ts';

const tags = ['jobs (IMS)'];

/** IMS job status: the same job under the project path and under /v1/cloudimages/job. */
export function registerImsJobRoutes(app: FastifyInstance, jobs: JobService): void {
  app.get<{ Params: { project_id: string }; Querystring: JobQueryInput }>(
    '/v1/:project_id/jobs',
    {
      schema: {
        tags,
        summary: "List the project's jobs, newest first (an extension: IMS itself shows jobs one by one)",
        params: {
          type: 'object',
          properties: { project_id: { type: 'string' } },
          required: ['project_id'],
        },
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...JOB_STATUSES], description: 'only jobs in this status' },
            job_type: { type: 'string', description: 'only jobs of this type, e.g. imsImportImageJob' },
            image_id: { type: 'string', description: 'only jobs whose entities.image_id is this image' },
            limit: {
              type: 'string',
              description: `page size, default ${JOB_LIST_LIMITS.default}, at most ${JOB_LIST_LIMITS.max}`,
            },
            marker: { type: 'string', description: 'job_id of the last job of the previous page' },
          },
        },
      },
    },
    async (request) => {
      const ctx = callerOf(request);
      assertProjectInPath(ctx, request.params.project_id);
      return { jobs: await jobs.list(ctx, parseJobQuery(request.query)) };
    },
  );

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
