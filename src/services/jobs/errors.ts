import { DomainError, ERROR_CATALOGUE } from '../../domain/errors.ts';
import type { JobEntities, JobFailure } from '../../domain/job.ts';

/**
 * A handler's failure with the IMS code the job shows (`IMG.xxxx`). Transient
 * failures (a network error, a busy peer) are retried with back-off; permanent
 * ones (bad input, a file that is not an image) fail the job at once.
 */
export class JobError extends Error {
  readonly permanent: boolean;
  /** What the failed job shows under `entities` besides the enqueued ones (a batch's per-image results). */
  readonly entities: JobEntities | null;

  constructor(
    readonly code: string,
    message: string,
    options: { permanent?: boolean; cause?: unknown; entities?: JobEntities } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'JobError';
    this.permanent = options.permanent ?? false;
    this.entities = options.entities ?? null;
  }

  /** Retrying cannot help: the job goes to FAIL now. */
  static permanent(code: string, message: string, cause?: unknown): JobError {
    return new JobError(code, message, { permanent: true, cause });
  }

  /** Worth another attempt after a back-off, while attempts remain. */
  static transient(code: string, message: string, cause?: unknown): JobError {
    return new JobError(code, message, { permanent: false, cause });
  }
}

/** The abort reason when another worker may own the job now. */
export class LeaseLostError extends Error {
  constructor(jobId: string) {
    super(`job ${jobId} lost its lease`);
    this.name = 'LeaseLostError';
  }
}

/** The abort reason when the worker stops and hands the job back. */
export class WorkerStoppingError extends Error {
  constructor() {
    super('the worker is stopping');
    this.name = 'WorkerStoppingError';
  }
}

/** Whether an error is one a user may read as the job's fail_reason. */
export const isExplained = (err: unknown): boolean => err instanceof JobError || err instanceof DomainError;

/**
 * What a job shows for a handler's error. A DomainError is the caller's
 * problem when it is a 4xx, so retrying will not help. Anything else is
 * unexpected: transient, and its message (maybe a path or a driver's text)
 * goes to the log rather than to the tenant.
 */
export function toJobFailure(err: unknown): JobFailure {
  if (err instanceof JobError) return { code: err.code, reason: err.message, permanent: err.permanent };
  if (err instanceof DomainError)
    return { code: err.imsCode, reason: err.message, permanent: err.status < 500 };
  return {
    code: ERROR_CATALOGUE.Internal.ims,
    reason: 'Internal error while running the job',
    permanent: false,
  };
}
