import { randomBytes } from 'node:crypto';
import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import { isAdmin, type RequestContext } from '../../domain/context.ts';
import { fail } from '../../domain/errors.ts';
import type { Job, JobEntities } from '../../domain/job.ts';
import type { JobQuery } from '../../domain/job-query.ts';
import { toImsJob, type ImsJob } from './ims-view.ts';
import { currentAudit } from '../../adapters/audit-scope.ts';
import { Policy } from '../policy.ts';
import type { JobKind } from './kind.ts';

export interface EnqueueOptions {
  /** Enqueue inside the caller's transaction: the job exists only if it commits. */
  tx?: Repositories;
  /** Shown by the IMS job API from the start (e.g. `image_id`, `image_name`). */
  entities?: JobEntities;
  /** Not before this time. */
  runAfter?: Date;
}

/** IMS job ids are 32 hex characters. */
export const newJobId = (): string => randomBytes(16).toString('hex');

/** Queues slow work and shows its state to the project that asked for it. */
export class JobService {
  constructor(
    private readonly repos: Repositories,
    private readonly clock: Clock,
    /** Called after an enqueue outside a transaction, to wake an in-process worker. */
    private readonly onEnqueue: () => void = () => {},
    private readonly policy: Policy = new Policy(),
  ) {}

  /** Queues a job of this kind for the caller's project; its id is the IMS `job_id`. */
  async enqueue<P, R>(
    ctx: Pick<RequestContext, 'projectId'>,
    kind: JobKind<P, R>,
    payload: P,
    options: EnqueueOptions = {},
  ): Promise<Job> {
    const repos = options.tx ?? this.repos;
    const job = await repos.jobs.enqueue(
      {
        id: newJobId(),
        kind: kind.name,
        projectId: ctx.projectId,
        payload,
        maxAttempts: kind.maxAttempts,
        ...(options.entities ? { entities: options.entities } : {}),
        ...(options.runAfter ? { runAfter: options.runAfter } : {}),
      },
      this.clock.now(),
    );
    // The request's audit event says the call was accepted, and names the job whose end is the second event.
    const audit = currentAudit();
    if (audit) audit.jobId = job.id;
    // Inside a transaction the job is not visible yet; the worker's poll finds it.
    if (!options.tx) this.onEnqueue();
    return job;
  }

  /** Starts an in-process worker's poll now: after enqueueing inside a transaction that has committed. */
  wake(): void {
    this.onEnqueue();
  }

  /** A job of the caller's project (any project for admins); others' jobs are not found. */
  async get(ctx: RequestContext, id: string): Promise<ImsJob> {
    this.policy.authorize(ctx, 'ims:jobs:get');
    const job = await this.repos.jobs.find(id);
    if (!job || (!isAdmin(ctx) && job.projectId !== ctx.projectId))
      return fail('NotFound', `Job ${id} not found`);
    return toImsJob(job);
  }

  /**
   * The caller's project's jobs, newest first, filtered and paged. Admins too see only
   * their own project's here: the list is per project, like the path it answers.
   * A marker that is not one of the project's jobs is refused, not ignored.
   */
  async list(ctx: RequestContext, query: JobQuery): Promise<ImsJob[]> {
    this.policy.authorize(ctx, 'ims:jobs:get');
    let after: Job | undefined;
    if (query.marker !== null) {
      const marker = await this.repos.jobs.find(query.marker);
      if (!marker || marker.projectId !== ctx.projectId)
        return fail('MarkerNotFound', `Marker ${query.marker} could not be found`);
      after = marker;
    }
    const jobs = await this.repos.jobs.listByProject(
      ctx.projectId,
      {
        ...(query.status ? { status: query.status } : {}),
        ...(query.jobType ? { kind: query.jobType } : {}),
        ...(query.imageId ? { imageId: query.imageId } : {}),
        ...(after ? { after } : {}),
      },
      query.limit,
    );
    return jobs.map(toImsJob);
  }
}
