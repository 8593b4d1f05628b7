import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { leaveAuditScope, runInAuditScope, type AuditScope } from '../adapters/audit-scope.ts';
import type { DomainError } from '../domain/errors.ts';
import type { AuditActor, AuditRequest, AuditService } from '../services/audit/audit-service.ts';

/**
 * What a mutating route declares: the trace name (ims-api.md §8) and the
 * resource type, and the path parameter naming the resource when there is one.
 * `'none'` says, on purpose, that the route changes nothing worth a trace.
 */
export type AuditDeclaration = { operation: string; resourceType: string; resourceParam?: string } | 'none';

/** A route as the audit layer saw it registered. */
export interface RouteAudit {
  method: string;
  url: string;
  audit: AuditDeclaration | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    audit?: AuditDeclaration;
  }
  interface FastifyRequest {
    /** The audit record of an audited request, from onRequest to the response. */
    auditScope: { scope: AuditScope; req: AuditRequest; finished: boolean } | null;
    /** The error sent as the response, for the failure event. */
    errorSent: DomainError | null;
  }
  interface FastifyInstance {
    /** Every route with its audit declaration (the route-coverage test reads it). */
    auditedRoutes: RouteAudit[];
  }
}

export const MUTATING_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE'];

function actorOf(request: FastifyRequest): AuditActor {
  if (request.ctx) {
    return { projectId: request.ctx.projectId, domainId: request.ctx.accountId, userId: request.ctx.userId };
  }
  const claims = request.tokenClaims;
  if (claims) return { projectId: claims.projectId, domainId: claims.domainId, userId: claims.userId };
  return { projectId: null, domainId: null, userId: null };
}

/**
 * Records one audit event per request to a route that declares `config.audit`:
 * the scope opens on request, the handler runs inside it (so the first
 * transaction of the request stores the event with the change), and the
 * response closes it (recording a failure, or a change no transaction carried).
 * Must be registered before the routes.
 */
export function registerAuditHooks(app: FastifyInstance, audit: AuditService): void {
  const routes: RouteAudit[] = [];
  app.decorate('auditedRoutes', routes);
  app.decorateRequest('auditScope', null);
  app.decorateRequest('errorSent', null);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const declared = route.config?.audit;
    for (const method of methods) routes.push({ method, url: route.url, audit: declared });
    if (declared === undefined || declared === 'none') return;
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function (this: FastifyInstance, request, reply) {
      const open = request.auditScope;
      if (!open) return handler.call(this, request, reply);
      return runInAuditScope(open.scope, () => handler.call(this, request, reply));
    } as RouteHandlerMethod;
  });

  // Callback-style hooks: most requests are not audited, and an async hook costs each of them a
  // promise and a turn of the microtask queue.
  app.addHook('onRequest', (request, _reply, done) => {
    const declared = request.routeOptions.config.audit;
    if (declared === undefined || declared === 'none') return done();
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const req: AuditRequest = {
      operation: declared.operation,
      resourceType: declared.resourceType,
      resourceId: declared.resourceParam ? (params[declared.resourceParam] ?? null) : null,
      requestId: request.id,
      // request.ip honours IMS_TRUSTED_PROXIES (Fastify's trustProxy).
      sourceIp: request.ip,
      actor: () => actorOf(request),
    };
    request.auditScope = { scope: audit.open(req), req, finished: false };
    done();
  });

  const finish = async (request: FastifyRequest, httpStatus: number) => {
    const open = request.auditScope;
    if (!open || open.finished) return;
    open.finished = true;
    try {
      await audit.finish(open.req, open.scope, {
        httpStatus,
        errorCode: request.errorSent?.imsCode ?? (httpStatus >= 400 ? String(httpStatus) : null),
      });
    } finally {
      // The event is recorded (or failed to be): what the request still runs cannot add to it.
      leaveAuditScope(open.scope);
    }
  };

  const finishLogged = (request: FastifyRequest, httpStatus: number, done: () => void) => {
    const open = request.auditScope;
    if (!open || open.finished) return done();
    finish(request, httpStatus)
      .catch((err: unknown) => request.log.error({ err }, 'recording the audit event failed'))
      .finally(done);
  };

  // Before the response leaves, so that a client reading the trail next finds the event.
  app.addHook('onSend', (request, reply, payload, done) => {
    finishLogged(request, reply.statusCode, () => done(null, payload));
  });
  // A request whose client went away gets its event too.
  app.addHook('onResponse', (request, reply, done) => {
    finishLogged(request, reply.raw.writableFinished ? reply.statusCode : 499, done);
  });
}
