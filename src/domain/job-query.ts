import { fail } from './errors.ts';
import { JOB_STATUSES, type JobStatus } from './job.ts';

/** Query strings as Fastify parses them: a key given twice is an array. */
export type JobQueryInput = Record<string, string | string[] | undefined>;

/** A checked `GET /v1/{project_id}/jobs` query. */
export interface JobQuery {
  status: JobStatus | null;
  jobType: string | null;
  /** The job's `entities.image_id`. */
  imageId: string | null;
  limit: number;
  /** The id of the last job of the previous page. */
  marker: string | null;
}

export const JOB_LIST_LIMITS = { default: 100, max: 1000 } as const;
const KNOWN = new Set(['status', 'job_type', 'image_id', 'limit', 'marker']);
// Ids and job types are short tokens; a longer value cannot match anything.
const MAX_TEXT = 255;

const bad = (message: string): never => fail('ValidationFailed', message);

function one(input: JobQueryInput, key: string): string | undefined {
  const v = input[key];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : bad(`Query parameter '${key}' may be given only once`);
  if (v !== undefined && v.length > MAX_TEXT) bad(`Query parameter '${key}' is too long`);
  return v;
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return JOB_LIST_LIMITS.default;
  if (!/^\d+$/.test(text) || Number(text) < 1) bad("Invalid value for 'limit': must be a positive integer");
  // A huge limit is the largest page, as the image lists treat it.
  return Math.min(Number(text), JOB_LIST_LIMITS.max);
}

function parseStatus(text: string | undefined): JobStatus | null {
  if (text === undefined) return null;
  const status = JOB_STATUSES.find((s) => s === text);
  return status ?? bad(`Invalid value for 'status': must be one of ${JOB_STATUSES.join(', ')}`);
}

/** Checks the job list's filters; unknown keys are refused rather than silently ignored. */
export function parseJobQuery(input: JobQueryInput): JobQuery {
  for (const key of Object.keys(input)) if (!KNOWN.has(key)) bad(`Unknown query parameter '${key}'`);
  const nonEmpty = (key: string): string | null => {
    const v = one(input, key);
    if (v === '') bad(`Query parameter '${key}' must not be empty`);
    return v ?? null;
  };
  return {
    status: parseStatus(one(input, 'status')),
    jobType: nonEmpty('job_type'),
    imageId: nonEmpty('image_id'),
    limit: parseLimit(one(input, 'limit')),
    marker: nonEmpty('marker'),
  };
}
