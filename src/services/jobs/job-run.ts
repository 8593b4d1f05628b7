import type { Clock } from '../../adapters/clock.ts';
import { leaseOf, type JobRepository, type Lease } from '../../adapters/db/job-repository.ts';
import type { Job, JobEntities } from '../../domain/job.ts';
import { backoffDelay, type BackoffPolicy } from './backoff.ts';
import { isExplained, JobError, LeaseLostError, toJobFailure, WorkerStoppingError } from './errors.ts';
import type { JobRun } from './kind.ts';
import type { RegisteredKind } from './registry.ts';

/** The few log calls the worker makes; pino (Fastify's `app.log`) fits. */
export interface JobLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What a run needs from its worker. */
export interface RunContext {
  jobs: JobRepository;
  clock: Clock;
  log: JobLogger;
  workerId: string;
  leaseMs: number;
  heartbeatMs: number;
  progressIntervalMs: number;
  backoff: BackoffPolicy;
  random: () => number;
  /** Told when a job has ended for good (SUCCESS, or FAIL with no retry left): the audit trail's second event. */
  onJobEnd?: JobEndListener;
}

export type JobEndListener = (job: Job, outcome: { ok: boolean; errorCode: string | null }) => Promise<void>;

/**
 * One claimed job: runs its handler while a heartbeat holds the lease, then
 * records how it ended. Every write is conditional on the lease, so a run
 * that lost it changes nothing.
 */
export class ActiveRun {
  /** Settles when the run has ended and its end is recorded. */
  readonly done: Promise<void>;
  private readonly lease: Lease;
  private readonly controller = new AbortController();
  private lastProgress: number;
  private lastProgressAt = -Infinity;
  /** A value that came too soon after the last write: written when the interval has passed. */
  private trailing: { value: number; timer: NodeJS.Timeout } | null = null;
  private trailingWrite: Promise<unknown> = Promise.resolve();

  constructor(
    readonly job: Job,
    private readonly entry: RegisteredKind,
    private readonly ctx: RunContext,
  ) {
    this.lease = leaseOf(job);
    this.lastProgress = job.progress;
    this.done = this.execute();
  }

  /** Asks the handler to stop; its job goes back to the queue. */
  stop(): void {
    if (!this.controller.signal.aborted) this.controller.abort(new WorkerStoppingError());
  }

  /** Hands the job back to the queue (INIT, due now, attempt not counted). */
  async release(): Promise<void> {
    if (await this.ctx.jobs.release(this.lease, this.ctx.clock.now()))
      this.ctx.log.info({ job: this.job.id, worker: this.ctx.workerId }, 'job handed back to the queue');
  }

  private async execute(): Promise<void> {
    const { job, entry, ctx } = this;
    const input: JobRun<unknown> = {
      id: job.id,
      projectId: job.projectId,
      payload: job.payload,
      attempt: job.attempts,
    };
    ctx.log.info({ job: job.id, kind: job.kind, attempt: job.attempts, worker: ctx.workerId }, 'job started');
    const stopHeartbeat = this.heartbeat();
    let result: unknown;
    let entities: JobEntities | null;
    try {
      result = await entry.handler(input, (p) => this.progress(p), this.controller.signal);
      entities = entry.entities ? { ...job.entities, ...entry.entities(result, input) } : null;
    } catch (err) {
      stopHeartbeat();
      await this.dropTrailingProgress();
      await this.settleFailure(err);
      return;
    }
    stopHeartbeat();
    await this.dropTrailingProgress();
    // A run that finished although it was aborted still did its work: record
    // it if the lease allows (after a stop it does; after a lost lease it does not).
    if (await ctx.jobs.complete(this.lease, result ?? null, entities, ctx.clock.now())) {
      ctx.log.info({ job: job.id, kind: job.kind }, 'job succeeded');
      await this.ended({ ok: true, errorCode: null });
    } else ctx.log.warn({ job: job.id }, 'job finished after losing its lease; its result is discarded');
  }

