import {
  PostgresAdapter,
  sql,
  type RawBuilder,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type Selectable,
  type SelectQueryBuilder,
  type SqlBool,
} from 'kysely';
import type { Database } from './schema.ts';
import { QueryTemplates } from './query-templates.ts';
import type { Image, Visibility } from '../../domain/image.ts';
import type { ImageStatus } from '../../domain/image-status.ts';
import type { ImageFields } from '../../domain/image-rules.ts';
import type { ColumnFilter, Condition, ImageQuery, SortSpec, TimeFilter } from '../../domain/image-query.ts';
import type { ListScope, MemberStatus } from '../../domain/visibility.ts';

type ImageRow = Selectable<Database['images']>;
type EB = ExpressionBuilder<Database, 'images'>;

/** What a committed upload sets on the image row. */
export interface ImageData {
  blobId: string;
  size: number;
  virtualSize: number | null;
  checksum: string;
  osHashAlgo: string;
  osHashValue: string;
}

const SORT_COLUMNS = {
  name: 'name',
  status: 'status',
  container_format: 'container_format',
  disk_format: 'disk_format',
  size: 'size',
  id: 'id',
  created_at: 'created_at',
  updated_at: 'updated_at',
  min_disk: 'min_disk',
  min_ram: 'min_ram',
  virtual_size: 'virtual_size',
  visibility: 'visibility',
  owner: 'owner',
} as const satisfies Record<SortSpec['key'], keyof ImageRow>;

/** Sort columns that never hold null (schema.ts / migration 0001). */
const NOT_NULL_SORT_COLUMNS = new Set<string>([
  'id',
  'status',
  'visibility',
  'owner',
  'created_at',
  'updated_at',
  'min_disk',
  'min_ram',
]);

/** UTF-16 order: byte order (`collate "C"`, SQLite binary) for the ASCII names stores have. */
const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

type ImageRowWithDetails = ImageRow & {
  tags_json: unknown;
  properties_json: unknown;
  stores_json: unknown;
  has_members?: unknown;
};

// SQLite hands JSON back as text, PostgreSQL as parsed values.
const parsed = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

function toImage(row: ImageRowWithDetails, memberFlag = false): Image {
  return imageOf(
    row,
    parsed<string[]>(row.tags_json),
    parsed<Record<string, string>>(row.properties_json),
    parsed<string[] | null>(row.stores_json) ?? [],
    // SQLite answers 0/1, PostgreSQL a boolean.
    memberFlag ? Boolean(row.has_members) : undefined,
  );
}

/**
 * An image from its row and its details. A list builds 500 of these per page: straight from
 * the row, with no merged copy of it (spreading a driver's row object cost more than the rest).
 */
function imageOf(
  row: ImageRow,
  tags: string[],
  properties: Record<string, string>,
  stores: string[],
  hasMembers: boolean | undefined,
): Image {
  const image: Image = {
    id: row.id,
    name: row.name,
    status: row.status as ImageStatus,
    visibility: row.visibility as Visibility,
    owner: row.owner,
    protected: Boolean(row.protected),
    osHidden: Boolean(row.os_hidden),
    containerFormat: row.container_format,
    diskFormat: row.disk_format,
    size: row.size,
    virtualSize: row.virtual_size,
    checksum: row.checksum,
    osHashAlgo: row.os_hash_algo,
    osHashValue: row.os_hash_value,
    minDisk: row.min_disk,
    minRam: row.min_ram,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    blobId: row.blob_id,
    tags,
    properties,
    stores,
    enterpriseProjectId: row.enterprise_project_id,
  };
  if (hasMembers !== undefined) image.hasMembers = hasMembers;
  return image;
}

function fieldColumns(fields: ImageFields) {
  return {
    name: fields.name,
    visibility: fields.visibility,
    owner: fields.owner,
    protected: fields.protected ? 1 : 0,
    os_hidden: fields.osHidden ? 1 : 0,
    container_format: fields.containerFormat,
    disk_format: fields.diskFormat,
    min_disk: fields.minDisk,
    min_ram: fields.minRam,
    enterprise_project_id: fields.enterpriseProjectId,
  };
}

