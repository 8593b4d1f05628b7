import { randomUUID } from 'node:crypto';
import type { Clock } from '../adapters/clock.ts';
import {
  isUniqueViolation,
  type MetadefRepository,
  type NamespaceSortKey,
} from '../adapters/db/metadef-repository.ts';
import type { RequestContext } from '../domain/context.ts';
import { isAdmin } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import {
  assertNamespaceDeletable,
  canSeeNamespace,
  namespaceNotFound,
  type AssociationInput,
  type MetadefObject,
  type MetadefTag,
  type MetadefVisibility,
  type Namespace,
  type NamespaceCreateInput,
  type NamespaceInput,
  type ObjectInput,
  type PropertyDefinition,
  type ResourceType,
  type ResourceTypeAssociation,
} from '../domain/metadefs.ts';
import type { Policy } from './policy.ts';

/** A namespace with what it holds, as shown by GET /v2/metadefs/namespaces/{namespace}. */
export interface NamespaceDetail {
  namespace: Namespace;
  resourceTypes: ResourceTypeAssociation[];
  properties: PropertyDefinition[];
  objects: MetadefObject[];
  tags: MetadefTag[];
}

export interface NamespaceListQuery {
  limit: number;
  marker?: string;
  sortKey: NamespaceSortKey;
  sortDir: 'asc' | 'desc';
  visibility?: MetadefVisibility;
  resourceTypes?: string[];
}

export interface NamespacePage {
  namespaces: { namespace: Namespace; resourceTypes: ResourceTypeAssociation[] }[];
  /** The marker of the next page, when there may be one. */
  next: string | null;
}

type ContentKind = 'properties' | 'objects' | 'tags';
const KIND_NAME: Record<ContentKind, string> = { properties: 'property', objects: 'object', tags: 'tag' };

const contentNotFound = (kind: ContentKind, ns: string, name: string): never =>
  fail('NotFound', `Metadata definition ${KIND_NAME[kind]} ${name} was not found in namespace ${ns}.`);
const duplicate = (kind: ContentKind, ns: string, name: string): never =>
  fail(
    'Conflict',
    `A metadata definition ${KIND_NAME[kind]} with name=${name} already exists in namespace=${ns}.`,
  );

/** A unique-key failure from a concurrent writer is the same conflict a check would have found. */
async function conflictOnDuplicate<T>(message: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError('Conflict', message);
    throw err;
  }
}

/**
 * Glance's metadata definitions API: namespaces of property definitions,
 * objects and tags, associated with resource types. Everyone reads what they
 * can see; admins write (Glance's default policy).
 */
export class MetadefService {
  constructor(
    private readonly repo: MetadefRepository,
    private readonly clock: Clock,
    private readonly policy: Policy,
  ) {}

  private now(): string {
    return this.clock.now().toISOString();
  }

  /** The namespace if the caller may see it; otherwise it does not exist for them. */
  private async visible(ctx: RequestContext, name: string, repo = this.repo): Promise<Namespace> {
    const ns = await repo.findNamespace(name);
    if (!ns || !canSeeNamespace(ctx, ns)) return namespaceNotFound(name);
    return ns;
  }

  /** For a write: the caller sees it and the policy lets them write (admins, by default). */
  private async writable(ctx: RequestContext, name: string, repo = this.repo): Promise<Namespace> {
    const ns = await this.visible(ctx, name, repo);
    this.policy.authorize(ctx, 'ims:metadefs:manage', { projectId: ns.owner });
    return ns;
  }

  listResourceTypes(_ctx: RequestContext): Promise<ResourceType[]> {
    return this.repo.listResourceTypes();
  }