  private async settleFailure(err: unknown): Promise<void> {
    const { job, ctx } = this;
    const { signal } = this.controller;
    const reason: unknown = signal.aborted ? signal.reason : null;
    if (reason instanceof LeaseLostError) {
      ctx.log.warn({ job: job.id, worker: ctx.workerId }, 'job abandoned: its lease was lost');
      return;
    }
    if (reason instanceof WorkerStoppingError) return this.release();
    const failure = toJobFailure(err);
    const now = ctx.clock.now();
    const retryAt = new Date(now.getTime() + backoffDelay(job.attempts, ctx.backoff, ctx.random));
    const entities = err instanceof JobError && err.entities ? { ...job.entities, ...err.entities } : null;
    const status = await ctx.jobs.fail(this.lease, failure, retryAt, now, entities);
    const fields = { job: job.id, kind: job.kind, attempt: job.attempts, code: failure.code, status };
    // Unexpected errors are logged whole: the job itself shows only a generic reason.
    if (!isExplained(err)) ctx.log.error({ ...fields, err }, 'job failed with an unexpected error');
    else ctx.log.warn({ ...fields, reason: failure.reason }, 'job failed');
    if (status === 'FAIL') await this.ended({ ok: false, errorCode: failure.code });
  }

  /** Tells the listener the job ended; its failure is logged, never the job's. */
  private async ended(outcome: { ok: boolean; errorCode: string | null }): Promise<void> {
    try {
      await this.ctx.onJobEnd?.(this.job, outcome);
    } catch (err) {
      this.ctx.log.error({ err, job: this.job.id }, 'recording the end of the job failed');
    }
  }

  /** Extends the lease every heartbeatMs; aborts the run once it is lost. Returns the stopper. */
  private heartbeat(): () => void {
    const { job, ctx } = this;
    let timer: NodeJS.Timeout | null = null;
    let stopped = false;
    let expiresAt = Date.parse(job.leaseExpiresAt ?? '') || 0;
    const lost = () => this.controller.abort(new LeaseLostError(job.id));
    const beat = async () => {
      const now = ctx.clock.now();
      try {
        if (!(await ctx.jobs.heartbeat(this.lease, ctx.leaseMs, now))) return lost();
        expiresAt = now.getTime() + ctx.leaseMs;
      } catch (err) {
        ctx.log.warn({ err, job: job.id }, 'heartbeat failed');
        // Unsure whether the lease holds: once it surely ended, another worker may run the job.
        if (ctx.clock.now().getTime() >= expiresAt) return lost();
      }
      if (!stopped) timer = setTimeout(() => void beat(), ctx.heartbeatMs);
    };
    timer = setTimeout(() => void beat(), ctx.heartbeatMs);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  private async progress(value: number): Promise<void> {
    const { signal } = this.controller;
    if (signal.aborted) throw signal.reason;
    const progress = Math.max(0, Math.min(100, Math.round(value)));
    const now = this.ctx.clock.now();
    if (this.trailing) this.trailing.value = progress;
    if (progress === this.lastProgress) return;
    const wait = this.lastProgressAt + this.ctx.progressIntervalMs - now.getTime();
    // Too soon for a write, but not lost: a handler may report its last value long before it ends
    // (a conversion at 100% and then the hashing of its output), and the job would show the one before.
    if (wait > 0) return this.deferProgress(progress, wait);
    await this.writeProgress(progress, now);
  }

  private deferProgress(value: number, wait: number): void {
    if (this.trailing) return;
    const timer = setTimeout(() => {
      const pending = this.trailing;
      this.trailing = null;
      if (!pending || pending.value === this.lastProgress || this.controller.signal.aborted) return;
      this.trailingWrite = this.writeProgress(pending.value, this.ctx.clock.now()).catch(() => {});
    }, wait);
    timer.unref();
    this.trailing = { value, timer };
  }

  /** The run has ended: no progress write may follow (nor race) the write of its end. */
  private async dropTrailingProgress(): Promise<void> {
    if (this.trailing) clearTimeout(this.trailing.timer);
    this.trailing = null;
    await this.trailingWrite;
  }

  private async writeProgress(progress: number, now: Date): Promise<void> {
    const { signal } = this.controller;
    if (this.trailing) clearTimeout(this.trailing.timer);
    this.trailing = null;
    this.lastProgress = progress;
    this.lastProgressAt = now.getTime();
    try {
      if (await this.ctx.jobs.reportProgress(this.lease, progress, now)) return;
    } catch (err) {
      // Progress is informative; a failed write must not fail the job.
      this.ctx.log.warn({ err, job: this.job.id }, 'recording progress failed');
      return;
    }
    if (!signal.aborted) this.controller.abort(new LeaseLostError(this.job.id));
    throw signal.reason;
  }
}
