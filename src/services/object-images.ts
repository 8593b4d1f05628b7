/**
 * Images from and to the tenants' object store (IMS_USER_S3_*): create an
 * image from a file (system, ISO, data disk, quick import), register a file
 * into a queued Glance image, export an image to a file. Each request is
 * checked here — body, policy, the project's granted bucket, the object — and
 * answered with a job; the bytes move in jobs/object-file-handlers.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type { AccountBucketGrant, BucketGrant } from '../adapters/db/bucket-grant-repository.ts';
import { jobLeaseOwner } from '../adapters/db/data-lease-repository.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import { UserObjectError, type UserObjectStore } from '../adapters/storage/user-object-store.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import { checkImsProperties } from '../domain/ims-properties.ts';
import {
  assertBucketUsable,
  assertExportable,
  fileImageFields,
  isBucketName,
  parseExportRequest,
  parseFileImageRequest,
  parseRegisterRequest,
  type FileImageRoute,
  type ObjectAddress,
} from '../domain/object-files.ts';
import type { OsVersionCatalogue } from '../domain/os-versions.ts';
import { assertCanModify } from '../domain/visibility.ts';
import type { ImageService } from './images.ts';
import type { JobService } from './jobs/service.ts';
import {
  EXPORT_IMAGE,
  IMPORT_DATA_IMAGE,
  IMPORT_FILE_IMAGE,
  REGISTER_IMAGE,
  type ObjectImportPayload,
} from './object-file-kinds.ts';
import type { QuotaService } from './quotas.ts';

export interface ObjectImageDeps {
  repos: Repositories;
  images: ImageService;
  quotas: QuotaService;
  jobs: JobService;
  clock: Clock;
  osVersions: OsVersionCatalogue;
  /** null: no tenants' object store is configured. */
  userStore: UserObjectStore | null;
  /** The image store's own buckets: never readable or writable through these routes. */
  imageStoreBuckets: readonly string[];
  maxImageSize: number;
}

const objectError = (err: unknown, address: ObjectAddress): never => {
  if (err instanceof UserObjectError && err.reason === 'no-access')
    fail('BucketNotGranted', `Bucket ${address.bucket} is not accessible`);
  if (err instanceof UserObjectError)
    fail('ServiceUnavailable', `The object store could not be reached for ${address.bucket}:${address.key}`);
  throw err;
};

export class ObjectImageService {
  constructor(private readonly deps: ObjectImageDeps) {}

  /**
   * An image from a file: a queued private image now, its data by the job.
   * `route` says which IMS route the body came to.
   */
  async createFromFile(
    ctx: RequestContext,
    route: FileImageRoute,
    body: unknown,
  ): Promise<{ jobId: string }> {
    const data = route === 'data' || (route === 'quick' && isDataBody(body));
    this.deps.images.policy.authorize(ctx, data ? 'ims:dataImages:create' : 'ims:serverImages:create');
    const req = parseFileImageRequest(route, body);
    if (req.dataImages.length) this.deps.images.policy.authorize(ctx, 'ims:dataImages:create');
    const requests = [req, ...req.dataImages];
    const images = requests.map((r) => ({
      id: randomUUID(),
      req: r,
      fields: fileImageFields(r, ctx.projectId),
    }));
    for (const image of images) checkImsProperties(image.fields, null, this.deps.osVersions);
    let bytes = 0;
    for (const image of images) bytes += await this.readableObject(ctx, image.req.source);
    const [main, ...dataImages] = images.map(({ id, req: r }) => ({
      imageId: id,
      imageName: r.name,
      bucket: r.source.bucket,
      key: r.source.key,
      diskFormat: r.diskFormat,
      minDisk: r.minDisk,
    }));
    const payload: ObjectImportPayload = {
      ...main!,
      owner: ctx.projectId,
      ...(dataImages.length ? { dataImages } : {}),
    };
    const kind = req.virtualEnvType === 'DataImage' ? IMPORT_DATA_IMAGE : IMPORT_FILE_IMAGE;
    const job = await this.deps.repos.transaction(async (tx) => {
      // Every image of the request is admitted at once, or none is.
      await this.deps.quotas.admitImages(tx, ctx.projectId, images.length, bytes);
      for (const image of images) await tx.images.insert(image.id, image.fields, 'queued', this.now());
      return this.deps.jobs.enqueue(ctx, kind, payload, {
        tx,
        entities: { image_id: main!.imageId, image_name: req.name },
      });
    });
    this.deps.jobs.wake();
    return { jobId: job.id };
  }

