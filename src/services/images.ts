import { randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import type { Image } from '../domain/image.ts';
import {
  parseImageQuery,
  parseImsImageQuery,
  type ImageQuery,
  type QueryInput,
} from '../domain/image-query.ts';
import type { FlavorCatalogue } from '../domain/flavors.ts';
import { checkImsProperties } from '../domain/ims-properties.ts';
import type { OsVersion, OsVersionCatalogue } from '../domain/os-versions.ts';
import { applyPatch, fieldsForNewImage, type PatchOp } from '../domain/image-rules.ts';
import { withGlanceTag } from '../domain/tag-rules.ts';
import { assertTransition } from '../domain/image-status.ts';
import { assertCanModify, canSee, listScope, type MemberStatus } from '../domain/visibility.ts';
import { assertDeletableWhileShared, grantKeys } from '../domain/sharing.ts';
import type { QuotaService } from './quotas.ts';
import { changeImageTags } from './tags.ts';
import { currentAudit } from '../adapters/audit-scope.ts';
import type { Policy } from './policy.ts';
import { PropertyProtections } from '../domain/property-protections.ts';

export interface ImagePage {
  images: Image[];
  /** Marker for the next page, when there may be one. */
  nextMarker: string | null;
}

const notFound = (id: string): never => fail('ImageNotFound', `No image found with ID ${id}`);

/** The operator's reference data that image rules consult. */
export interface ImageCatalogues {
  osVersions: OsVersionCatalogue;
  flavors: FlavorCatalogue;
}

/** Image metadata use cases: create, read, list, change, delete, (de)activate, tag. */
export class ImageService {
  constructor(
    private readonly db: Repositories,
    private readonly stores: StoreRegistry,
    private readonly clock: Clock,
    private readonly catalogues: ImageCatalogues,
    private readonly quotas: QuotaService,
    readonly policy: Policy,
    private readonly protections: PropertyProtections = PropertyProtections.none(),
  ) {}

  /** The image as the caller may be shown it: properties it may not read are left out. */
  private shown(ctx: RequestContext, image: Image): Image {
    if (!this.protections.enabled) return image;
    return { ...image, properties: this.protections.readable(ctx.roles, image.properties) };
  }

  /** What `GET /v2/images/{id}` answers (`get` itself serves the other services, unredacted). */
  async show(ctx: RequestContext, id: string): Promise<Image> {
    return this.shown(ctx, await this.get(ctx, id));
  }

  private now(): string {
    return this.clock.now().toISOString();
  }

  /** The image if the caller may see it; another tenant's private image is simply not found. */
  async get(ctx: RequestContext, id: string): Promise<Image> {
    this.policy.authorize(ctx, 'ims:images:get');
    const image = await this.db.images.find(id);
    if (!image) return notFound(id);
    if (isAdmin(ctx) || image.owner === ctx.projectId) return image;
    const membership = image.visibility === 'shared' ? await this.membershipOf(ctx, id) : null;
    if (!canSee(ctx, image, membership)) return notFound(id);
    return image;
  }

  /**
   * The caller's project's status on another project's image: its own member
   * row, or its answer to an account or organization share reaching it
   * (domain/sharing.ts); null when nothing shares the image with it.
   */
  async membershipOf(ctx: RequestContext, imageId: string): Promise<MemberStatus | null> {
    const reach = await this.db.sharing.reach(ctx.projectId, ctx.accountId, ctx.region);
    return (await this.db.sharing.reachedBy(imageId, reach))?.status ?? null;
  }

  async create(ctx: RequestContext, body: unknown): Promise<Image> {
    this.policy.authorize(ctx, 'ims:images:create');
    const fields = fieldsForNewImage(ctx, body);
    this.protections.assertCreatable(ctx.roles, fields.properties);
    checkImsProperties(fields, null, this.catalogues.osVersions);
    const id = fields.id ?? randomUUID();
    currentAudit()?.resource(id, fields.name ?? null);
    if (await this.db.images.idTaken(id))
      fail('DuplicateImageId', `An image with identifier ${id} already exists`);
    try {
      return await this.db.transaction(async (tx) => {
        await this.quotas.admitImages(tx, fields.owner);
        return this.shown(ctx, await tx.images.insert(id, fields, 'queued', this.now()));
      });
    } catch (err) {
      // Two creates with the same client-chosen id: the loser gets the conflict.
      if (await this.db.images.idTaken(id))
        fail('DuplicateImageId', `An image with identifier ${id} already exists`);
      throw err;
    }
  }

  async list(ctx: RequestContext, input: QueryInput): Promise<ImagePage> {
    this.policy.authorize(ctx, 'ims:images:list');
    return this.listBy(ctx, parseImageQuery(input));
  }

  /** IMS's native list: the same visibility rules, IMS's filters; each image says whether it has members. */
  async listIms(ctx: RequestContext, input: QueryInput): Promise<ImagePage> {
    this.policy.authorize(ctx, 'ims:images:list');
    return this.listBy(ctx, parseImsImageQuery(input, this.catalogues.flavors));
  }

  /** The OS version catalogue, entries carrying every tag asked for. */
  osVersions(tags: string[]): { platform: string; versions: OsVersion[] }[] {
    return this.catalogues.osVersions.grouped(tags);
  }

  private async listBy(ctx: RequestContext, query: ImageQuery): Promise<ImagePage> {
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
    const reach = isAdmin(ctx) ? null : await this.db.sharing.reach(ctx.projectId, ctx.accountId, ctx.region);
    const keys = reach?.accountId ? await this.db.sharing.liveGrantKeys(grantKeys(reach)) : [];
    const images = await this.db.images.list(
      listScope(ctx, query.visibility, query.memberStatus, keys),
      query,
      marker,
    );
    const full = query.limit > 0 && images.length === query.limit;
    return {
      images: images.map((image) => this.shown(ctx, image)),
      nextMarker: full ? images[images.length - 1]!.id : null,
    };
  }

  async update(ctx: RequestContext, id: string, ops: PatchOp[]): Promise<Image> {
    return this.patch(ctx, id, ops, false);
  }

  /** IMS's update: only active images change; the answer says whether the image has members. */
  async updateIms(ctx: RequestContext, id: string, ops: PatchOp[]): Promise<Image> {
    const image = await this.patch(ctx, id, ops, true);
    return { ...image, hasMembers: await this.db.images.hasMembers(id) };
  }

  private async patch(ctx: RequestContext, id: string, ops: PatchOp[], activeOnly: boolean): Promise<Image> {
    // A concurrent change makes the conditional write miss; read again and re-apply.
    for (let attempt = 0; attempt < 5; attempt++) {
      const image = await this.get(ctx, id);
      this.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
      assertCanModify(ctx, image);
      if (activeOnly && image.status !== 'active')
        fail('ImageNotActive', `Image ${id} is ${image.status}: only active images can be updated`);
      const visible = this.shown(ctx, image);
      const fields = applyPatch(ctx, visible, ops);
      fields.properties = this.protections.changed(
        ctx.roles,
        image.properties,
        visible.properties,
        fields.properties,
      );
      checkImsProperties(fields, image, this.catalogues.osVersions);
      const done = await this.db.transaction((tx) =>
        tx.images.update(image, fields, this.laterThan(image.updatedAt)),
      );
      if (done) return this.show(ctx, id);
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
      // Read after the row is marked (and so locked): a share committed first is seen.
      assertDeletableWhileShared(id, await tx.sharing.grants(id));
      // Its copies in other stores and any data staged for import go with it.
      const blobIds = [
        ...(image.blobId ? [image.blobId] : []),
        ...(await tx.imports.dropReplicas(id)).map((r) => r.blob_id),
        ...[await tx.imports.unstage(id)].filter((b): b is string => b !== null),
      ];
      const rows = [];
      for (const blobId of blobIds) rows.push(await tx.blobs.release(blobId));
      return rows.filter((r) => r !== null);
    });
    // Bytes go after the rows: a crash in between leaves an orphan object, never a dangling image.
    for (const blob of released) await this.stores.get(blob.store).delete(blob.store_key);
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

  /** Glance's simple tags, in the tag store the IMS tag APIs share (rules: domain/tag-rules.ts). */
  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const image = await this.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
    assertCanModify(ctx, image);
    await changeImageTags(this.db, this.clock, image, (current) => withGlanceTag(current, tag));
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const image = await this.get(ctx, id);
    this.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
    assertCanModify(ctx, image);
    const removed = await changeImageTags(this.db, this.clock, image, (current) =>
      current.filter((t) => t !== tag),
    );
    if (!removed) throw new DomainError('NotFound', `Tag ${tag} not found on image ${id}`);
  }

  /** updated_at doubles as a version: every write must move it forward, even within one millisecond. */
  private laterThan(previous: string): string {
    const now = this.now();
    return now > previous ? now : new Date(Date.parse(previous) + 1).toISOString();
  }
}
