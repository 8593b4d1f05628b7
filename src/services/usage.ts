import type { UsageRepository } from '../adapters/db/usage-repository.ts';
import type { RequestContext } from '../domain/context.ts';
import type { QuotaService } from './quotas.ts';

/** One of Glance's usage counters; limit -1 is "no limit". */
export interface UsageCounter {
  limit: number;
  usage: number;
}

/** Glance's four counters, sizes in MiB as Glance reports them. */
export interface ProjectUsage {
  image_size_total: UsageCounter;
  image_count_total: UsageCounter;
  image_stage_total: UsageCounter;
  image_count_uploading: UsageCounter;
}

const UNLIMITED = -1;
const MIB = 1024 * 1024;
const mib = (bytes: number) => Math.ceil(bytes / MIB);
const limit = (n: number | null, unit = 1) => (n === null ? UNLIMITED : Math.floor(n / unit));

/**
 * The caller's project's image usage (GET /v2/info/usage), with the limits
 * its quotas set (IMS has none for staging and uploads in progress).
 */
export class UsageService {
  constructor(
    private readonly repo: UsageRepository,
    private readonly quotas: QuotaService,
  ) {}

  async forCaller(ctx: RequestContext): Promise<ProjectUsage> {
    const limits = await this.quotas.limitsOf(ctx);
    const u = await this.repo.forProject(ctx.projectId);
    return {
      image_size_total: { limit: limit(limits.bytes, MIB), usage: mib(u.imageBytes) },
      image_count_total: { limit: limit(limits.images), usage: u.imageCount },
      image_stage_total: { limit: UNLIMITED, usage: mib(u.inProgressBytes) },
      image_count_uploading: { limit: UNLIMITED, usage: u.inProgressCount },
    };
  }
}
