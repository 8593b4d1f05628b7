import type { FastifyInstance } from 'fastify';
import { fail } from '../../domain/errors.ts';
import {
  DEFAULT_LIMIT,
  MAX_LIMIT,
  checkName,
  parseAssociation,
  parseNamespaceCreate,
  parseNamespaceUpdate,
  parseObject,
  parseProperty,
  parseTag,
  parseTagList,
  type MetadefObject,
  type MetadefTag,
  type Namespace,
  type PropertyDefinition,
  type ResourceTypeAssociation,
} from '../../domain/metadefs.ts';
import type { NamespaceSortKey } from '../../adapters/db/metadef-repository.ts';
import type { MetadefService, NamespaceDetail } from '../../services/metadefs.ts';
import { callerOf } from '../context.ts';
import { glanceTime } from './image-view.ts';
import { METADEF_SCHEMAS } from './metadefs-schemas.ts';

const tags = ['metadata definitions (OpenStack)'];
const BASE = '/v2/metadefs/namespaces';
const SORT_KEYS: NamespaceSortKey[] = ['created_at', 'updated_at', 'namespace', 'display_name'];

type Json = Record<string, unknown>;
interface NsParams {
  Params: { namespace: string };
}
interface ItemParams {
  Params: { namespace: string; item: string };
}

const nsPath = (ns: string) => `${BASE}/${encodeURIComponent(ns)}`;
const times = (x: { createdAt: string; updatedAt: string }) => ({
  created_at: glanceTime(x.createdAt),
  updated_at: glanceTime(x.updatedAt),
});
/** Glance leaves out what a namespace does not have. */
const present = (o: Json): Json =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== null && v !== undefined));

function associationView(a: ResourceTypeAssociation): Json {
  return present({ name: a.name, prefix: a.prefix, properties_target: a.propertiesTarget, ...times(a) });
}

const propertyView = (p: PropertyDefinition): Json => ({ name: p.name, ...p.schema });
const propertyMap = (ps: PropertyDefinition[]): Json => Object.fromEntries(ps.map((p) => [p.name, p.schema]));

function objectView(ns: string, o: MetadefObject): Json {
  return present({
    name: o.name,
    description: o.description,
    required: o.required.length ? o.required : undefined,
    properties: o.properties,
    schema: '/v2/schemas/metadefs/object',
    self: `${nsPath(ns)}/objects/${encodeURIComponent(o.name)}`,
    ...times(o),
  });
}

const tagView = (t: MetadefTag): Json => ({ name: t.name, ...times(t) });

function namespaceView(ns: Namespace, resourceTypes: ResourceTypeAssociation[]): Json {
  return present({
    namespace: ns.namespace,
    display_name: ns.displayName,
    description: ns.description,
    visibility: ns.visibility,
    protected: ns.protected,
    owner: ns.owner,
    ...times(ns),
    schema: '/v2/schemas/metadefs/namespace',
    self: nsPath(ns.namespace),
    resource_type_associations: resourceTypes.length ? resourceTypes.map(associationView) : undefined,
  });
}

function namespaceDetailView(d: NamespaceDetail): Json {
  const name = d.namespace.namespace;
  return present({
    ...namespaceView(d.namespace, d.resourceTypes),
    properties: d.properties.length ? propertyMap(d.properties) : undefined,
    objects: d.objects.length ? d.objects.map((o) => objectView(name, o)) : undefined,
    tags: d.tags.length ? d.tags.map((t) => ({ name: t.name })) : undefined,
  });
}

function parseLimit(raw: unknown): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    return fail('ValidationFailed', 'limit param must be an integer');
  if (n <= 0) return fail('ValidationFailed', 'limit param must be positive');
  return Math.min(n, MAX_LIMIT);
}

function oneString(q: Json, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') return fail('ValidationFailed', `Query parameter ${key} may be given once.`);
  return v;
}

/** A write to a namespace, or to what it holds, recorded in the audit trail against the namespace. */
const audited = (operation: string) => ({
  audit: { operation, resourceType: 'metadefNamespace', resourceParam: 'namespace' },
});

const SINGULAR = { properties: 'Property', objects: 'Object', tags: 'Tag' } as const;
const PLURAL = { properties: 'Properties', objects: 'Objects', tags: 'Tags' } as const;

