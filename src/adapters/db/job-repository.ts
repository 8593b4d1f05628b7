import {
  PostgresAdapter,
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SqlBool,
  type UpdateQueryBuilder,
  type UpdateResult,
} from 'kysely';
import type { Database } from './schema.ts';
import type { Job, JobEntities, JobFailure, JobStatus } from '../../domain/job.ts';

type JobRow = Selectable<Database['jobs']>;
type EB = ExpressionBuilder<Database, 'jobs'>;
type JobUpdate = UpdateQueryBuilder<Database, 'jobs', 'jobs', UpdateResult>;

/** What a project's job list keeps: all given conditions hold. */
export interface JobListFilter {
  status?: JobStatus;
  kind?: string;
  /** The job's `entities.image_id`. */
  imageId?: string;
  /** Only jobs after this one in the list's order (newest first). */
  after?: Pick<Job, 'id' | 'createdAt'>;
}

/** A job to put on the queue. */
export interface NewJob {
  id: string;
  kind: string;
  projectId: string;
  /** Must survive JSON.stringify/parse: it is stored as JSON text. */
  payload: unknown;
  entities?: JobEntities;
  maxAttempts: number;
  /** Not to be claimed before this time (default: now). */
  runAfter?: Date;
}

/**
 * Proof of one claim of a job. Every write a worker makes is conditional on
 * it: `attempts` grows with each claim, so a worker whose lease ended and whose
 * job was taken again (even by itself) can no longer change the row.
 */
export interface Lease {
  jobId: string;
  owner: string;
  attempt: number;
}

/** The lease a claim returned. */
export const leaseOf = (job: Job): Lease => ({
  jobId: job.id,
  owner: job.leaseOwner ?? '',
  attempt: job.attempts,
});

const iso = (d: Date): string => d.toISOString();
const later = (d: Date, ms: number): string => new Date(d.getTime() + ms).toISOString();
const json = (v: unknown): string => JSON.stringify(v ?? null);

function toJob(row: JobRow): Job {
  return {
    id: row.id,
    kind: row.kind,
    projectId: row.project_id,
    status: row.status as JobStatus,
    payload: JSON.parse(row.payload) as unknown,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    entities: JSON.parse(row.entities) as JobEntities,
    progress: row.progress,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    errorCode: row.error_code,
    failReason: row.fail_reason,
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    runAfter: row.run_after,
    createdAt: row.created_at,
    beginTime: row.begin_time,
    endTime: row.end_time,
    updatedAt: row.updated_at,
  };
}

// Word for word the predicates of the partial indexes in 0002-jobs.ts: SQLite
// uses a partial index only when the query repeats its condition.
const CLAIMABLE = sql<SqlBool>`status in ('INIT', 'RUNNING')`;
const RUNNING = sql<SqlBool>`status = 'RUNNING'`;

/** Due jobs of these kinds: INIT past their back-off, or RUNNING with an ended lease. */
function due(eb: EB, kinds: readonly string[], now: string): Expression<SqlBool> {
  return eb.and([
    CLAIMABLE,
    // A RUNNING job was due when it was first claimed, so this holds for both.
    eb('run_after', '<=', now),
    eb('kind', 'in', kinds),
    eb.or([
      eb('status', '=', 'INIT'),
      // A dead worker's job: taken again unless it has had all its attempts
      // (failAbandoned ends those).
      eb.and([eb('lease_expires_at', '<=', now), eb('attempts', '<', eb.ref('max_attempts'))]),
    ]),
  ]);
}

/** The durable job queue: enqueue, claim with a lease, and the lease holder's writes. */
export class JobRepository {
  // PostgreSQL gets SKIP LOCKED so that concurrent claimers pass over each
  // other's rows instead of queueing on the first one. SQLite has one writer
  // at a time, so its single UPDATE statement is already atomic.
  private readonly skipLocked: boolean;

