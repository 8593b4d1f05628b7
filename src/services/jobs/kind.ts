import type { JobEntities } from '../../domain/job.ts';

/** One run of a job, as its handler sees it. */
export interface JobRun<P> {
  id: string;
  projectId: string;
  payload: P;
  /** 1 on the first run; a handler seeing more than 1 must cope with what an earlier run left. */
  attempt: number;
}

/** Records progress (0-100). Throws once the run has lost its lease or is being stopped. */
export type ReportProgress = (progress: number) => Promise<void>;

/**
 * Does the work of one job kind. It must be idempotent: a run can be repeated
 * after a crash or a lost lease. It should stop soon after `signal` aborts:
 * another worker may own the job by then, and the run's writes are discarded.
 */
export type JobHandler<P, R> = (job: JobRun<P>, report: ReportProgress, signal: AbortSignal) => Promise<R>;

/**
 * A job type with its payload and result types. Services enqueue with it and
 * the worker registers its handler with it, so both sides agree on `P` and `R`.
 */
export interface JobKind<P, R> {
  /** Stored as the job's kind and shown as the IMS `job_type`. */
  readonly name: string;
  readonly maxAttempts: number;
  /** Carries P and R for type inference; never set. */
  readonly types?: { payload: P; result: R };
}

/** Runs per job unless its kind says otherwise: enough to ride out a restart or a short outage. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** Declares a job kind. `P` and `R` must survive a JSON round trip: both are stored as JSON. */
export function defineJobKind<P, R = void>(
  name: string,
  options: { maxAttempts?: number } = {},
): JobKind<P, R> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1)
    throw new RangeError(`job kind ${name}: maxAttempts must be a positive integer`);
  return { name, maxAttempts };
}

/** How a successful run changes what the IMS API shows under `entities` (merged over the enqueued ones). */
export type EntitiesOf<P, R> = (result: R, job: JobRun<P>) => JobEntities;
