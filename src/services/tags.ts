import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { TaggedResource } from '../adapters/db/tag-repository.ts';
import type { RequestContext } from '../domain/context.ts';
import { fail } from '../domain/errors.ts';
import { parseImageQuery, type QueryInput } from '../domain/image-query.ts';
import {
  decodeTag,
  groupByKey,
  selects,
  tagListQuery,
  withImsTags,
  type KeyValueTag,
  type ResourceQuery,
  type TagSelector,
} from '../domain/tag-rules.ts';
import { assertCanModify, listScope } from '../domain/visibility.ts';
import type { ImageService } from './images.ts';

/** updated_at doubles as a version: every write moves it forward, even within one millisecond. */
function laterThan(clock: Clock, previous: string): string {
  const now = clock.now().toISOString();
  return now > previous ? now : new Date(Date.parse(previous) + 1).toISOString();
}

/**
 * Changes an image's tags in one transaction with its row locked, so that
 * concurrent changes (from any API family, on any process) apply one after
 * the other and the limits hold. `change` gets the current tags and returns
 * the new ones (or throws). Returns false when nothing changed.
 */
export async function changeImageTags(
  db: Repositories,
  clock: Clock,
  image: { id: string; updatedAt: string },
  change: (current: string[]) => string[],
): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await tx.tags.lockImage(image.id, laterThan(clock, image.updatedAt))))
      fail('ImageNotFound', `No image found with ID ${image.id}`);
    const current = await tx.tags.ofImage(image.id);
    const next = change(current);
    const same = next.length === current.length && next.every((t) => current.includes(t));
    if (!same) await tx.tags.replace(image.id, current, next);
    return !same;
  });
}

/** Tags of the IMS APIs (all generations) over the store Glance's simple tags use too. */
export class TagService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly clock: Clock,
  ) {}

  /** An image's tags as key/value pairs (any caller who can see the image). */
  async ofImage(ctx: RequestContext, imageId: string): Promise<KeyValueTag[]> {
    this.images.policy.authorize(ctx, 'ims:images:list');
    const image = await this.images.get(ctx, imageId);
    return image.tags.map(decodeTag);
  }

  /** Adds or updates key/value tags (a key present takes the new value), at most 10 per image. */
  async set(ctx: RequestContext, imageId: string, tags: KeyValueTag[]): Promise<void> {
    const image = await this.modifiable(ctx, imageId);
    await changeImageTags(this.db, this.clock, image, (current) => withImsTags(current, tags));
  }

  /** Removes the named tags; tags the image does not have are ignored. */
  async remove(ctx: RequestContext, imageId: string, selectors: TagSelector[]): Promise<void> {
    const image = await this.modifiable(ctx, imageId);
    await changeImageTags(this.db, this.clock, image, (current) =>
      current.filter((t) => !selectors.some((s) => selects(s, t))),
    );
  }

  /** Removes the tag with this key; a key the image does not have is a 404 (IMS documents it so). */
  async removeKey(ctx: RequestContext, imageId: string, key: string): Promise<void> {
    const image = await this.modifiable(ctx, imageId);
    const changed = await changeImageTags(this.db, this.clock, image, (current) =>
      current.filter((t) => !selects({ key }, t)),
    );
    if (!changed) fail('NotFound', `Tag key ${key} not found on image ${imageId}`);
  }

  /** Every key used on the project's images, with its values. */
  async ofProject(ctx: RequestContext): Promise<{ key: string; values: string[] }[]> {
    this.images.policy.authorize(ctx, 'ims:images:list', { projectId: ctx.projectId });
    return groupByKey(await this.db.tags.ofProject(ctx.projectId));
  }

  /** `GET /v1/cloudimages/tags`: distinct tags (`key=value` or simple) of the images a query lists. */
  async listed(ctx: RequestContext, input: QueryInput): Promise<string[]> {
    this.images.policy.authorize(ctx, 'ims:images:list');
    const mapped = tagListQuery(input);
    if (!mapped) return [];
    const query = parseImageQuery(mapped.images);
    return this.db.tags.ofImagesListed(
      listScope(ctx, query.visibility, query.memberStatus),
      query,
      mapped.page,
    );
  }

  /** The project's images that a tag query selects (filter: one page and the total; count: the total). */
  async findResources(
    ctx: RequestContext,
    query: ResourceQuery,
  ): Promise<{ total: number; resources: TaggedResource[] }> {
    this.images.policy.authorize(ctx, 'ims:images:list', { projectId: ctx.projectId });
    return this.db.tags.findResources(ctx.projectId, query);
  }

  private async modifiable(ctx: RequestContext, imageId: string) {
    const image = await this.images.get(ctx, imageId);
    this.images.policy.authorize(ctx, 'ims:images:update', { projectId: image.owner });
    assertCanModify(ctx, image);
    return image;
  }
}
