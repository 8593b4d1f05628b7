import type { Job, JobEntities, JobStatus } from '../../domain/job.ts';

/** A job as `GET /v1/{project_id}/jobs/{job_id}` shows it (ims-api.md 2.13), plus `progress`. */
export interface ImsJob {
  status: JobStatus;
  entities: JobEntities;
  job_id: string;
  job_type: string;
  /** UTC with milliseconds, e.g. `2024-11-06T06:19:43.195Z`. */
  begin_time: string;
  end_time: string | null;
  error_code: string | null;
  fail_reason: string | null;
  /** 0-100. */
  progress: number;
}

/**
 * Renders a job in the IMS shape. While a job waits in INIT, begin_time is
 * when it was accepted, as IMS shows it, since clients read begin_time on
 * every status. The error is shown only on FAIL: during a retry it is
 * history, not the outcome.
 */
export function toImsJob(job: Job): ImsJob {
  const failed = job.status === 'FAIL';
  return {
    status: job.status,
    entities: job.entities,
    job_id: job.id,
    job_type: job.kind,
    begin_time: job.beginTime ?? job.createdAt,
    end_time: job.endTime,
    error_code: failed ? job.errorCode : null,
    fail_reason: failed ? job.failReason : null,
    progress: job.progress,
  };
}