  /** Full-ECS images come from a server or its backup: neither exists in this deployment. */
  async createWholeImage(ctx: RequestContext, body: unknown): Promise<{ jobId: string }> {
    this.deps.images.policy.authorize(ctx, 'ims:wholeImages:create');
    const source =
      typeof body === 'object' && body !== null && (body as { backup_id?: unknown }).backup_id !== undefined
        ? 'backup'
        : 'server';
    return fail(
      'SourceNotAvailable',
      `Creating a full-ECS image from a ${source}: source type not available in this deployment ` +
        '(it has no compute or backup service)',
    );
  }

  /** Fills a queued image (made by POST /v2/images) from a file: it is `saving` until the job ends. */
  async register(ctx: RequestContext, imageId: string, body: unknown): Promise<{ jobId: string }> {
    this.deps.images.policy.authorize(ctx, 'ims:images:upload');
    const source = parseRegisterRequest(body);
    const image = await this.deps.images.get(ctx, imageId);
    this.deps.images.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
    assertCanModify(ctx, image);
    if (image.status !== 'queued')
      fail('ImageNotActive', `Image ${imageId} is ${image.status}: only a queued image can be registered`);
    const diskFormat = image.diskFormat ?? 'vhd';
    if (diskFormat === 'iso')
      throw new DomainError('ValidationFailed', 'An ISO file is imported with "type": "IsoImage"', {
        imsCode: 'IMG.0167',
      });
    const size = await this.readableObject(ctx, source);
    const payload: ObjectImportPayload = {
      imageId,
      owner: image.owner,
      bucket: source.bucket,
      key: source.key,
      diskFormat,
      minDisk: image.minDisk,
    };
    const job = await this.deps.repos.transaction(async (tx) => {
      await this.deps.quotas.admitBytes(tx, image.owner, size);
      // The move to saving is the claim: a second register or a Glance upload now finds it taken.
      const now = this.now();
      if (!(await tx.images.transition(imageId, ['queued'], 'saving', now)))
        fail('Conflict', `Image ${imageId} is being filled by another request`);
      await tx.images.setServiceProperties(
        imageId,
        { __data_origin: `file,${source.bucket}:${source.key}`, __root_origin: 'file' },
        now,
      );
      if (image.diskFormat === null) await tx.images.setDiskFormat(imageId, diskFormat);
      const job = await this.deps.jobs.enqueue(ctx, REGISTER_IMAGE, payload, {
        tx,
        entities: { image_id: imageId, image_name: image.name ?? '' },
      });
      // `saving` is leased to the job until its worker takes the lease over: no reaper reverts it meanwhile.
      await tx.dataLeases.acquire(imageId, jobLeaseOwner(job.id), now);
      return job;
    });
    this.deps.jobs.wake();
    return { jobId: job.id };
  }

  /** Exports the caller's active image to a new file in one of its granted buckets. */
  async export(ctx: RequestContext, imageId: string, body: unknown): Promise<{ jobId: string }> {
    this.deps.images.policy.authorize(ctx, 'ims:images:export');
    const req = parseExportRequest(body);
    const image = await this.deps.images.get(ctx, imageId);
    if (!isAdmin(ctx) && image.owner !== ctx.projectId)
      throw new DomainError('Forbidden', `Only the owner of image ${imageId} may export it`, {
        imsCode: 'IMG.0047',
      });
    this.deps.images.policy.authorize(ctx, 'ims:images:export', { projectId: image.owner });
    assertExportable(image, req);
    const store = await this.usableBucket(ctx, req.target);
    const existing = await store
      .stat(req.target.bucket, req.target.key)
      .catch((e) => objectError(e, req.target));
    if (existing)
      throw new DomainError('ValidationFailed', `${req.target.bucket}:${req.target.key} already exists`, {
        imsCode: 'IMG.0070',
      });
    const job = await this.deps.jobs.enqueue(
      ctx,
      EXPORT_IMAGE,
      { imageId, bucket: req.target.bucket, key: req.target.key, fileFormat: req.fileFormat },
      { entities: { image_id: imageId, image_name: image.name ?? '' } },
    );
    return { jobId: job.id };
  }

