import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { RequestContext } from '../domain/context.ts';
import { fail } from '../domain/errors.ts';
import {
  assertRoom,
  bytesLeft,
  effectiveLimits,
  quotaResources,
  type QuotaChange,
  type QuotaLimits,
  type QuotaResource,
  type QuotaUsage,
} from '../domain/quota.ts';
import { Policy } from './policy.ts';

/**
 * Per-project image quotas. The checks run inside the caller's transaction,
 * after taking the project's quota lock, so concurrent creates, copies,
 * imports and uploads of one project, on any number of server processes,
 * are counted one after the other and never overshoot.
 */
export class QuotaService {
  constructor(
    private readonly db: Repositories,
    private readonly clock: Clock,
    private readonly defaults: QuotaLimits,
    // The job handlers only admit (no caller to authorize): they need no policy of their own.
    private readonly policy: Policy = new Policy(),
  ) {}

  /**
   * Admits `count` new images (with `bytes` of data, for copies that arrive
   * with theirs) for the owner. Call it in the transaction that inserts them:
   * every image-making use case (Glance create, IMS create, copy, import) does.
   */
  async admitImages(tx: Repositories, owner: string, count = 1, bytes = 0): Promise<void> {
    await this.check(tx, owner, { images: count, bytes });
  }

  /**
   * Admits `bytes` of data for an image of the owner that has none yet. Call
   * it in the transaction that makes the image active (upload, import).
   */
  async admitBytes(tx: Repositories, owner: string, bytes: number): Promise<void> {
    await this.check(tx, owner, { images: 0, bytes });
  }

  /** Bytes the owner may still store, or null if unlimited: an early answer, not a reservation. */
  async bytesLeft(owner: string): Promise<number | null> {
    const { limits, usage } = await this.state(this.db, owner);
    return bytesLeft(limits, usage);
  }

  /** The quotas of the caller's project; an admin may ask for any project. */
  async show(ctx: RequestContext, projectId?: string): Promise<QuotaResource[]> {
    const target = projectId ?? ctx.projectId;
    this.policy.authorize(ctx, 'ims:quotas:get', { projectId: target });
    if (target !== ctx.projectId && !(await this.db.quotas.projectExists(target)))
      fail('NotFound', `No project found with ID ${target}`);
    const { limits, usage } = await this.state(this.db, target);
    return quotaResources(limits, usage, await this.db.quotas.sharingUsage(target));
  }

  /** An operator sets a project's limits (null: back to the default, -1: unlimited). */
  async set(ctx: RequestContext, change: QuotaChange): Promise<QuotaResource[]> {
    this.policy.authorize(ctx, 'ims:quotas:update', { projectId: change.projectId });
    if (!(await this.db.quotas.projectExists(change.projectId)))
      fail('NotFound', `No project found with ID ${change.projectId}`);
    const { projectId, ...limits } = change;
    await this.db.quotas.set(projectId, limits, this.clock.now().toISOString());
    return this.show(ctx, projectId);
  }

  /** The project's limits in force (its own, else the defaults); null is unlimited. */
  async limitsOf(ctx: RequestContext): Promise<QuotaLimits> {
    this.policy.authorize(ctx, 'ims:quotas:get', { projectId: ctx.projectId });
    return effectiveLimits(await this.db.quotas.find(ctx.projectId), this.defaults);
  }

  private async check(tx: Repositories, owner: string, add: QuotaUsage): Promise<void> {
    await tx.quotas.lock(owner, this.clock.now().toISOString());
    const { limits, usage } = await this.state(tx, owner);
    assertRoom(limits, usage, add);
  }

  private async state(
    repos: Repositories,
    owner: string,
  ): Promise<{ limits: QuotaLimits; usage: QuotaUsage }> {
    // One after the other: inside a transaction both use its one connection.
    const stored = await repos.quotas.find(owner);
    const usage = await repos.quotas.usage(owner);
    return { limits: effectiveLimits(stored, this.defaults), usage };
  }
}