/** Images, their tags, properties and members in the service database. */
export class ImageRepository {
  /** Tags and properties come with each image row, aggregated as JSON by the database. */
  private readonly tagsJson: RawBuilder<unknown>;
  private readonly propertiesJson: RawBuilder<unknown>;
  /** The stores holding the image's data: its blob's and its replicas' (Glance's `stores`). */
  private readonly storesJson: RawBuilder<unknown>;
  private readonly postgres: boolean;
  private readonly templates: QueryTemplates;
  /** One image's tags (a JSON array in byte order) and properties (an object), grouped by image. */
  private readonly tagsAgg: RawBuilder<unknown>;
  private readonly propertiesAgg: RawBuilder<unknown>;

  constructor(private readonly db: Kysely<Database>) {
    this.postgres = db.getExecutor().adapter instanceof PostgresAdapter;
    this.templates = new QueryTemplates(db);
    // Aggregate ORDER BY: SQLite 3.44 and later (better-sqlite3 12 bundles 3.49 or later).
    this.tagsAgg = this.postgres
      ? sql`json_agg(tag order by tag collate "C")`
      : sql`json_group_array(tag order by tag)`;
    this.propertiesAgg = this.postgres
      ? sql`json_object_agg(name, value)`
      : sql`json_group_object(name, value)`;
    if (this.postgres) {
      this.tagsJson = sql`(select coalesce(json_agg(t.tag order by t.tag collate "C"), '[]'::json) from image_tags t where t.image_id = images.id)`;
      this.propertiesJson = sql`(select coalesce(json_object_agg(p.name, p.value), '{}'::json) from image_properties p where p.image_id = images.id)`;
      this.storesJson = sql`(select coalesce(json_agg(s.store order by s.store collate "C"), '[]'::json) from (select b.store from blobs b where b.id = images.blob_id union select r.store from image_replicas r where r.image_id = images.id) s)`;
    } else {
      this.tagsJson = sql`(select json_group_array(tag) from (select t.tag from image_tags t where t.image_id = images.id order by t.tag))`;
      this.propertiesJson = sql`(select json_group_object(p.name, p.value) from image_properties p where p.image_id = images.id)`;
      this.storesJson = sql`(select json_group_array(store) from (select b.store as store from blobs b where b.id = images.blob_id union select r.store from image_replicas r where r.image_id = images.id order by 1))`;
    }
  }

  private selectImages() {
    return this.db
      .selectFrom('images')
      .selectAll()
      .select([
        this.tagsJson.as('tags_json'),
        this.propertiesJson.as('properties_json'),
        this.storesJson.as('stores_json'),
      ])
      .where('deleted', '=', 0);
  }

  async insert(id: string, fields: ImageFields, status: ImageStatus, now: string): Promise<Image> {
    await this.db
      .insertInto('images')
      .values({
        id,
        ...fieldColumns(fields),
        status,
        created_at: now,
        updated_at: now,
        deleted_at: null,
        blob_id: null,
        size: null,
        virtual_size: null,
        checksum: null,
        os_hash_algo: null,
        os_hash_value: null,
      })
      .execute();
    await this.replaceTagsAndProperties(id, fields);
    return (await this.find(id))!;
  }

  /** Whether an id was ever used, deleted images included (Glance never reuses ids). */
  async idTaken(id: string): Promise<boolean> {
    const row = await this.db.selectFrom('images').select('id').where('id', '=', id).executeTakeFirst();
    return row !== undefined;
  }

  async find(id: string): Promise<Image | null> {
    // Most requests read one image by id: that query is built once (query-templates.ts).
    const [row] = await this.templates.rows('find', { id }, (p) =>
      this.selectImages().where('id', '=', p.id),
    );
    return row ? toImage(row) : null;
  }

  async membership(imageId: string, projectId: string): Promise<MemberStatus | null> {
    const row = await this.db
      .selectFrom('image_members')
      .select('status')
      .where('image_id', '=', imageId)
      .where('member_id', '=', projectId)
      .executeTakeFirst();
    return (row?.status as MemberStatus | undefined) ?? null;
  }

