import { randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { BlobStore } from '../adapters/storage/blob-store.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import type { Image } from '../domain/image.ts';
import { parseImageQuery, type QueryInput } from '../domain/image-query.ts';
import {
  applyPatch,
  assertTagCount,
  checkTag,
  fieldsForNewImage,
  type PatchOp,
} from '../domain/image-rules.ts';
import { assertTransition } from '../domain/image-status.ts';
import { assertCanModify, canSee, listScope } from '../domain/visibility.ts';
import { currentAudit } from '../adapters/audit-scope.ts';
import type { Policy } from './policy.ts';

export interface ImagePage {
  images: Image[];
  /** Marker for the next page, when there may be one. */
  nextMarker: string | null;
}

const notFound = (id: string): never => fail('ImageNotFound', `No image found with ID ${id}`);

/** Image metadata use cases: create, read, list, change, delete, (de)activate, tag. */
export class ImageService {
  constructor(
    private readonly db: Repositories,
    private readonly store: BlobStore,
    private readonly clock: Clock,
    readonly policy: Policy,
  ) {}

  private now(): string {
    return this.clock.now().toISOString();
  }

  /** The image if the caller may see it; another tenant's private image is simply not found. */
  async get(ctx: RequestContext, id: string): Promise<Image> {
    this.policy.authorize(ctx, 'ims:images:get');
    const image = await this.db.images.find(id);
    if (!image) return notFound(id);
    if (isAdmin(ctx) || image.owner === ctx.projectId) return image;
    const membership =
      image.visibility === 'shared' ? await this.db.images.membership(id, ctx.projectId) : null;
    if (!canSee(ctx, image, membership)) return notFound(id);
    return image;
  }

  async create(ctx: RequestContext, body: unknown): Promise<Image> {
    this.policy.authorize(ctx, 'ims:images:create');
    const fields = fieldsForNewImage(ctx, body);
    const id = fields.id ?? randomUUID();
    currentAudit()?.resource(id, fields.name ?? null);
    if (await this.db.images.idTaken(id))
      fail('DuplicateImageId', `An image with identifier ${id} already exists`);
    try {
      return await this.db.transaction((tx) => tx.images.insert(id, fields, 'queued', this.now()));
    } catch (err) {
      // Two creates with the same client-chosen id: the loser gets the conflict.
      if (await this.db.images.idTaken(id))
        fail('DuplicateImageId', `An image with identifier ${id} already exists`);
      throw err;
    }
  }

  async list(ctx: RequestContext, input: QueryInput): Promise<ImagePage> {
    this.policy.authorize(ctx, 'ims:images:list');
    const query = parseImageQuery(input);
    let marker: Image | null = null;
    if (query.marker !== undefined) {
      marker = await this.db.images.find(query.marker);
      const visible =
        marker &&
        (await this.get(ctx, marker.id).then(
          () => true,
          () => false,
        ));
      if (!visible) fail('MarkerNotFound', `Marker could not be found: ${query.marker}`);
    }
    const images = await this.db.images.list(
      listScope(ctx, query.visibility, query.memberStatus),
      query,
      marker,
    );
    const full = query.limit > 0 && images.length === query.limit;
    return { images, nextMarker: full ? images[images.length - 1]!.id : null };
  }

  async update(ctx: RequestContext, id: string, ops: PatchOp[]): Promise<Image> {
    // A concurrent change makes the conditional write miss; read again and re-apply.
    for (let attempt = 0; attempt < 5; attempt++) {
      const image = await this.get(ctx, id);
      this.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
      assertCanModify(ctx, image);
      const fields = applyPatch(ctx, image, ops);
      const done = await this.db.transaction((tx) =>
        tx.images.update(image, fields, this.laterThan(image.updatedAt)),
      );
      if (done) return this.get(ctx, id);
    }
    return fail('Conflict', `Image ${id} is being changed by another request; try again`);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const image = await this.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:delete', { projectId: image.owner });
    assertCanModify(ctx, image);
    if (image.protected) fail('ImageProtected', `Image ${id} is protected and cannot be deleted.`);
    assertTransition(image.status, 'deleted');
    const released = await this.db.transaction(async (tx) => {
      if (!(await tx.images.markDeleted(id, this.now()))) return notFound(id);
      return image.blobId ? tx.blobs.release(image.blobId) : null;
    });
    // Bytes go after the rows: a crash in between leaves an orphan object, never a dangling image.
    if (released) await this.store.delete(released.store_key);
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.setActive(ctx, id, false);
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.setActive(ctx, id, true);
  }

  private async setActive(ctx: RequestContext, id: string, active: boolean): Promise<void> {
    const image = await this.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:deactivate', { projectId: image.owner });
    assertCanModify(ctx, image);
    const [from, to] = active ? (['deactivated', 'active'] as const) : (['active', 'deactivated'] as const);
    if (image.status === to) return;
    if (image.status !== from) {
      fail(
        'Forbidden',
        `Not allowed to ${active ? 'reactivate' : 'deactivate'} image in status '${image.status}'`,
      );
    }
    if (!(await this.db.images.transition(id, [from], to, this.laterThan(image.updatedAt)))) {
      fail('Conflict', `Image ${id} changed status while being ${active ? 'reactivated' : 'deactivated'}`);
    }
  }

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const image = await this.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
    assertCanModify(ctx, image);
    checkTag(tag);
    if (image.tags.includes(tag)) return;
    await this.db.transaction(async (tx) => {
      assertTagCount((await tx.images.tagCount(id)) + 1);
      await tx.images.addTag(id, tag, this.laterThan(image.updatedAt));
    });
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const image = await this.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
    assertCanModify(ctx, image);
    const removed = await this.db.transaction((tx) =>
      tx.images.removeTag(id, tag, this.laterThan(image.updatedAt)),
    );
    if (!removed) throw new DomainError('NotFound', `Tag ${tag} not found on image ${id}`);
  }

  /** updated_at doubles as a version: every write must move it forward, even within one millisecond. */
  private laterThan(previous: string): string {
    const now = this.now();
    return now > previous ? now : new Date(Date.parse(previous) + 1).toISOString();
  }
}
