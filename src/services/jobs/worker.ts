import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Clock } from '../../adapters/clock.ts';
import type { JobRepository } from '../../adapters/db/job-repository.ts';
import { ERROR_CATALOGUE } from '../../domain/errors.ts';
import type { Job } from '../../domain/job.ts';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { ActiveRun, type JobEndListener, type JobLogger, type RunContext } from './job-run.ts';
import type { JobRegistry } from './registry.ts';

export type { JobLogger } from './job-run.ts';

/** For tests and tools that do not want worker logs. */
export const silentLogger: JobLogger = { info: () => {}, warn: () => {}, error: () => {} };

export interface WorkerOptions {
  /** The lease owner: unique per Worker instance, since leases are fenced by it. */
  id: string;
  /** Jobs run at the same time. */
  concurrency: number;
  /** Kinds to claim (default: every registered kind). */
  kinds: string[] | null;
  /** How long a claim holds a job without a heartbeat. */
  leaseMs: number;
  heartbeatMs: number;
  /** First wait after an empty claim; it doubles while idle up to maxIdleMs. */
  pollMs: number;
  maxIdleMs: number;
  backoff: BackoffPolicy;
  /** Least time between two progress writes of one run (a handler may report per chunk). */
  progressIntervalMs: number;
  /** After stop() aborts the runs, how long to wait for handlers before releasing their jobs anyway. */
  abortWaitMs: number;
  random: () => number;
}

