/** Job statuses, upper case as the IMS job API shows them. */
export const JOB_STATUSES = ['INIT', 'RUNNING', 'SUCCESS', 'FAIL'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** What the IMS job API shows under `entities` (image_id, image_name, results, ...). */
export type JobEntities = Record<string, unknown>;

/** One job of the durable queue, as stored. Times are ISO 8601 UTC with milliseconds. */
export interface Job {
  id: string;
  /** The job type; for IMS jobs the `job_type` clients see (e.g. `imsImportImageJob`). */
  kind: string;
  projectId: string;
  status: JobStatus;
  payload: unknown;
  result: unknown;
  entities: JobEntities;
  /** 0-100. */
  progress: number;
  /** How many times a worker has taken the job, including the current run. */
  attempts: number;
  maxAttempts: number;
  /** The last error (`IMG.xxxx`) and its message: kept while a retry waits, final on FAIL. */
  errorCode: string | null;
  failReason: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: string | null;
  /** Not claimed before this time: the back-off after a transient failure. */
  runAfter: string;
  createdAt: string;
  /** When a worker first took the job. */
  beginTime: string | null;
  endTime: string | null;
  updatedAt: string;
}

/** Why a run failed, and whether trying again could help. */
export interface JobFailure {
  code: string;
  reason: string;
  permanent: boolean;
}