  async listNamespaces(ctx: RequestContext, q: NamespaceListQuery): Promise<NamespacePage> {
    const after = q.marker === undefined ? undefined : await this.repo.findNamespace(q.marker);
    if (q.marker !== undefined && (!after || !canSeeNamespace(ctx, after)))
      fail('MarkerNotFound', `Marker ${q.marker} not found.`);
    const rows = await this.repo.listNamespaces({
      projectId: ctx.projectId,
      seesAll: isAdmin(ctx),
      visibility: q.visibility,
      resourceTypes: q.resourceTypes,
      sortKey: q.sortKey,
      sortDir: q.sortDir,
      limit: q.limit,
      after: after ?? undefined,
    });
    const associations = await this.repo.associations(rows.map((n) => n.id));
    return {
      namespaces: rows.map((namespace) => ({
        namespace,
        resourceTypes: associations.get(namespace.id) ?? [],
      })),
      next: rows.length === q.limit ? rows[rows.length - 1]!.namespace : null,
    };
  }

  async getNamespace(ctx: RequestContext, name: string, resourceType?: string): Promise<NamespaceDetail> {
    const namespace = await this.visible(ctx, name);
    const detail = await this.detail(namespace, this.repo);
    const prefix = resourceType
      ? detail.resourceTypes.find((a) => a.name === resourceType)?.prefix
      : undefined;
    // Shown for a resource type, property names carry that type's prefix (Glance).
    if (prefix) detail.properties = detail.properties.map((p) => ({ ...p, name: `${prefix}${p.name}` }));
    return detail;
  }

  private async detail(namespace: Namespace, repo: MetadefRepository): Promise<NamespaceDetail> {
    const id = namespace.id;
    return {
      namespace,
      resourceTypes: (await repo.associations([id])).get(id) ?? [],
      properties: await repo.listProperties(id),
      objects: await repo.listObjects(id),
      tags: await repo.listTags(id),
    };
  }

  async createNamespace(ctx: RequestContext, input: NamespaceCreateInput): Promise<NamespaceDetail> {
    this.policy.authorize(ctx, 'ims:metadefs:manage', { projectId: input.owner ?? ctx.projectId });
    const now = this.now();
    const namespace: Namespace = {
      id: randomUUID(),
      namespace: input.namespace,
      displayName: input.displayName,
      description: input.description,
      visibility: input.visibility,
      protected: input.protected,
      owner: input.owner ?? ctx.projectId,
      createdAt: now,
      updatedAt: now,
    };
    const taken = `Namespace ${input.namespace} already exists.`;
    return conflictOnDuplicate(taken, () =>
      this.repo.transaction(async (tx) => {
        if (!(await tx.insertNamespace(namespace))) fail('Conflict', taken);
        for (const a of input.resourceTypes) await this.associate(tx, namespace, a, now);
        for (const p of input.properties) {
          const def = { ...p, createdAt: now, updatedAt: now };
          if (!(await tx.insertProperty(namespace.id, def)))
            duplicate('properties', namespace.namespace, p.name);
        }
        for (const o of input.objects) {
          if (!(await tx.insertObject(namespace.id, { ...o, createdAt: now, updatedAt: now })))
            duplicate('objects', namespace.namespace, o.name);
        }
        for (const name of input.tags) {
          if (!(await tx.insertTag(namespace.id, { name, createdAt: now, updatedAt: now })))
            duplicate('tags', namespace.namespace, name);
        }
        return this.detail(namespace, tx);
      }),
    );
  }

  /** PUT: the namespace's own fields are replaced; a rename must not take another's name. */
  async updateNamespace(ctx: RequestContext, name: string, input: NamespaceInput): Promise<NamespaceDetail> {
    const taken = `Namespace ${input.namespace} already exists.`;
    return conflictOnDuplicate(taken, () =>
      this.repo.transaction(async (tx) => {
        const current = await this.writable(ctx, name, tx);
        if (input.namespace !== current.namespace && (await tx.findNamespace(input.namespace)))
          fail('Conflict', taken);
        const updated: Namespace = {
          ...current,
          namespace: input.namespace,
          displayName: input.displayName,
          description: input.description,
          visibility: input.visibility,
          protected: input.protected,
          owner: input.owner ?? current.owner,
          updatedAt: this.now(),
        };
        await tx.updateNamespace(updated);
        return this.detail(updated, tx);
      }),
    );
  }

