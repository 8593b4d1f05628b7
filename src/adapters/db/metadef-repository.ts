import type { Insertable, Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { Database } from './schema.ts';
import type {
  MetadefObject,
  MetadefTag,
  MetadefVisibility,
  Namespace,
  PropertyDefinition,
  ResourceType,
  ResourceTypeAssociation,
} from '../../domain/metadefs.ts';

type NamespaceRow = Selectable<Database['metadef_namespaces']>;
type NamedContentTable = 'metadef_properties' | 'metadef_objects' | 'metadef_tags';

function toNamespace(row: NamespaceRow): Namespace {
  return {
    id: row.id,
    namespace: row.namespace,
    displayName: row.display_name,
    description: row.description,
    visibility: row.visibility as MetadefVisibility,
    protected: row.protected === 1,
    owner: row.owner,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function namespaceRow(ns: Namespace): NamespaceRow {
  return {
    id: ns.id,
    namespace: ns.namespace,
    display_name: ns.displayName,
    description: ns.description,
    visibility: ns.visibility,
    protected: ns.protected ? 1 : 0,
    owner: ns.owner,
    created_at: ns.createdAt,
    updated_at: ns.updatedAt,
  };
}

const parseJson = <T>(text: string | null, fallback: T): T => (text ? (JSON.parse(text) as T) : fallback);

/** Whether a write failed on a unique or primary key (both databases). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE'
  );
}

export type NamespaceSortKey = 'created_at' | 'updated_at' | 'namespace' | 'display_name';

export interface NamespaceQuery {
  /** Private namespaces of other projects are left out unless seesAll. */
  projectId: string;
  seesAll: boolean;
  visibility?: MetadefVisibility;
  resourceTypes?: string[];
  sortKey: NamespaceSortKey;
  sortDir: 'asc' | 'desc';
  limit: number;
  after?: Namespace;
}

/** Glance's metadata definitions: namespaces and, keyed by namespace id, their content. */
export class MetadefRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Runs the work in one transaction. */
  transaction<T>(work: (repo: MetadefRepository) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx: Transaction<Database>) => work(new MetadefRepository(trx)));
  }

  async findNamespace(name: string): Promise<Namespace | null> {
    const row = await this.db
      .selectFrom('metadef_namespaces')
      .selectAll()
      .where('namespace', '=', name)
      .executeTakeFirst();
    return row ? toNamespace(row) : null;
  }

  async listNamespaces(q: NamespaceQuery): Promise<Namespace[]> {
    let query = this.db.selectFrom('metadef_namespaces').selectAll();
    if (!q.seesAll) {
      query = query.where((eb) => eb.or([eb('visibility', '=', 'public'), eb('owner', '=', q.projectId)]));
    }
    if (q.visibility) query = query.where('visibility', '=', q.visibility);
    if (q.resourceTypes?.length) {
      const types = q.resourceTypes;
      query = query.where('id', 'in', (eb) =>
        eb
          .selectFrom('metadef_namespace_resource_types')
          .select('namespace_id')
          .where('resource_type', 'in', types),
      );
    }
    const { sortKey, sortDir, after } = q;
    if (after) {
      const op = sortDir === 'desc' ? '<' : '>';
      const key = namespaceRow(after)[sortKey] ?? '';
      query = query.where((eb) =>
        eb.or([
          eb(eb.fn.coalesce(sortKey, eb.val('')), op, key),
          eb.and([eb(eb.fn.coalesce(sortKey, eb.val('')), '=', key), eb('namespace', op, after.namespace)]),
        ]),
      );
    }
    const rows = await query
      .orderBy((eb) => eb.fn.coalesce(sortKey, eb.val('')), sortDir)
      .orderBy('namespace', sortDir)
      .limit(q.limit)
      .execute();
    return rows.map(toNamespace);
  }

  /** false when the name is taken. */
  async insertNamespace(ns: Namespace): Promise<boolean> {
    const res = await this.db
      .insertInto('metadef_namespaces')
      .values(namespaceRow(ns))
      .onConflict((oc) => oc.column('namespace').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async updateNamespace(ns: Namespace): Promise<void> {
    const { id, ...fields } = namespaceRow(ns);
    await this.db.updateTable('metadef_namespaces').set(fields).where('id', '=', id).execute();
  }

  /** Removes the namespace and everything in it. */
  async deleteNamespace(id: string): Promise<void> {
    for (const table of [
      'metadef_tags',
      'metadef_objects',
      'metadef_properties',
      'metadef_namespace_resource_types',
    ] as const) {
      await this.db.deleteFrom(table).where('namespace_id', '=', id).execute();
    }
    await this.db.deleteFrom('metadef_namespaces').where('id', '=', id).execute();
  }

  // Resource types and associations

  async listResourceTypes(): Promise<ResourceType[]> {
    const rows = await this.db.selectFrom('metadef_resource_types').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      protected: r.protected === 1,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /** Glance creates a resource type the first time an association names it. */
  async ensureResourceType(name: string, now: string): Promise<void> {
    await this.db
      .insertInto('metadef_resource_types')
      .values({ name, protected: 0, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }

  /** The associations of each namespace, by namespace id. */
  async associations(namespaceIds: string[]): Promise<Map<string, ResourceTypeAssociation[]>> {
    const byNamespace = new Map<string, ResourceTypeAssociation[]>(namespaceIds.map((id) => [id, []]));
    if (namespaceIds.length === 0) return byNamespace;
    const rows = await this.db
      .selectFrom('metadef_namespace_resource_types')
      .selectAll()
      .where('namespace_id', 'in', namespaceIds)
      .orderBy('created_at')
      .orderBy('resource_type')
      .execute();
    for (const r of rows) {
      byNamespace.get(r.namespace_id)!.push({
        name: r.resource_type,
        prefix: r.prefix,
        propertiesTarget: r.properties_target,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      });
    }
    return byNamespace;
  }

  /** false when the namespace already has this resource type. */
  async insertAssociation(namespaceId: string, a: ResourceTypeAssociation): Promise<boolean> {
    const res = await this.db
      .insertInto('metadef_namespace_resource_types')
      .values({
        namespace_id: namespaceId,
        resource_type: a.name,
        prefix: a.prefix,
        properties_target: a.propertiesTarget,
        created_at: a.createdAt,
        updated_at: a.updatedAt,
      })
      .onConflict((oc) => oc.columns(['namespace_id', 'resource_type']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async deleteAssociation(namespaceId: string, resourceType: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('metadef_namespace_resource_types')
      .where('namespace_id', '=', namespaceId)
      .where('resource_type', '=', resourceType)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  // Properties

  async listProperties(namespaceId: string): Promise<PropertyDefinition[]> {
    const rows = await this.db
      .selectFrom('metadef_properties')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .orderBy('name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      schema: parseJson(r.schema, {}),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /** false when the name is taken in the namespace. */
  insertProperty(namespaceId: string, p: PropertyDefinition): Promise<boolean> {
    return this.insertNamed('metadef_properties', {
      namespace_id: namespaceId,
      name: p.name,
      schema: JSON.stringify(p.schema),
      created_at: p.createdAt,
      updated_at: p.updatedAt,
    });
  }

  updateProperty(namespaceId: string, oldName: string, p: PropertyDefinition): Promise<void> {
    return this.updateNamed('metadef_properties', namespaceId, oldName, {
      name: p.name,
      schema: JSON.stringify(p.schema),
      updated_at: p.updatedAt,
    });
  }

  // Objects

  async listObjects(namespaceId: string): Promise<MetadefObject[]> {
    const rows = await this.db
      .selectFrom('metadef_objects')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .orderBy('name')
      .execute();
    return rows.map((r) => ({
      name: r.name,
      description: r.description,
      required: parseJson(r.required, []),
      properties: parseJson(r.properties, {}),
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  private objectRow(o: MetadefObject) {
    return {
      name: o.name,
      description: o.description,
      required: JSON.stringify(o.required),
      properties: JSON.stringify(o.properties),
      updated_at: o.updatedAt,
    };
  }

  insertObject(namespaceId: string, o: MetadefObject): Promise<boolean> {
    return this.insertNamed('metadef_objects', {
      namespace_id: namespaceId,
      ...this.objectRow(o),
      created_at: o.createdAt,
    });
  }

  updateObject(namespaceId: string, oldName: string, o: MetadefObject): Promise<void> {
    return this.updateNamed('metadef_objects', namespaceId, oldName, this.objectRow(o));
  }

  // Tags

  async listTags(namespaceId: string): Promise<MetadefTag[]> {
    const rows = await this.db
      .selectFrom('metadef_tags')
      .selectAll()
      .where('namespace_id', '=', namespaceId)
      .orderBy('created_at')
      .orderBy('name')
      .execute();
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, updatedAt: r.updated_at }));
  }

  insertTag(namespaceId: string, t: MetadefTag): Promise<boolean> {
    return this.insertNamed('metadef_tags', {
      namespace_id: namespaceId,
      name: t.name,
      created_at: t.createdAt,
      updated_at: t.updatedAt,
    });
  }

  renameTag(namespaceId: string, oldName: string, t: MetadefTag): Promise<void> {
    return this.updateNamed('metadef_tags', namespaceId, oldName, { name: t.name, updated_at: t.updatedAt });
  }

  /** Properties, objects and tags are unique by name within a namespace: false when the name is taken. */
  private async insertNamed<T extends NamedContentTable>(
    table: T,
    row: Insertable<Database[T]>,
  ): Promise<boolean> {
    const res = await this.db
      .insertInto(table as NamedContentTable)
      .values(row as Insertable<Database[NamedContentTable]>)
      .onConflict((oc) => oc.columns(['namespace_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  private async updateNamed<T extends NamedContentTable>(
    table: T,
    namespaceId: string,
    oldName: string,
    set: Updateable<Database[T]>,
  ): Promise<void> {
    await this.db
      .updateTable(table as NamedContentTable)
      .set(set as Updateable<Database[NamedContentTable]>)
      .where('namespace_id', '=', namespaceId)
      .where('name', '=', oldName)
      .execute();
  }

  /** Removes one named item of a kind (or, without a name, all of that kind) from the namespace. */
  async deleteContent(
    kind: 'properties' | 'objects' | 'tags',
    namespaceId: string,
    name?: string,
  ): Promise<number> {
    const table = `metadef_${kind}` as const;
    let q = this.db.deleteFrom(table).where('namespace_id', '=', namespaceId);
    if (name !== undefined) q = q.where('name', '=', name);
    const res = await q.executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
