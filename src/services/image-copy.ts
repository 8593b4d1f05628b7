/**
 * IMS's in-region copy (CopyImageInRegion). The request is checked here and
 * answered with a job; the copy itself (jobs/copy-handler.ts) is a new image
 * row sharing the source's blob, so it takes the same time whatever the size.
 */
import { randomUUID } from 'node:crypto';
import type { Repositories } from '../adapters/db/repositories.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';
import {
  assertCopyable,
  assertCrossRegionCopyable,
  CROSS_REGION_COPY_CONCURRENCY,
  parseCopyRequest,
  parseCrossRegionCopyRequest,
} from '../domain/image-copy.ts';
import type { PeerRegion } from '../adapters/peer-region/peer-regions.ts';
import type { ImageService } from './images.ts';
import { IMAGE_COPY_CROSS_REGION, IMAGE_COPY_IN_REGION } from './image-copy-kind.ts';
import type { JobService } from './jobs/service.ts';
import type { QuotaService } from './quotas.ts';

export class ImageCopyService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly quotas: QuotaService,
    private readonly jobs: JobService,
    /** This deployment's region and the peers it may copy to (IMS_PEER_REGIONS_FILE). */
    private readonly regions: { own: string; peers: ReadonlyMap<string, PeerRegion> } = {
      own: '',
      peers: new Map(),
    },
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

  /**
   * Accepts a copy of one's own image to a peer region (CopyImageCrossRegion). The request
   * names the trust to use (`agency_name`), which must be the one configured for that region;
   * whether the caller may write in the target project is the peer's to say, in the job.
   */
  async copyCrossRegion(ctx: RequestContext, sourceId: string, body: unknown): Promise<{ jobId: string }> {
    this.images.policy.authorize(ctx, 'ims:images:copy');
    const req = parseCrossRegionCopyRequest(body);
    const invalid = (message: string, imsCode: string): never => {
      throw new DomainError('ValidationFailed', message, { imsCode });
    };
    if (req.region === this.regions.own)
      invalid(`The destination region must differ from this region (${req.region})`, 'IMG.0001');
    const peer = this.regions.peers.get(req.region);
    if (!peer) {
      const known = [...this.regions.peers.keys()].join(', ') || 'none';
      return invalid(`Region ${req.region} is not a peer of this region (peers: ${known})`, 'IMG.0001');
    }
    if (req.agencyName !== peer.agency)
      invalid(`Agency ${req.agencyName} does not grant copies to region ${req.region}`, 'IMG.0179');
    const source = await this.images.get(ctx, sourceId);
    assertCrossRegionCopyable(source, isAdmin(ctx) || source.owner === ctx.projectId);
    const domain = await this.db.identity.domainById(ctx.accountId);
    const user = await this.db.identity.userById(ctx.userId);
    if (!domain || !user) return invalid('The caller is not a user of this region', 'IMG.0030');
    const open = await this.db.jobs.countOpen(ctx.projectId, IMAGE_COPY_CROSS_REGION.name);
    if (open >= CROSS_REGION_COPY_CONCURRENCY)
      invalid(
        `At most ${CROSS_REGION_COPY_CONCURRENCY} cross-region copies may run at once per project; wait for one to end`,
        'IMG.0060',
      );
    const job = await this.jobs.enqueue(
      ctx,
      IMAGE_COPY_CROSS_REGION,
      {
        sourceId,
        region: req.region,
        projectName: req.projectName,
        name: req.name,
        description: req.description,
        caller: { domainName: domain.name, userName: user.name },
      },
      { entities: { image_id: sourceId, region: req.region, project_name: req.projectName } },
    );
    return { jobId: job.id };
  }
}