  /** Whether anyone is a member of the image, in any status (IMS calls such an image shared). */
  async hasMembers(imageId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('image_members')
      .select('image_id')
      .where('image_id', '=', imageId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Writes the settable fields; succeeds only if the row is still as it was read. */
  async update(image: Image, fields: ImageFields, now: string): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ ...fieldColumns(fields), updated_at: now })
      .where('id', '=', image.id)
      .where('deleted', '=', 0)
      .where('updated_at', '=', image.updatedAt)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    await this.replaceTagsAndProperties(image.id, fields);
    return true;
  }

  /** The conditional status change every transition goes through. */
  async transition(
    id: string,
    from: readonly ImageStatus[],
    to: ImageStatus,
    now: string,
    data?: ImageData | null,
  ): Promise<boolean> {
    let q = this.db.updateTable('images').set({ status: to, updated_at: now });
    if (data) {
      q = q.set({
        blob_id: data.blobId,
        size: data.size,
        virtual_size: data.virtualSize,
        checksum: data.checksum,
        os_hash_algo: data.osHashAlgo,
        os_hash_value: data.osHashValue,
      });
    }
    const res = await q
      .where('id', '=', id)
      .where('deleted', '=', 0)
      .where('status', 'in', [...from])
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /**
   * Sets (or, with null, removes) properties only the service writes (os_glance_*), moving
   * updated_at; the image must not be deleted. Returns false when it is.
   */
  async setServiceProperties(
    id: string,
    props: Record<string, string | null>,
    now: string,
  ): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ updated_at: now })
      .where('id', '=', id)
      .where('deleted', '=', 0)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return false;
    for (const [name, value] of Object.entries(props)) {
      await this.db
        .deleteFrom('image_properties')
        .where('image_id', '=', id)
        .where('name', '=', name)
        .execute();
      if (value !== null)
        await this.db.insertInto('image_properties').values({ image_id: id, name, value }).execute();
    }
    return true;
  }

  /** A conversion changed what the data is. */
  async setDiskFormat(id: string, diskFormat: string): Promise<void> {
    await this.db.updateTable('images').set({ disk_format: diskFormat }).where('id', '=', id).execute();
  }

  async markDeleted(id: string, now: string): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ status: 'deleted', deleted: 1, deleted_at: now, updated_at: now, blob_id: null })
      .where('id', '=', id)
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Ids of images stuck in `saving`, e.g. after a crash of the process that received them. */
  async idsInStatus(status: ImageStatus): Promise<string[]> {
    const rows = await this.db
      .selectFrom('images')
      .select('id')
      .where('status', '=', status)
      .where('deleted', '=', 0)
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * One page of images. On SQLite the page's rows come first, then their tags, properties,
   * stores and (for IMS) member flags in one query each. On PostgreSQL one statement does it
   * all: the page is a derived table (its LIMIT keeps it from being merged into the outer
   * query), and the details are correlated subqueries of the outer select list, so they run
   * for the page's rows only, each an index lookup. That spares four statements with a
   * 500-element id array to bind and plan, and four round trips; correlated subqueries in the
   * page query itself would run for every matching row before the sort and limit.
   */
  async list(scope: ListScope, query: ImageQuery, marker: Image | null): Promise<Image[]> {
    let q = this.db
      .selectFrom('images')
      .selectAll()
      .where('deleted', '=', 0)
      .where((eb) => visibilityCondition(eb, scope));
    q = q.where((eb) => filterConditions(eb, query, this.postgres));
    if (marker) q = q.where((eb) => afterMarker(eb, query.sort, marker));
    const memberFlag = query.withMemberFlag === true;
    if (!this.postgres) {
      const rows = await sorted(q, query.sort).limit(query.limit).execute();
      return this.withDetails(rows, memberFlag);
    }
    const page = sorted(q, query.sort).limit(query.limit).as('images');
    const details = this.db
      .selectFrom(page)
      .selectAll('images')
      .select([
        this.tagsJson.as('tags_json'),
        this.propertiesJson.as('properties_json'),
        // Two lookups rather than storesJson's union, sort and distinct for every row.
        BLOB_STORE.as('blob_store'),
        REPLICA_STORES.as('replica_stores'),
        (memberFlag ? HAS_MEMBERS : NO_FLAG).as('has_members'),
      ]);
    const rows = await sorted(details, query.sort).execute();
    return rows.map((row) =>
      imageOf(
        row,
        parsed<string[]>(row.tags_json),
        parsed<Record<string, string>>(row.properties_json),
        storesOf(row.blob_store ?? undefined, row.replica_stores ?? []),
        memberFlag ? Boolean(row.has_members) : undefined,
      ),
    );
  }

  /**
   * Rows with their tags, properties and stores, loaded for all of them at once. Tags and
   * properties come aggregated per image (one JSON value each): better-sqlite3 builds a
   * row object twice as slowly as JSON.parse builds the same pairs.
   */
  private async withDetails(rows: ImageRow[], memberFlag: boolean): Promise<Image[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const blobIds = [...new Set(rows.flatMap((r) => (r.blob_id ? [r.blob_id] : [])))];
    const [tagRows, propertyRows, replicaRows, blobRows, memberRows] = await Promise.all([
      this.db
        .selectFrom('image_tags')
        .select(['image_id', this.tagsAgg.as('tags_json')])
        .where(this.idIn('image_id', ids))
        .groupBy('image_id')
        .execute(),
      this.db
        .selectFrom('image_properties')
        .select(['image_id', this.propertiesAgg.as('properties_json')])
        .where(this.idIn('image_id', ids))
        .groupBy('image_id')
        .execute(),
      this.db
        .selectFrom('image_replicas')
        .select(['image_id', 'store'])
        .where(this.idIn('image_id', ids))
        .execute(),
      blobIds.length
        ? this.db.selectFrom('blobs').select(['id', 'store']).where(this.idIn('id', blobIds)).execute()
        : [],
      memberFlag
        ? this.db
            .selectFrom('image_members')
            .select('image_id')
            .distinct()
            .where(this.idIn('image_id', ids))
            .execute()
        : [],
    ]);
    const tags = new Map(tagRows.map((t) => [t.image_id, t.tags_json]));
    const properties = new Map(propertyRows.map((p) => [p.image_id, p.properties_json]));
    const blobStore = new Map(blobRows.map((b) => [b.id, b.store]));
    const replicas = new Map<string, string[]>();
    for (const r of replicaRows) {
      const list = replicas.get(r.image_id);
      if (list) list.push(r.store);
      else replicas.set(r.image_id, [r.store]);
    }
    const withMembers = new Set(memberRows.map((m) => m.image_id));
    return rows.map((row) =>
      imageOf(
        row,
        parsed<string[]>(tags.get(row.id) ?? []),
        parsed<Record<string, string>>(properties.get(row.id) ?? {}),
        storesOf(row.blob_id ? blobStore.get(row.blob_id) : undefined, replicas.get(row.id) ?? []),
        memberFlag ? withMembers.has(row.id) : undefined,
      ),
    );
  }

  /**
   * `column` is one of `ids`, with one bound parameter whatever their number: the
   * statement text stays the same, so SQLite's prepared-statement cache keeps it.
   */
  private idIn(column: 'image_id' | 'id', ids: string[]): RawBuilder<SqlBool> {
    return this.postgres
      ? sql<SqlBool>`${sql.ref(column)} = any(cast(${ids} as text[]))`
      : sql<SqlBool>`${sql.ref(column)} in (select value from json_each(${JSON.stringify(ids)}))`;
  }

  private async touch(id: string, now: string): Promise<void> {
    await this.db.updateTable('images').set({ updated_at: now }).where('id', '=', id).execute();
  }

  private async replaceTagsAndProperties(id: string, fields: ImageFields): Promise<void> {
    await this.db.deleteFrom('image_tags').where('image_id', '=', id).execute();
    await this.db.deleteFrom('image_properties').where('image_id', '=', id).execute();
    if (fields.tags.length) {
      await this.db
        .insertInto('image_tags')
        .values(fields.tags.map((tag) => ({ image_id: id, tag })))
        .execute();
    }
    const props = Object.entries(fields.properties);
    if (props.length) {
      await this.db
        .insertInto('image_properties')
        .values(props.map(([name, value]) => ({ image_id: id, name, value })))
        .execute();
    }
  }
}