  async deleteNamespace(ctx: RequestContext, name: string): Promise<void> {
    await this.repo.transaction(async (tx) => {
      const ns = await this.writable(ctx, name, tx);
      assertNamespaceDeletable(ns);
      await tx.deleteNamespace(ns.id);
    });
  }

  // Resource type associations

  private async associate(
    tx: MetadefRepository,
    ns: Namespace,
    input: AssociationInput,
    now: string,
  ): Promise<ResourceTypeAssociation> {
    await tx.ensureResourceType(input.name, now);
    const association = { ...input, createdAt: now, updatedAt: now };
    if (!(await tx.insertAssociation(ns.id, association))) {
      fail('Conflict', `Resource type ${input.name} is already associated with namespace ${ns.namespace}.`);
    }
    return association;
  }

  async listAssociations(ctx: RequestContext, name: string): Promise<ResourceTypeAssociation[]> {
    const ns = await this.visible(ctx, name);
    return (await this.repo.associations([ns.id])).get(ns.id) ?? [];
  }

  async addAssociation(
    ctx: RequestContext,
    name: string,
    input: AssociationInput,
  ): Promise<ResourceTypeAssociation> {
    return this.repo.transaction(async (tx) =>
      this.associate(tx, await this.writable(ctx, name, tx), input, this.now()),
    );
  }

  async removeAssociation(ctx: RequestContext, name: string, resourceType: string): Promise<void> {
    const ns = await this.writable(ctx, name);
    if (!(await this.repo.deleteAssociation(ns.id, resourceType))) {
      fail('NotFound', `Resource type ${resourceType} is not associated with namespace ${name}.`);
    }
  }

  // Properties

  async listProperties(ctx: RequestContext, name: string): Promise<PropertyDefinition[]> {
    return this.repo.listProperties((await this.visible(ctx, name)).id);
  }

  /** With a resource type, the name carries that association's prefix, which is taken off. */
  async getProperty(
    ctx: RequestContext,
    name: string,
    property: string,
    resourceType?: string,
  ): Promise<PropertyDefinition> {
    const ns = await this.visible(ctx, name);
    let wanted = property;
    if (resourceType) {
      const association = ((await this.repo.associations([ns.id])).get(ns.id) ?? []).find(
        (a) => a.name === resourceType,
      );
      if (!association)
        fail('NotFound', `Resource type ${resourceType} is not associated with namespace ${name}.`);
      const prefix = association!.prefix ?? '';
      if (!property.startsWith(prefix)) return contentNotFound('properties', name, property);
      wanted = property.slice(prefix.length);
    }
    const found = (await this.repo.listProperties(ns.id)).find((p) => p.name === wanted);
    return found ?? contentNotFound('properties', name, property);
  }

  async createProperty(
    ctx: RequestContext,
    name: string,
    input: { name: string; schema: Record<string, unknown> },
  ): Promise<PropertyDefinition> {
    const ns = await this.writable(ctx, name);
    const now = this.now();
    const def = { ...input, createdAt: now, updatedAt: now };
    if (!(await this.repo.insertProperty(ns.id, def))) duplicate('properties', name, input.name);
    return def;
  }

  async updateProperty(
    ctx: RequestContext,
    name: string,
    property: string,
    input: { name: string; schema: Record<string, unknown> },
  ): Promise<PropertyDefinition> {
    return conflictOnDuplicate(`Property ${input.name} already exists in namespace ${name}.`, () =>
      this.repo.transaction(async (tx) => {
        const ns = await this.writable(ctx, name, tx);
        const all = await tx.listProperties(ns.id);
        const current = all.find((p) => p.name === property) ?? contentNotFound('properties', name, property);
        if (input.name !== property && all.some((p) => p.name === input.name))
          duplicate('properties', name, input.name);
        const updated = { ...input, createdAt: current.createdAt, updatedAt: this.now() };
        await tx.updateProperty(ns.id, property, updated);
        return updated;
      }),
    );
  }

  // Objects

  async listObjects(ctx: RequestContext, name: string): Promise<MetadefObject[]> {
    return this.repo.listObjects((await this.visible(ctx, name)).id);
  }

