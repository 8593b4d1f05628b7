import type { FastifyInstance } from 'fastify';
import type { UsageService } from '../../services/usage.ts';
import { callerOf } from '../context.ts';

/** GET /v2/info/usage: the caller's project's image usage, in Glance's shape. */
export function registerUsageRoutes(app: FastifyInstance, usage: UsageService): void {
  app.get(
    '/v2/info/usage',
    { schema: { tags: ['info'], summary: "The project's image usage and limits (-1: no limit)" } },
    async (request) => ({ usage: await usage.forCaller(callerOf(request)) }),
  );
}
