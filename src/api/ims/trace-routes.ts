import type { FastifyInstance } from 'fastify';
import type { AuditEvent } from '../../domain/audit.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AuditService } from '../../services/audit/audit-service.ts';
import { callerOf } from '../context.ts';

const tags = ['audit (Cloud Trace Service style)'];

/** CTS takes times as UTC milliseconds; ISO 8601 is accepted too. */
function timeParam(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new DomainError('BadRequest', `Invalid ${name}: a time in UTC milliseconds`);
  return new Date(ms).toISOString();
}

function traceView(e: AuditEvent) {
  return {
    trace_id: e.id,
    trace_name: e.operation,
    trace_rating: e.result === 'failure' ? 'warning' : 'normal',
    trace_type: 'ApiCall',
    service_type: 'IMS',
    resource_type: e.resourceType,
    resource_id: e.resourceId,
    resource_name: e.resourceName,
    result: e.result,
    code: e.httpStatus === null ? null : String(e.httpStatus),
    error_code: e.errorCode,
    job_id: e.jobId,
    project_id: e.projectId,
    domain_id: e.domainId,
    user: { id: e.userId, domain: { id: e.domainId } },
    source_ip: e.sourceIp,
    request_id: e.requestId,
    time: Date.parse(e.time),
    record_time: Date.parse(e.time),
    sequence: e.seq,
  };
}

type TraceQuery = Record<string, string | undefined>;

/**
 * `GET /v1/{project_id}/traces`: the project's audit events, newest first, in
 * the shape of Cloud Trace Service's trace list. Filters: `from`, `to`
 * (UTC ms), `trace_name`, `resource_id`, `user` (user id), `job_id`; paging
 * with `limit` (1-1000, default 100) and `next` (from `meta_data.marker`).
 */
export function registerTraceRoutes(app: FastifyInstance, audit: AuditService): void {
  app.get<{ Params: { project_id: string }; Querystring: TraceQuery }>(
    '/v1/:project_id/traces',
    {
      schema: {
        tags,
        summary: "List a project's audit events (administrators and the project's members)",
        params: {
          type: 'object',
          properties: { project_id: { type: 'string' } },
          required: ['project_id'],
        },
        querystring: {
          type: 'object',
          properties: {
            from: { type: 'string' },
            to: { type: 'string' },
            trace_name: { type: 'string', maxLength: 128 },
            resource_id: { type: 'string', maxLength: 256 },
            user: { type: 'string', maxLength: 128 },
            job_id: { type: 'string', maxLength: 64 },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
            next: { type: 'string', pattern: '^[0-9]{1,15}$' },
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (limit < 1 || limit > 1000) throw new DomainError('BadRequest', 'limit must be 1-1000');
      const from = timeParam('from', q.from);
      const to = timeParam('to', q.to);
      const page = await audit.list(callerOf(request), request.params.project_id, {
        limit,
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        ...(q.trace_name !== undefined ? { operation: q.trace_name } : {}),
        ...(q.resource_id !== undefined ? { resourceId: q.resource_id } : {}),
        ...(q.user !== undefined ? { userId: q.user } : {}),
        ...(q.job_id !== undefined ? { jobId: q.job_id } : {}),
        ...(q.next !== undefined ? { marker: q.next } : {}),
      });
      return {
        traces: page.events.map(traceView),
        meta_data: { count: page.events.length, marker: page.next },
      };
    },
  );
}