/** The stores holding an image's data, as the single-image query answers: distinct, in byte order. */
function storesOf(own: string | undefined, copies: string[]): string[] {
  const stores = own === undefined ? copies : [own, ...copies];
  return stores.length > 1 ? [...new Set(stores)].sort(byteOrder) : stores;
}

/** The store of the image's own blob, and those of its replicas (rows of the query's `images`). */
const BLOB_STORE: RawBuilder<string | null> = sql`(select b.store from blobs b where b.id = images.blob_id)`;
const REPLICA_STORES: RawBuilder<string[] | null> =
  sql`(select array_agg(r.store) from image_replicas r where r.image_id = images.id)`;

/** Whether the image (a row of the query's `images`) has members: IMS's list shows it. */
const HAS_MEMBERS: RawBuilder<boolean | null> =
  sql`exists (select 1 from image_members m where m.image_id = images.id)`;
const NO_FLAG: RawBuilder<boolean | null> = sql`null`;

/**
 * The list's order. One null order on both databases: nulls come first when ascending. A NOT
 * NULL column needs no null order, and without one both databases can walk an index.
 */
function sorted<DB, TB extends keyof DB, O>(
  q: SelectQueryBuilder<DB, TB, O>,
  sort: SortSpec[],
): SelectQueryBuilder<DB, TB, O> {
  let out = q;
  for (const s of sort) {
    const name = SORT_COLUMNS[s.key];
    const col = sql.ref(name);
    out = NOT_NULL_SORT_COLUMNS.has(name)
      ? out.orderBy(col, s.dir)
      : out.orderBy(col, (ob) => (s.dir === 'asc' ? ob.asc().nullsFirst() : ob.desc().nullsLast()));
  }
  return out;
}

