import { randomUUID } from 'node:crypto';
import type { Clock } from '../../adapters/clock.ts';
import { AuditScope } from '../../adapters/audit-scope.ts';
import type { AuditRepository } from '../../adapters/db/audit-repository.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import type { AuditEvent, AuditQuery, NewAuditEvent } from '../../domain/audit.ts';
import type { RequestContext } from '../../domain/context.ts';
import { fail } from '../../domain/errors.ts';
import type { Policy } from '../policy.ts';

/** Who made an audited request, known once it is authenticated. */
export interface AuditActor {
  projectId: string | null;
  domainId: string | null;
  userId: string | null;
}

/** A change no request made (a job made it on someone's behalf): who is recorded as its actor, and what it did. */
export interface AutomaticChange {
  operation: string;
  resourceType: string;
  resourceId: string;
  resourceName: string | null;
  projectId: string;
  domainId: string | null;
  /** Not a user: what acted, e.g. a project's sharing policy (domain/sharing.ts policyActor). */
  actor: string;
  jobId: string;
}

/** What the API layer knows about an audited request. */
export interface AuditRequest {
  operation: string;
  resourceType: string;
  resourceId: string | null;
  requestId: string;
  sourceIp: string;
  actor: () => AuditActor;
}

/** How an audited request ended, as the response shows it. */
export interface AuditOutcome {
  httpStatus: number | null;
  errorCode: string | null;
}

export interface AuditPage {
  events: AuditEvent[];
  /** Marker for the next (older) page, when there may be one. */
  next: string | null;
}

const MAX_PAGE = 1000;

/**
 * The audit trail: one event per mutating request, in the transaction of the
 * change when there is one (see AuditScope), and a second event when the job
 * of an asynchronous request ends.
 */
export class AuditService {
  constructor(
    private readonly repo: AuditRepository,
    private readonly clock: Clock,
    private readonly policy: Policy,
  ) {}

  /** Opens the audit scope of a request; the handler then runs inside it. */
  open(req: AuditRequest): AuditScope {
    const scope: AuditScope = new AuditScope(req.operation, req.resourceType, async (trx) => {
      await this.repo.append(this.event(req, scope, { httpStatus: null, errorCode: null }), trx);
    });
    if (req.resourceId) scope.resource(req.resourceId);
    return scope;
  }

  /** Records the request's event if no transaction did: a failure, or a change made outside one. */
  async finish(req: AuditRequest, scope: AuditScope, outcome: AuditOutcome): Promise<void> {
    if (scope.recorded) return;
    scope.recorded = true;
    await this.repo.append(this.event(req, scope, outcome));
  }

  /** The end of an asynchronous call's job: a second event, linked to the first by the job id. */
  async jobEnded(
    job: { id: string; kind: string; projectId: string },
    outcome: { ok: boolean; errorCode: string | null },
  ): Promise<void> {
    // The request's event, the job's first: the job's own automatic events (a policy's accept) follow it.
    const [accepted] = await this.repo.list({ jobId: job.id, limit: 1, oldestFirst: true });
    await this.repo.append({
      id: randomUUID(),
      time: this.clock.now().toISOString(),
      operation: accepted?.operation ?? job.kind,
      resourceType: accepted?.resourceType ?? 'job',
      resourceId: accepted?.resourceId ?? null,
      resourceName: accepted?.resourceName ?? null,
      projectId: accepted?.projectId ?? job.projectId,
      domainId: accepted?.domainId ?? null,
      userId: accepted?.userId ?? null,
      sourceIp: null,
      requestId: accepted?.requestId ?? null,
      result: outcome.ok ? 'success' : 'failure',
      httpStatus: null,
      errorCode: outcome.errorCode,
      jobId: job.id,
    });
  }

  /**
   * Records a change no request made, in the transaction (`tx`, the
   * repositories of a transaction) that makes it: both commit or neither.
   */
  async recordAutomatic(tx: Repositories, change: AutomaticChange): Promise<void> {
    await tx.appendAudit(this.repo, {
      id: randomUUID(),
      time: this.clock.now().toISOString(),
      operation: change.operation,
      resourceType: change.resourceType,
      resourceId: change.resourceId,
      resourceName: change.resourceName,
      projectId: change.projectId,
      domainId: change.domainId,
      userId: change.actor,
      sourceIp: null,
      requestId: null,
      result: 'success',
      httpStatus: null,
      errorCode: null,
      jobId: change.jobId,
    });
  }

  /**
   * Events for administrators (any project) and project owners (their own
   * project), newest first; `marker` is the `next` of the previous page.
   */
  async list(
    ctx: RequestContext,
    projectId: string,
    filters: Omit<AuditQuery, 'projectId' | 'beforeSeq' | 'limit' | 'oldestFirst'> & {
      limit?: number;
      marker?: string;
    },
  ): Promise<AuditPage> {
    this.policy.authorize(ctx, 'ims:traces:list', { projectId });
    const limit = Math.min(filters.limit ?? 100, MAX_PAGE);
    let beforeSeq: number | undefined;
    if (filters.marker !== undefined) {
      beforeSeq = Number(filters.marker);
      if (!Number.isSafeInteger(beforeSeq) || beforeSeq < 1) fail('BadRequest', 'Invalid marker.');
    }
    const { marker: _marker, ...rest } = filters;
    const query: AuditQuery = { ...rest, limit, projectId };
    if (beforeSeq !== undefined) query.beforeSeq = beforeSeq;
    const events = await this.repo.list(query);
    const last = events.at(-1);
    return { events, next: events.length === limit && last ? String(last.seq) : null };
  }

  private event(req: AuditRequest, scope: AuditScope, outcome: AuditOutcome): NewAuditEvent {
    const actor = req.actor();
    const failed = outcome.httpStatus !== null && outcome.httpStatus >= 400;
    return {
      id: randomUUID(),
      time: this.clock.now().toISOString(),
      operation: req.operation,
      resourceType: req.resourceType,
      resourceId: scope.resourceId,
      resourceName: scope.resourceName,
      projectId: actor.projectId,
      domainId: actor.domainId,
      userId: actor.userId,
      sourceIp: req.sourceIp,
      requestId: req.requestId,
      result: failed ? 'failure' : scope.jobId ? 'accepted' : 'success',
      httpStatus: outcome.httpStatus,
      errorCode: failed ? outcome.errorCode : null,
      jobId: scope.jobId,
    };
  }
}
