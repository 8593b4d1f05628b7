import type { Kysely } from 'kysely';
import type { Clock } from './clock.ts';
import type { Database } from './db/schema.ts';

/**
 * Counts authentication failures per source (an address) and says when a
 * source must wait. The count lives in the service database, so that every
 * API process of a deployment sees the failures of all the others.
 */
export interface FailureLimiter {
  /** Seconds the source must wait before trying again; 0 when it may try now. */
  retryAfter(source: string): Promise<number>;
  /** Counts one failure of the source. */
  recordFailure(source: string): Promise<void>;
}

/**
 * A fixed window per source: after `failures` failures, the source waits for the
 * window's end. One upsert per failure, atomic on SQLite and PostgreSQL alike, so
 * concurrent failures on several nodes are all counted.
 */
export class DatabaseFailureLimiter implements FailureLimiter {
  private nextPrune = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly limit: { failures: number; windowSeconds: number },
    private readonly clock: Clock,
  ) {}

  async retryAfter(source: string): Promise<number> {
    const row = await this.db
      .selectFrom('auth_failures')
      .select(['window_start', 'failures'])
      .where('source', '=', source)
      .executeTakeFirst();
    if (!row || row.failures < this.limit.failures) return 0;
    const endsAt = Date.parse(row.window_start) + this.windowMs;
    const now = this.clock.now().getTime();
    if (endsAt <= now) return 0;
    return Math.max(1, Math.ceil((endsAt - now) / 1000));
  }

  async recordFailure(source: string): Promise<void> {
    const now = this.clock.now();
    const at = now.toISOString();
    // A window that has ended starts again with this failure.
    const cutoff = new Date(now.getTime() - this.windowMs).toISOString();
    await this.db
      .insertInto('auth_failures')
      .values({ source, window_start: at, failures: 1 })
      .onConflict((oc) =>
        oc.column('source').doUpdateSet((eb) => ({
          failures: eb
            .case()
            .when('auth_failures.window_start', '<=', cutoff)
            .then(1)
            .else(eb('auth_failures.failures', '+', 1))
            .end(),
          window_start: eb
            .case()
            .when('auth_failures.window_start', '<=', cutoff)
            .then(at)
            .else(eb.ref('auth_failures.window_start'))
            .end(),
        })),
      )
      .execute();
    await this.prune(now, cutoff);
  }

  /** Ended windows are forgotten, once a window per process: a flood of sources cannot grow the table for good. */
  private async prune(now: Date, cutoff: string): Promise<void> {
    if (now.getTime() < this.nextPrune) return;
    this.nextPrune = now.getTime() + this.windowMs;
    await this.db.deleteFrom('auth_failures').where('window_start', '<=', cutoff).execute();
  }

  private get windowMs(): number {
    return this.limit.windowSeconds * 1000;
  }
}