/** host:pid:random, so that the lease owner in a job row says where it ran. */
export const defaultWorkerId = (): string =>
  `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

export interface WorkerDeps {
  jobs: JobRepository;
  registry: JobRegistry;
  clock: Clock;
  log?: JobLogger;
  onJobEnd?: JobEndListener;
  /** Runs at every sweep (about once a lease): the reaper and the garbage collector. */
  maintenance?: (now: Date) => Promise<void>;
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Claims due jobs of its kinds and runs their handlers, up to `concurrency`
 * at a time, holding each job's lease with a heartbeat. Any number of workers
 * in any number of processes can share one database.
 */
export class Worker {
  readonly id: string;
  private readonly opts: WorkerOptions;
  private readonly log: JobLogger;
  private readonly runContext: RunContext;
  private readonly active = new Map<string, ActiveRun>();
  private loopDone: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;
  private stopping = false;
  // Set by wake() so that a wake-up arriving while the loop is busy is not lost.
  private nudged = false;
  private resume: (() => void) | null = null;
  private nextSweep = 0;

  constructor(
    private readonly deps: WorkerDeps,
    options: Partial<WorkerOptions> = {},
  ) {
    const leaseMs = options.leaseMs ?? 30_000;
    this.opts = {
      id: defaultWorkerId(),
      concurrency: 1,
      kinds: null,
      heartbeatMs: Math.max(1, Math.floor(leaseMs / 3)),
      pollMs: 200,
      maxIdleMs: 2_000,
      backoff: DEFAULT_BACKOFF,
      progressIntervalMs: 1_000,
      abortWaitMs: 5_000,
      random: Math.random,
      ...options,
      leaseMs,
    };
    if (!(this.opts.heartbeatMs < leaseMs)) throw new RangeError('heartbeatMs must be shorter than leaseMs');
    this.id = this.opts.id;
    this.log = deps.log ?? silentLogger;
    const { heartbeatMs, progressIntervalMs, backoff, random } = this.opts;
    const { jobs, clock } = deps;
    this.runContext = {
      jobs,
      clock,
      log: this.log,
      workerId: this.id,
      leaseMs,
      heartbeatMs,
      progressIntervalMs,
      backoff,
      random,
      ...(deps.onJobEnd ? { onJobEnd: deps.onJobEnd } : {}),
    };
  }

  /** Kinds this worker claims. */
  get kinds(): string[] {
    return this.opts.kinds ?? this.deps.registry.kinds();
  }

  /** Jobs running now. */
  get running(): number {
    return this.active.size;
  }

  start(): void {
    if (this.loopDone) throw new Error('worker already started');
    const unknown = this.kinds.filter((k) => !this.deps.registry.get(k));
    if (unknown.length) throw new Error(`no handler registered for job kinds: ${unknown.join(', ')}`);
    this.loopDone = this.loop();
  }

  /** Looks for work now instead of at the end of the idle wait (e.g. after an enqueue in this process). */
  wake(): void {
    this.nudged = true;
    this.resume?.();
  }

  /**
   * Stops claiming, lets running jobs finish for up to graceMs (default: as
   * long as they take), then aborts the rest and gives their jobs back to the
   * queue. Calling it again with graceMs 0 cuts a running stop short.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    const graceMs = options.graceMs ?? Infinity;
    this.stopping = true;
    this.wake();
    if (graceMs <= 0) this.abortRuns();
    this.stopped ??= this.drain(graceMs);
    return this.stopped;
  }

  private async drain(graceMs: number): Promise<void> {
    await this.loopDone;
    if (await this.settled(graceMs)) return;
    this.abortRuns();
    if (await this.settled(this.opts.abortWaitMs)) return;
    // Handlers that ignore their signal: their jobs go back all the same, and
    // whatever those runs write later is refused by the lease check.
    await Promise.all([...this.active.values()].map((run) => run.release()));
  }

  /** Whether every run ended within ms. */
  private async settled(ms: number): Promise<boolean> {
    const all = Promise.allSettled([...this.active.values()].map((run) => run.done));
    if (ms === Infinity) await all;
    else await Promise.race([all, delay(ms)]);
    return this.active.size === 0;
  }

  private abortRuns(): void {
    for (const run of this.active.values()) run.stop();
  }

  private async loop(): Promise<void> {
    let idleMs = this.opts.pollMs;
    while (!this.stopping) {
      if (this.active.size >= this.opts.concurrency) {
        await this.pause(Infinity); // a run ending wakes us
        continue;
      }
      const job = await this.claimNext();
      if (job) {
        idleMs = this.opts.pollMs;
        this.launch(job);
        continue;
      }
      await this.pause(idleMs);
      idleMs = Math.min(idleMs * 2, this.opts.maxIdleMs);
    }
  }

  /** Waits ms or until wake(). */
  private async pause(ms: number): Promise<void> {
    if (this.nudged) {
      this.nudged = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = ms === Infinity ? null : setTimeout(resolve, ms);
      this.resume = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
    });
    this.resume = null;
    this.nudged = false;
  }

  private async claimNext(): Promise<Job | null> {
    const now = this.deps.clock.now();
    try {
      await this.sweep(now);
      return await this.deps.jobs.claim(this.id, this.kinds, this.opts.leaseMs, now);
    } catch (err) {
      // The database may be restarting: the idle back-off spaces the retries.
      this.log.error({ err, worker: this.id }, 'claiming a job failed');
      return null;
    }
  }

  /**
   * Now and then, FAILs jobs whose workers died on every attempt (claim() skips
   * them) and lets their kinds undo what those runs left; then runs the
   * maintenance (the reaper, the garbage collector).
   */
  private async sweep(now: Date): Promise<void> {
    if (now.getTime() < this.nextSweep) return;
    this.nextSweep = now.getTime() + this.opts.leaseMs;
    const abandoned = await this.deps.jobs.failAbandoned(
      {
        code: ERROR_CATALOGUE.Internal.ims,
        reason: 'The job was interrupted on every attempt (its worker stopped responding)',
      },
      now,
    );
    if (abandoned.length)
      this.log.warn(
        { count: abandoned.length, worker: this.id },
        'failed jobs abandoned on their last attempt',
      );
    for (const job of abandoned) {
      try {
        await this.deps.registry.get(job.kind)?.onAbandoned?.(job);
      } catch (err) {
        // The reaper finds what is left (e.g. an image still importing under a FAILed job) on a later sweep.
        this.log.error({ err, job: job.id }, 'undoing an abandoned job failed');
      }
      // The job ended, though no run saw it end: its second audit event says so.
      try {
        await this.deps.onJobEnd?.(job, { ok: false, errorCode: ERROR_CATALOGUE.Internal.ims });
      } catch (err) {
        this.log.error({ err, job: job.id }, 'recording the end of an abandoned job failed');
      }
    }
    if (this.deps.maintenance) {
      try {
        await this.deps.maintenance(now);
      } catch (err) {
        this.log.error({ err, worker: this.id }, 'maintenance failed');
      }
    }
  }

  private launch(job: Job): void {
    const entry = this.deps.registry.get(job.kind);
    // start() checked that every claimed kind has a handler.
    if (!entry) throw new Error(`claimed job ${job.id} of unregistered kind ${job.kind}`);
    const run = new ActiveRun(job, entry, this.runContext);
    this.active.set(job.id, run);
    void run.done
      .catch((err: unknown) => this.log.error({ err, job: job.id }, 'could not record the end of a job'))
      .finally(() => {
        this.active.delete(job.id);
        this.wake();
      });
  }
}
