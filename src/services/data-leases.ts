import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Clock } from '../adapters/clock.ts';
import type { Kysely } from 'kysely';
import { Repositories } from '../adapters/db/repositories.ts';
import type { Database } from '../adapters/db/schema.ts';
import type { ImageStatus } from '../domain/image-status.ts';

/** A held lease: ends renewing and gives the lease up. */
export interface HeldLease {
  end(): Promise<void>;
}

/**
 * Marks the images this process is receiving bytes for (uploads, stages) in the
 * database, renewed while the bytes flow. Any node's reaper can then tell an
 * upload in progress elsewhere from one whose process died.
 */
export class DataLeases {
  /** host:pid:random, like a job worker's id. */
  readonly owner = `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

  private readonly repos: Repositories;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly leaseMs: number,
  ) {
    this.repos = new Repositories(db);
  }

  /**
   * Moves the image from one of `from` to `to` and takes its lease, in one
   * transaction: the reaper never sees the new status without a lease. Null
   * when the image was not in `from`. Not an audited transaction: the
   * request's audit event belongs with the one that ends the upload.
   */
  async begin(imageId: string, from: readonly ImageStatus[], to: ImageStatus): Promise<HeldLease | null> {
    const taken = await this.db.transaction().execute(async (trx) => {
      const tx = new Repositories(trx);
      const now = this.clock.now();
      if (!(await tx.images.transition(imageId, from, to, now.toISOString()))) return false;
      await tx.dataLeases.acquire(imageId, this.owner, this.expiry(now));
      return true;
    });
    return taken ? this.hold(imageId) : null;
  }

  private hold(imageId: string): HeldLease {
    // A failed renewal is retried at the next beat; the lease is three beats long.
    const timer = setInterval(
      () => {
        void this.repos.dataLeases
          .renew(imageId, this.owner, this.expiry(this.clock.now()))
          .catch(() => undefined);
      },
      Math.max(1, Math.floor(this.leaseMs / 3)),
    );
    timer.unref();
    return {
      end: async () => {
        clearInterval(timer);
        await this.repos.dataLeases.release(imageId, this.owner).catch(() => undefined);
      },
    };
  }

  private expiry(now: Date): string {
    return new Date(now.getTime() + this.leaseMs).toISOString();
  }
}