function memberOf(eb: EB, projectId: string, status: MemberStatus | 'all'): Expression<SqlBool> {
  let sub = eb
    .selectFrom('image_members')
    .select('image_members.image_id')
    .whereRef('image_members.image_id', '=', 'images.id')
    .where('image_members.member_id', '=', projectId);
  if (status !== 'all') sub = sub.where('image_members.status', '=', status);
  return eb.exists(sub);
}

/**
 * Shared with the project: its own member row in the status, or (sharing by
 * account and organization, domain/sharing.ts) a grant reaching it, with its
 * answer row in the status (no answer row: pending).
 */
function sharedWith(eb: EB, scope: ListScope): Expression<SqlBool> {
  const direct = memberOf(eb, scope.projectId, scope.memberStatus);
  const keys = scope.grantKeys ?? [];
  if (keys.length === 0) return direct;
  const grant = eb.exists(
    eb
      .selectFrom('image_members as g')
      .select('g.image_id')
      .whereRef('g.image_id', '=', 'images.id')
      .where('g.member_id', 'in', keys)
      .where('g.member_type', '!=', 'project'),
  );
  if (scope.memberStatus === 'all') return eb.or([direct, grant]);
  const answers = eb
    .selectFrom('image_member_answers as a')
    .select('a.image_id')
    .whereRef('a.image_id', '=', 'images.id')
    .where('a.project_id', '=', scope.projectId);
  const answered =
    scope.memberStatus === 'pending'
      ? eb.not(eb.exists(answers.where('a.status', '!=', 'pending')))
      : eb.exists(answers.where('a.status', '=', scope.memberStatus));
  return eb.or([direct, eb.and([grant, answered])]);
}