/** OpenStack Image API v2: metadata definitions (namespaces, resource types, properties, objects, tags). */
export function registerMetadefRoutes(app: FastifyInstance, metadefs: MetadefService): void {
  for (const [kind, schema] of Object.entries(METADEF_SCHEMAS)) {
    app.get(
      `/v2/schemas/metadefs/${kind}`,
      { schema: { tags: ['schemas'], summary: `Metadefs ${kind} schema` } },
      async () => schema(),
    );
  }

  app.get(
    '/v2/metadefs/resource_types',
    { schema: { tags, summary: 'List resource types' } },
    async (request) => ({
      resource_types: (await metadefs.listResourceTypes(callerOf(request))).map((t) => ({
        name: t.name,
        ...times(t),
      })),
    }),
  );

  // Namespaces

  app.get(BASE, { schema: { tags, summary: 'List the namespaces the caller can see' } }, async (request) => {
    const q = request.query as Json;
    const limit = parseLimit(oneString(q, 'limit'));
    const sortKey = (oneString(q, 'sort_key') ?? 'created_at') as NamespaceSortKey;
    if (!SORT_KEYS.includes(sortKey)) fail('ValidationFailed', `Invalid sort key: ${sortKey}`);
    const sortDir = oneString(q, 'sort_dir') ?? 'desc';
    if (sortDir !== 'asc' && sortDir !== 'desc')
      fail('ValidationFailed', `Invalid sort direction: ${sortDir}`);
    const visibility = oneString(q, 'visibility');
    if (visibility !== undefined && visibility !== 'public' && visibility !== 'private')
      fail('ValidationFailed', `Invalid visibility: ${visibility}`);
    const resourceTypes = oneString(q, 'resource_types')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const marker = oneString(q, 'marker');
    const page = await metadefs.listNamespaces(callerOf(request), {
      limit,
      marker,
      sortKey,
      sortDir: sortDir as 'asc' | 'desc',
      visibility: visibility as 'public' | 'private' | undefined,
      resourceTypes,
    });
    return present({
      namespaces: page.namespaces.map((n) => namespaceView(n.namespace, n.resourceTypes)),
      first: BASE,
      schema: '/v2/schemas/metadefs/namespaces',
      next:
        page.next === null
          ? undefined
          : `${BASE}?${new URLSearchParams({ ...(q as Record<string, string>), marker: page.next, limit: String(limit) })}`,
    });
  });

  app.post(
    BASE,
    {
      config: { audit: { operation: 'createMetadefNamespace', resourceType: 'metadefNamespace' } },
      schema: { tags, summary: 'Create a namespace (admin)' },
    },
    async (request, reply) => {
      const detail = await metadefs.createNamespace(callerOf(request), parseNamespaceCreate(request.body));
      return reply
        .code(201)
        .header('location', nsPath(detail.namespace.namespace))
        .send(namespaceDetailView(detail));
    },
  );

  app.get<NsParams>(
    `${BASE}/:namespace`,
    { schema: { tags, summary: 'Show a namespace and its content' } },
    async (request) => {
      const resourceType = oneString(request.query as Json, 'resource_type');
      return namespaceDetailView(
        await metadefs.getNamespace(callerOf(request), request.params.namespace, resourceType),
      );
    },
  );

  app.put<NsParams>(
    `${BASE}/:namespace`,
    { config: audited('updateMetadefNamespace'), schema: { tags, summary: 'Update a namespace (admin)' } },
    async (request) =>
      namespaceDetailView(
        await metadefs.updateNamespace(
          callerOf(request),
          request.params.namespace,
          parseNamespaceUpdate(request.body),
        ),
      ),
  );

  app.delete<NsParams>(
    `${BASE}/:namespace`,
    {
      config: audited('deleteMetadefNamespace'),
      schema: { tags, summary: 'Delete a namespace and its content (admin)' },
    },
    async (request, reply) => {
      await metadefs.deleteNamespace(callerOf(request), request.params.namespace);
      return reply.code(204).send();
    },
  );

  // Resource type associations

  app.get<NsParams>(
    `${BASE}/:namespace/resource_types`,
    { schema: { tags, summary: 'List resource type associations' } },
    async (request) => ({
      resource_type_associations: (
        await metadefs.listAssociations(callerOf(request), request.params.namespace)
      ).map(associationView),
    }),
  );

  app.post<NsParams>(
    `${BASE}/:namespace/resource_types`,
    {
      config: audited('createMetadefResourceTypeAssociation'),
      schema: { tags, summary: 'Associate a resource type (admin)' },
    },
    async (request, reply) => {
      const association = await metadefs.addAssociation(
        callerOf(request),
        request.params.namespace,
        parseAssociation(request.body),
      );
      return reply.code(201).send(associationView(association));
    },
  );

  app.delete<ItemParams>(
    `${BASE}/:namespace/resource_types/:item`,
    {
      config: audited('deleteMetadefResourceTypeAssociation'),
      schema: { tags, summary: 'Remove a resource type association (admin)' },
    },
    async (request, reply) => {
      await metadefs.removeAssociation(callerOf(request), request.params.namespace, request.params.item);
      return reply.code(204).send();
    },
  );

  // Properties

  app.get<NsParams>(
    `${BASE}/:namespace/properties`,
    { schema: { tags, summary: 'List property definitions' } },
    async (request) => ({
      properties: propertyMap(await metadefs.listProperties(callerOf(request), request.params.namespace)),
    }),
  );

  app.post<NsParams>(
    `${BASE}/:namespace/properties`,
    {
      config: audited('createMetadefProperty'),
      schema: { tags, summary: 'Create a property definition (admin)' },
    },
    async (request, reply) => {
      const created = await metadefs.createProperty(
        callerOf(request),
        request.params.namespace,
        parseProperty(request.body),
      );
      return reply.code(201).send(propertyView(created));
    },
  );

  app.get<ItemParams>(
    `${BASE}/:namespace/properties/:item`,
    { schema: { tags, summary: 'Show a property definition' } },
    async (request) => {
      const resourceType = oneString(request.query as Json, 'resource_type');
      return propertyView(
        await metadefs.getProperty(
          callerOf(request),
          request.params.namespace,
          request.params.item,
          resourceType,
        ),
      );
    },
  );

  app.put<ItemParams>(
    `${BASE}/:namespace/properties/:item`,
    {
      config: audited('updateMetadefProperty'),
      schema: { tags, summary: 'Replace a property definition (admin)' },
    },
    async (request) =>
      propertyView(
        await metadefs.updateProperty(
          callerOf(request),
          request.params.namespace,
          request.params.item,
          parseProperty(request.body),
        ),
      ),
  );

  // Objects

  app.get<NsParams>(
    `${BASE}/:namespace/objects`,
    { schema: { tags, summary: 'List objects' } },
    async (request) => ({
      objects: (await metadefs.listObjects(callerOf(request), request.params.namespace)).map((o) =>
        objectView(request.params.namespace, o),
      ),
      schema: '/v2/schemas/metadefs/objects',
    }),
  );

  app.post<NsParams>(
    `${BASE}/:namespace/objects`,
    { config: audited('createMetadefObject'), schema: { tags, summary: 'Create an object (admin)' } },
    async (request, reply) => {
      const created = await metadefs.createObject(
        callerOf(request),
        request.params.namespace,
        parseObject(request.body),
      );
      return reply.code(201).send(objectView(request.params.namespace, created));
    },
  );

  app.get<ItemParams>(
    `${BASE}/:namespace/objects/:item`,
    { schema: { tags, summary: 'Show an object' } },
    async (request) =>
      objectView(
        request.params.namespace,
        await metadefs.getObject(callerOf(request), request.params.namespace, request.params.item),
      ),
  );

  app.put<ItemParams>(
    `${BASE}/:namespace/objects/:item`,
    { config: audited('updateMetadefObject'), schema: { tags, summary: 'Replace an object (admin)' } },
    async (request) =>
      objectView(
        request.params.namespace,
        await metadefs.updateObject(
          callerOf(request),
          request.params.namespace,
          request.params.item,
          parseObject(request.body),
        ),
      ),
  );

  // Tags

  app.get<NsParams>(
    `${BASE}/:namespace/tags`,
    { schema: { tags, summary: 'List tags' } },
    async (request) => ({
      tags: (await metadefs.listTags(callerOf(request), request.params.namespace)).map(tagView),
    }),
  );

  app.post<NsParams>(
    `${BASE}/:namespace/tags`,
    {
      config: audited('createMetadefTags'),
      schema: { tags, summary: 'Create tags; replaces them unless X-Openstack-Append: true (admin)' },
    },
    async (request, reply) => {
      const append = String(request.headers['x-openstack-append'] ?? '').toLowerCase() === 'true';
      const created = await metadefs.createTags(
        callerOf(request),
        request.params.namespace,
        parseTagList(request.body),
        append,
      );
      return reply.code(201).send({ tags: created.map((t) => ({ name: t.name })) });
    },
  );

  app.post<ItemParams>(
    `${BASE}/:namespace/tags/:item`,
    { config: audited('createMetadefTag'), schema: { tags, summary: 'Create a tag (admin)' } },
    async (request, reply) => {
      const created = await metadefs.createTag(
        callerOf(request),
        request.params.namespace,
        checkName(request.params.item, 'tag'),
      );
      return reply.code(201).send(tagView(created));
    },
  );

  app.get<ItemParams>(
    `${BASE}/:namespace/tags/:item`,
    { schema: { tags, summary: 'Show a tag' } },
    async (request) =>
      tagView(await metadefs.getTag(callerOf(request), request.params.namespace, request.params.item)),
  );

  app.put<ItemParams>(
    `${BASE}/:namespace/tags/:item`,
    { config: audited('updateMetadefTag'), schema: { tags, summary: 'Rename a tag (admin)' } },
    async (request) =>
      tagView(
        await metadefs.renameTag(
          callerOf(request),
          request.params.namespace,
          request.params.item,
          parseTag(request.body),
        ),
      ),
  );

  // Removal of one item, or of all items of a kind

  for (const kind of ['properties', 'objects', 'tags'] as const) {
    app.delete<NsParams>(
      `${BASE}/:namespace/${kind}`,
      {
        config: audited(`deleteMetadef${PLURAL[kind]}`),
        schema: { tags, summary: `Delete all ${kind} (admin)` },
      },
      async (request, reply) => {
        await metadefs.deleteContent(callerOf(request), kind, request.params.namespace);
        return reply.code(204).send();
      },
    );
    app.delete<ItemParams>(
      `${BASE}/:namespace/${kind}/:item`,
      {
        config: audited(`deleteMetadef${SINGULAR[kind]}`),
        schema: { tags, summary: `Delete one of the ${kind} (admin)` },
      },
      async (request, reply) => {
        await metadefs.deleteContent(callerOf(request), kind, request.params.namespace, request.params.item);
        return reply.code(204).send();
      },
    );
  }
}
