/**
 * IMS's in-region copy (CopyImageInRegion). The request is checked here and
 * answered with a job; the copy itself (jobs/copy-handler.ts) is a new image
 * row sharing the source's blob, so it takes the same time whatever the size.
 */
import { randomUUID } from 'node:crypto';
import type { Repositories } from '../adapters/db/repositories.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { assertCopyable, parseCopyRequest } from '../domain/image-copy.ts';
import type { ImageService } from './images.ts';
import { IMAGE_COPY_IN_REGION } from './image-copy-kind.ts';
import type { JobService } from './jobs/service.ts';
import type { QuotaService } from './quotas.ts';

export class ImageCopyService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly quotas: QuotaService,
    private readonly jobs: JobService,
  ) {}

  /** Accepts a copy of an image the caller can see; returns the job that makes it. */
  async copyInRegion(ctx: RequestContext, sourceId: string, body: unknown): Promise<{ jobId: string }> {
    this.images.policy.authorize(ctx, 'ims:images:copy');
    const req = parseCopyRequest(body);
    // Another tenant's image that is not shared with the caller is not found.
    const source = await this.images.get(ctx, sourceId);
    const own = isAdmin(ctx) || source.owner === ctx.projectId;
    const membership = own ? null : await this.images.membershipOf(ctx, sourceId);
    assertCopyable(source, own, membership);
    const payload = {
      sourceId,
      imageId: randomUUID(),
      owner: ctx.projectId,
      name: req.name,
      description: req.description,
      enterpriseProjectId: req.enterpriseProjectId,
    };
    const job = await this.db.transaction(async (tx) => {
      // An early answer while the quota is full; the job admits the image for good, atomically.
      await this.quotas.admitImages(tx, ctx.projectId, 1, source.size ?? 0);
      return this.jobs.enqueue(ctx, IMAGE_COPY_IN_REGION, payload, { tx });
    });
    this.jobs.wake();
    return { jobId: job.id };
  }
}