/** Glance's list visibility rules (domain/visibility.ts) as a condition. */
export function visibilityCondition(eb: EB, scope: ListScope): Expression<SqlBool> {
  const own = eb('images.owner', '=', scope.projectId);
  const sharedWithMe = eb.and([eb('images.visibility', '=', 'shared'), sharedWith(eb, scope)]);
  const anything = sql<SqlBool>`1 = 1`;
  switch (scope.visibility) {
    case null:
      if (scope.admin) return eb('images.visibility', '!=', 'community');
      return eb.or([own, eb('images.visibility', '=', 'public'), sharedWithMe]);
    case 'all':
      if (scope.admin) return anything;
      return eb.or([own, eb('images.visibility', 'in', ['public', 'community']), sharedWithMe]);
    case 'public':
    case 'community':
      return eb('images.visibility', '=', scope.visibility);
    case 'private':
      return eb.and([eb('images.visibility', '=', 'private'), scope.admin ? anything : own]);
    case 'shared': {
      const mine = scope.admin ? anything : own;
      return eb.and([eb('images.visibility', '=', 'shared'), eb.or([mine, sharedWith(eb, scope)])]);
    }
  }
}

/**
 * Times are shown to the second, so they are compared to the second: `gt` a
 * shown `created_at` excludes that image, though it is stored with milliseconds.
 */
function timeConditions(eb: EB, column: 'images.created_at' | 'images.updated_at', filters: TimeFilter[]) {
  return filters.map((f) => {
    const start = `${f.value.slice(0, 19)}.000Z`;
    const next = new Date(Date.parse(start) + 1000).toISOString();
    switch (f.op) {
      case 'gt':
        return eb(column, '>=', next);
      case 'gte':
        return eb(column, '>=', start);
      case 'lt':
        return eb(column, '<', start);
      case 'lte':
        return eb(column, '<', next);
      case 'eq':
        return eb.and([eb(column, '>=', start), eb(column, '<', next)]);
      case 'neq':
        return eb.or([eb(column, '<', start), eb(column, '>=', next)]);
    }
  });
}

function hasMembers(eb: EB) {
  return eb.exists(
    eb
      .selectFrom('image_members')
      .select('image_members.image_id')
      .whereRef('image_members.image_id', '=', 'images.id'),
  );
}

function property(eb: EB, name: string) {
  return eb
    .selectFrom('image_properties')
    .select('image_properties.image_id')
    .whereRef('image_properties.image_id', '=', 'images.id')
    .where('image_properties.name', '=', name);
}

/** The digits-only value of a property as an integer, else null (on both databases). */
function integerValue(postgres: boolean): RawBuilder<number | null> {
  return postgres
    ? sql`case when image_properties.value ~ '^[0-9]{1,15}$' then cast(image_properties.value as bigint) end`
    : sql`case when image_properties.value <> '' and image_properties.value not glob '*[^0-9]*' and length(image_properties.value) <= 15 then cast(image_properties.value as integer) end`;
}

/** A domain condition (image-query.ts) as SQL. */
function conditionSql(eb: EB, c: Condition, postgres: boolean): Expression<SqlBool> {
  if ('has' in c) return eb.exists(property(eb, c.has).where('image_properties.value', 'in', c.in));
  if ('lacks' in c) return eb.not(eb.exists(property(eb, c.lacks)));
  if ('propertyAtLeast' in c)
    return eb.exists(property(eb, c.propertyAtLeast).where(integerValue(postgres), '>=', c.value));
  if ('hasMembers' in c) return hasMembers(eb);
  if ('column' in c) {
    const col = `images.${c.column}` as const;
    // Null-safe: "not iso" holds for an image without a disk format.
    if (c.op === '!=') return eb.or([eb(col, '!=', c.value), eb(col, 'is', null)]);
    return eb(col, c.op, c.value);
  }
  if ('not' in c) return eb.not(conditionSql(eb, c.not, postgres));
  if ('and' in c)
    return c.and.length ? eb.and(c.and.map((x) => conditionSql(eb, x, postgres))) : sql<SqlBool>`1 = 1`;
  return c.or.length ? eb.or(c.or.map((x) => conditionSql(eb, x, postgres))) : sql<SqlBool>`1 = 0`;
}

