import type { FastifyInstance } from 'fastify';
import { fail } from '../../domain/errors.ts';
import { parseQuotaChange } from '../../domain/quota.ts';
import type { QuotaService } from '../../services/quotas.ts';
import { callerOf } from '../context.ts';

const tags = ['quotas (IMS)'];

/** Image quotas: the IMS read (ShowImageQuota) and an operator's write. */
export function registerImsQuotaRoutes(app: FastifyInstance, quotas: QuotaService): void {
  app.get<{ Querystring: { project_id?: string } }>(
    '/v1/cloudimages/quota',
    {
      schema: {
        tags,
        summary: "The project's image quotas (ShowImageQuota); admins may name another project_id",
        querystring: { type: 'object', properties: { project_id: { type: 'string' } } },
      },
    },
    async (request) => ({
      quotas: { resources: await quotas.show(callerOf(request), request.query.project_id) },
    }),
  );

  app.put(
    '/v1/cloudimages/quota',
    {
      // The project is named in the body: the event carries no resource id.
      config: { audit: { operation: 'updateQuota', resourceType: 'quota' } },
      schema: {
        tags,
        summary:
          'Set a project\'s image quotas (admin only): {"project_id", "quotas": {"image": N, "image_size_total": MiB}}; -1 unlimited, null default',
      },
    },
    async (request) => {
      if (request.body === undefined) fail('EmptyBody', 'The request body is empty');
      const change = parseQuotaChange(request.body);
      return { quotas: { resources: await quotas.set(callerOf(request), change) } };
    },
  );
}