  async getObject(ctx: RequestContext, name: string, object: string): Promise<MetadefObject> {
    const ns = await this.visible(ctx, name);
    const found = (await this.repo.listObjects(ns.id)).find((o) => o.name === object);
    return found ?? contentNotFound('objects', name, object);
  }

  async createObject(ctx: RequestContext, name: string, input: ObjectInput): Promise<MetadefObject> {
    const ns = await this.writable(ctx, name);
    const now = this.now();
    const object = { ...input, createdAt: now, updatedAt: now };
    if (!(await this.repo.insertObject(ns.id, object))) duplicate('objects', name, input.name);
    return object;
  }

  async updateObject(
    ctx: RequestContext,
    name: string,
    object: string,
    input: ObjectInput,
  ): Promise<MetadefObject> {
    return conflictOnDuplicate(`Object ${input.name} already exists in namespace ${name}.`, () =>
      this.repo.transaction(async (tx) => {
        const ns = await this.writable(ctx, name, tx);
        const all = await tx.listObjects(ns.id);
        const current = all.find((o) => o.name === object) ?? contentNotFound('objects', name, object);
        if (input.name !== object && all.some((o) => o.name === input.name))
          duplicate('objects', name, input.name);
        const updated = { ...input, createdAt: current.createdAt, updatedAt: this.now() };
        await tx.updateObject(ns.id, object, updated);
        return updated;
      }),
    );
  }

  // Tags

  async listTags(ctx: RequestContext, name: string): Promise<MetadefTag[]> {
    return this.repo.listTags((await this.visible(ctx, name)).id);
  }

  async getTag(ctx: RequestContext, name: string, tag: string): Promise<MetadefTag> {
    const ns = await this.visible(ctx, name);
    const found = (await this.repo.listTags(ns.id)).find((t) => t.name === tag);
    return found ?? contentNotFound('tags', name, tag);
  }

  async createTag(ctx: RequestContext, name: string, tag: string): Promise<MetadefTag> {
    const ns = await this.writable(ctx, name);
    const now = this.now();
    const created = { name: tag, createdAt: now, updatedAt: now };
    if (!(await this.repo.insertTag(ns.id, created))) duplicate('tags', name, tag);
    return created;
  }

  /** Bulk create: replaces the namespace's tags, or with append adds to them (X-Openstack-Append). */
  async createTags(
    ctx: RequestContext,
    name: string,
    tags: string[],
    append: boolean,
  ): Promise<MetadefTag[]> {
    return this.repo.transaction(async (tx) => {
      const ns = await this.writable(ctx, name, tx);
      if (!append) await tx.deleteContent('tags', ns.id);
      const now = this.now();
      const created = tags.map((tag) => ({ name: tag, createdAt: now, updatedAt: now }));
      for (const t of created) if (!(await tx.insertTag(ns.id, t))) duplicate('tags', name, t.name);
      return created;
    });
  }

  async renameTag(ctx: RequestContext, name: string, tag: string, newName: string): Promise<MetadefTag> {
    return conflictOnDuplicate(`Tag ${newName} already exists in namespace ${name}.`, () =>
      this.repo.transaction(async (tx) => {
        const ns = await this.writable(ctx, name, tx);
        const all = await tx.listTags(ns.id);
        const current = all.find((t) => t.name === tag) ?? contentNotFound('tags', name, tag);
        if (newName !== tag && all.some((t) => t.name === newName)) duplicate('tags', name, newName);
        const updated = { name: newName, createdAt: current.createdAt, updatedAt: this.now() };
        await tx.renameTag(ns.id, tag, updated);
        return updated;
      }),
    );
  }

  // Removal of content, one item or all of a kind

  async deleteContent(ctx: RequestContext, kind: ContentKind, name: string, item?: string): Promise<void> {
    const ns = await this.writable(ctx, name);
    // Emptying a protected namespace is as refused as deleting it (Glance).
    if (item === undefined) assertNamespaceDeletable(ns);
    const removed = await this.repo.deleteContent(kind, ns.id, item);
    if (item !== undefined && removed === 0) contentNotFound(kind, name, item);
  }
}