  /** The store, once the caller's project may use the bucket. */
  private async usableBucket(ctx: RequestContext, address: ObjectAddress): Promise<UserObjectStore> {
    const store = this.deps.userStore;
    if (!store)
      return fail(
        'SourceNotAvailable',
        "No tenants' object store is configured in this deployment (IMS_USER_S3_ENDPOINT)",
      );
    const granted = await this.deps.repos.buckets.isGranted(ctx.projectId, address.bucket);
    assertBucketUsable(address.bucket, granted, this.deps.imageStoreBuckets);
    return store;
  }

  /** The object's size, once it exists in a bucket the caller may read and is not too large. */
  private async readableObject(ctx: RequestContext, address: ObjectAddress): Promise<number> {
    const store = await this.usableBucket(ctx, address);
    const stat = await store.stat(address.bucket, address.key).catch((e) => objectError(e, address));
    if (!stat) return fail('UploadFailed', `The file ${address.bucket}:${address.key} does not exist`);
    if (stat.size === 0) return fail('UploadFailed', `The file ${address.bucket}:${address.key} is empty`);
    if (stat.size > this.deps.maxImageSize)
      fail(
        'PayloadTooLarge',
        `The file is larger than the maximum image size of ${this.deps.maxImageSize} bytes`,
      );
    return stat.size;
  }

  private now(): string {
    return this.deps.clock.now().toISOString();
  }
}

/** A quick-import body that asks for a data-disk image (policy: ims:dataImages:create). */
function isDataBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { type?: unknown }).type === 'DataImage';
}

/** Who a bucket is granted to: one project, or every project of an account. */
export type BucketGrantee = { projectId: string } | { accountId: string };

/**
 * The operator's grants of tenant buckets (`ims admin bucket ...`). The image
 * store's buckets cannot be granted; the request path refuses them as well.
 * Each grant and revoke runs in a transaction, which carries the audit event
 * of the caller's audit scope (the CLI opens one per command).
 */
export class BucketGrantService {
  constructor(
    private readonly repos: Repositories,
    private readonly clock: Clock,
    private readonly imageStoreBuckets: readonly string[],
  ) {}

  async grant(to: BucketGrantee, bucket: string): Promise<void> {
    if (!isBucketName(bucket)) fail('ValidationFailed', `"${bucket}" is not a valid bucket name`);
    if (this.imageStoreBuckets.includes(bucket))
      fail('Forbidden', `Bucket ${bucket} holds the image store: it cannot be granted`);
    const now = this.clock.now().toISOString();
    if ('accountId' in to) {
      if (!(await this.repos.identity.domainById(to.accountId)))
        fail('NotFound', `No account found with ID ${to.accountId}`);
      await this.repos.transaction((tx) => tx.buckets.grantAccount(to.accountId, bucket, now));
      return;
    }
    if (!(await this.repos.quotas.projectExists(to.projectId)))
      fail('NotFound', `No project found with ID ${to.projectId}`);
    await this.repos.transaction((tx) => tx.buckets.grant(to.projectId, bucket, now));
  }

  /** Whether there was such a grant to take back (none: nothing is written, so the audit shows a failure). */
  async revoke(from: BucketGrantee, bucket: string): Promise<boolean> {
    try {
      await this.repos.transaction(async (tx) => {
        const gone =
          'accountId' in from
            ? await tx.buckets.revokeAccount(from.accountId, bucket)
            : await tx.buckets.revoke(from.projectId, bucket);
        if (!gone) fail('NotFound', `No grant of bucket ${bucket}`);
      });
      return true;
    } catch (err) {
      if (err instanceof DomainError && err.code === 'NotFound') return false;
      throw err;
    }
  }

  async list(projectId?: string): Promise<BucketGrant[]> {
    return this.repos.buckets.list(projectId);
  }

  async listAccounts(accountId?: string): Promise<AccountBucketGrant[]> {
    return this.repos.buckets.listAccounts(accountId);
  }
}