  constructor(private readonly db: Kysely<Database>) {
    this.skipLocked = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  /** Adds a job; given a transaction, the job exists only if that transaction commits. */
  async enqueue(job: NewJob, now: Date): Promise<Job> {
    const row: JobRow = {
      id: job.id,
      kind: job.kind,
      project_id: job.projectId,
      status: 'INIT',
      payload: json(job.payload),
      result: null,
      entities: json(job.entities ?? {}),
      progress: 0,
      attempts: 0,
      max_attempts: job.maxAttempts,
      error_code: null,
      fail_reason: null,
      lease_owner: null,
      lease_expires_at: null,
      run_after: iso(job.runAfter ?? now),
      created_at: iso(now),
      begin_time: null,
      end_time: null,
      updated_at: iso(now),
    };
    await this.db.insertInto('jobs').values(row).execute();
    return toJob(row);
  }

  /**
   * Takes the oldest due job of one of these kinds for `workerId` until
   * now + leaseMs; null when there is none. Each claim adds one to attempts.
   */
  async claim(workerId: string, kinds: readonly string[], leaseMs: number, now: Date): Promise<Job | null> {
    if (kinds.length === 0) return null;
    const at = iso(now);
    let pick = this.db
      .selectFrom('jobs')
      .select('id')
      .where((eb) => due(eb, kinds, at))
      .orderBy('run_after')
      .orderBy('id')
      .limit(1);
    if (this.skipLocked) pick = pick.forUpdate().skipLocked();
    // One statement, so one implicit transaction on either database. The outer
    // WHERE repeats the condition: should two claimers pick the same row
    // anyway, the second finds it no longer due and updates nothing.
    const row = await this.db
      .updateTable('jobs')
      .set((eb) => ({
        status: 'RUNNING',
        lease_owner: workerId,
        lease_expires_at: later(now, leaseMs),
        attempts: eb('attempts', '+', 1),
        begin_time: eb.fn.coalesce('begin_time', eb.val(at)),
        updated_at: at,
      }))
      .where('id', '=', pick)
      .where((eb) => due(eb, kinds, at))
      .returningAll()
      .executeTakeFirst();
    return row ? toJob(row) : null;
  }

  /**
   * Extends an unexpired lease; false when it is lost. A lease that ran out
   * counts as lost even if nobody took the job yet: from then on another
   * worker may, so the holder must stop rather than race it.
   */
  async heartbeat(lease: Lease, leaseMs: number, now: Date): Promise<boolean> {
    const result = await this.held(
      this.db.updateTable('jobs').set({ lease_expires_at: later(now, leaseMs), updated_at: iso(now) }),
      lease,
    )
      .where('lease_expires_at', '>', iso(now))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Records progress (0-100); false when the lease is lost. */
  async reportProgress(lease: Lease, progress: number, now: Date): Promise<boolean> {
    return this.updateHeld(lease, { progress, updated_at: iso(now) });
  }

  /** SUCCESS with the result (and entities, when given); false when the lease is lost. */
  async complete(lease: Lease, result: unknown, entities: JobEntities | null, now: Date): Promise<boolean> {
    const at = iso(now);
    return this.updateHeld(lease, {
      status: 'SUCCESS',
      result: json(result),
      ...(entities ? { entities: json(entities) } : {}),
      progress: 100,
      error_code: null,
      fail_reason: null,
      lease_expires_at: null,
      end_time: at,
      updated_at: at,
    });
  }

  /**
   * Ends a run that failed. A permanent failure, or one on the last attempt,
   * makes the job FAIL; otherwise it waits in INIT until `retryAt`. Returns the
   * status written, or null when the lease is lost.
   */
  async fail(
    lease: Lease,
    failure: JobFailure,
    retryAt: Date,
    now: Date,
    entities: JobEntities | null = null,
  ): Promise<JobStatus | null> {
    const at = iso(now);
    const common = {
      error_code: failure.code,
      fail_reason: failure.reason,
      lease_expires_at: null,
      updated_at: at,
      ...(entities ? { entities: json(entities) } : {}),
    };
    const update = failure.permanent
      ? this.db.updateTable('jobs').set({ ...common, status: 'FAIL', end_time: at })
      : this.db.updateTable('jobs').set((eb) => {
          // Decided in the statement, from the row's own counts.
          const last = () => eb('attempts', '>=', eb.ref('max_attempts'));
          return {
            ...common,
            status: eb.case().when(last()).then('FAIL').else('INIT').end(),
            run_after: eb.case().when(last()).then(eb.ref('run_after')).else(iso(retryAt)).end(),
            end_time: eb.case().when(last()).then(at).else(null).end(),
          };
        });
    const row = await this.held(update, lease).returning('status').executeTakeFirst();
    return row ? (row.status as JobStatus) : null;
  }

  /**
   * Gives the job back untouched (a worker stopping): INIT, due now, and this
   * attempt not counted, since the run neither failed nor crashed.
   */
  async release(lease: Lease, now: Date): Promise<boolean> {
    const at = iso(now);
    return this.updateHeld(lease, {
      status: 'INIT',
      attempts: lease.attempt - 1,
      lease_owner: null,
      lease_expires_at: null,
      run_after: at,
      updated_at: at,
    });
  }

  /**
   * FAILs RUNNING jobs whose lease ended after their last attempt: their
   * workers died every time, and claim() no longer takes them. Returns them, so that their kinds can undo what they started.
   */
  async failAbandoned(failure: Omit<JobFailure, 'permanent'>, now: Date): Promise<Job[]> {
    const at = iso(now);
    const rows = await this.db
      .updateTable('jobs')
      .set({
        status: 'FAIL',
        error_code: failure.code,
        fail_reason: failure.reason,
        lease_expires_at: null,
        end_time: at,
        updated_at: at,
      })
      .where(RUNNING)
      .where('lease_expires_at', '<=', at)
      .where((eb) => eb('attempts', '>=', eb.ref('max_attempts')))
      .returningAll()
      .execute();
    return rows.map(toJob);
  }

  async find(id: string): Promise<Job | null> {
    const row = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toJob(row) : null;
  }

  /**
   * A project's jobs, newest first (created_at, then id), optionally of one
   * status, kind or image, and after `after` (keyset paging, the marker job).
   */
  async listByProject(projectId: string, filter: JobListFilter = {}, limit = 100): Promise<Job[]> {
    let q = this.db.selectFrom('jobs').selectAll().where('project_id', '=', projectId);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.imageId) q = q.where(this.entitiesImageId(), '=', filter.imageId);
    const after = filter.after;
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb('created_at', '<', after.createdAt),
          eb.and([eb('created_at', '=', after.createdAt), eb('id', '<', after.id)]),
        ]),
      );
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toJob);
  }

  /** `entities.image_id` of the stored JSON text, in each database's JSON dialect. */
  private entitiesImageId() {
    return this.skipLocked
      ? sql<string>`(entities::jsonb ->> 'image_id')`
      : sql<string>`json_extract(entities, '$.image_id')`;
  }

  /** How many jobs of a kind a project has waiting or running (per-tenant flow control). */
  async countOpen(projectId: string, kind: string): Promise<number> {
    const row = await this.db
      .selectFrom('jobs')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('project_id', '=', projectId)
      .where('kind', '=', kind)
      .where('status', 'in', ['INIT', 'RUNNING'])
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  private async updateHeld(lease: Lease, values: Partial<JobRow>): Promise<boolean> {
    const result = await this.held(this.db.updateTable('jobs').set(values), lease).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Restricts an update to the row while this lease holds it. */
  private held(query: JobUpdate, lease: Lease): JobUpdate {
    return query
      .where('id', '=', lease.jobId)
      .where(RUNNING)
      .where('lease_owner', '=', lease.owner)
      .where('attempts', '=', lease.attempt);
  }
}