export function filterConditions(eb: EB, query: ImageQuery, postgres: boolean): Expression<SqlBool> {
  const f = query.filters;
  const all: Expression<SqlBool>[] = [];
  if (f.ids) all.push(eb('images.id', 'in', f.ids.length ? f.ids : ['']));
  if (f.names) all.push(eb('images.name', 'in', f.names.length ? f.names : ['']));
  if (f.statuses) all.push(eb('images.status', 'in', f.statuses));
  if (f.containerFormats) all.push(eb('images.container_format', 'in', f.containerFormats));
  if (f.diskFormats) all.push(eb('images.disk_format', 'in', f.diskFormats));
  if (f.owner !== undefined) all.push(eb('images.owner', '=', f.owner));
  if (f.sizeMin !== undefined) all.push(eb('images.size', '>=', f.sizeMin));
  if (f.sizeMax !== undefined) all.push(eb('images.size', '<=', f.sizeMax));
  if (f.protected !== undefined) all.push(eb('images.protected', '=', f.protected ? 1 : 0));
  if (f.enterpriseProjectId !== undefined)
    all.push(eb('images.enterprise_project_id', '=', f.enterpriseProjectId));
  for (const c of f.conditions) all.push(conditionSql(eb, c, postgres));
  for (const [column, value] of Object.entries(f.columns)) {
    all.push(eb(`images.${column as ColumnFilter}`, '=', value));
  }
  all.push(eb('images.os_hidden', '=', f.osHidden ? 1 : 0));
  all.push(...timeConditions(eb, 'images.created_at', f.createdAt));
  all.push(...timeConditions(eb, 'images.updated_at', f.updatedAt));
  for (const tag of f.tags) {
    all.push(
      eb.exists(
        eb
          .selectFrom('image_tags')
          .select('image_tags.image_id')
          .whereRef('image_tags.image_id', '=', 'images.id')
          .where('image_tags.tag', '=', tag),
      ),
    );
  }
  for (const [name, value] of Object.entries(f.properties)) {
    all.push(
      eb.exists(
        eb
          .selectFrom('image_properties')
          .select('image_properties.image_id')
          .whereRef('image_properties.image_id', '=', 'images.id')
          .where('image_properties.name', '=', name)
          .where('image_properties.value', '=', value),
      ),
    );
  }
  return eb.and(all);
}

function markerValue(marker: Image, key: SortSpec['key']): string | number | null {
  const row: Record<SortSpec['key'], string | number | null> = {
    name: marker.name,
    status: marker.status,
    container_format: marker.containerFormat,
    disk_format: marker.diskFormat,
    size: marker.size,
    id: marker.id,
    created_at: marker.createdAt,
    updated_at: marker.updatedAt,
    min_disk: marker.minDisk,
    min_ram: marker.minRam,
    virtual_size: marker.virtualSize,
    visibility: marker.visibility,
    owner: marker.owner,
  };
  return row[key];
}

/**
 * Keyset paging: rows strictly after the marker in the sort order, with nulls
 * first when ascending and last when descending (the order `list` uses).
 */
function afterMarker(eb: EB, sort: SortSpec[], marker: Image): Expression<SqlBool> {
  const ors: Expression<SqlBool>[] = [];
  for (let i = 0; i < sort.length; i++) {
    const ands: Expression<SqlBool>[] = [];
    for (let j = 0; j < i; j++) {
      const { key } = sort[j]!;
      const v = markerValue(marker, key);
      const col = `images.${SORT_COLUMNS[key]}` as const;
      ands.push(v === null ? eb(col, 'is', null) : eb(col, '=', v));
    }
    const { key, dir } = sort[i]!;
    const v = markerValue(marker, key);
    const col = `images.${SORT_COLUMNS[key]}` as const;
    if (dir === 'asc') {
      ands.push(v === null ? eb(col, 'is not', null) : eb(col, '>', v));
    } else {
      if (v === null) continue;
      ands.push(eb.or([eb(col, '<', v), eb(col, 'is', null)]));
    }
    ors.push(eb.and(ands));
  }
  return ors.length ? eb.or(ors) : sql<SqlBool>`1 = 0`;
}
