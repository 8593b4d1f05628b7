import {
  PostgresAdapter,
  sql,
  type Expression,
  type ExpressionBuilder,
  type Kysely,
  type RawBuilder,
  type SqlBool,
} from 'kysely';
import type { Database } from './schema.ts';
import type { ImageStatus } from '../../domain/image-status.ts';
import type { ImageQuery } from '../../domain/image-query.ts';
import type { ListScope } from '../../domain/visibility.ts';
import { storedFormsOf, type ResourceQuery, type TagCondition } from '../../domain/tag-rules.ts';
import { filterConditions, visibilityCondition } from './image-repository.ts';

type EB = ExpressionBuilder<Database, 'images'>;

export interface TaggedResource {
  id: string;
  name: string | null;
  status: ImageStatus;
  tags: string[];
}

const parsed = <T>(value: unknown): T => (typeof value === 'string' ? JSON.parse(value) : value) as T;

/** The one tag store (image_tags) as the IMS tag APIs use it; strings as tag-rules.ts encodes them. */
export class TagRepository {
  private readonly postgres: boolean;
  private readonly tagsJson: RawBuilder<unknown>;

  constructor(private readonly db: Kysely<Database>) {
    this.postgres = db.getExecutor().adapter instanceof PostgresAdapter;
    this.tagsJson = this.postgres
      ? sql`(select coalesce(json_agg(t.tag order by t.tag collate "C"), '[]'::json) from image_tags t where t.image_id = images.id)`
      : sql`(select json_group_array(tag) from (select t.tag from image_tags t where t.image_id = images.id order by t.tag))`;
  }

  /**
   * Moves the image's updated_at and so holds its row until the transaction
   * ends: tag changes of one image run one after the other, and the count
   * limit holds under concurrency. False when the image is gone.
   */
  async lockImage(id: string, now: string): Promise<boolean> {
    const res = await this.db
      .updateTable('images')
      .set({ updated_at: now })
      .where('id', '=', id)
      .where('deleted', '=', 0)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async ofImage(id: string): Promise<string[]> {
    const rows = await this.db.selectFrom('image_tags').select('tag').where('image_id', '=', id).execute();
    return rows.map((r) => r.tag).sort();
  }

  /** Replaces the image's tag set by `next` (call with the image locked). */
  async replace(id: string, current: readonly string[], next: readonly string[]): Promise<void> {
    const gone = current.filter((t) => !next.includes(t));
    const added = next.filter((t) => !current.includes(t));
    if (gone.length) {
      await this.db.deleteFrom('image_tags').where('image_id', '=', id).where('tag', 'in', gone).execute();
    }
    if (added.length) {
      await this.db
        .insertInto('image_tags')
        .values(added.map((tag) => ({ image_id: id, tag })))
        .execute();
    }
  }

  /** Distinct tags of the images a project owns. */
  async ofProject(projectId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('image_tags')
      .innerJoin('images', 'images.id', 'image_tags.image_id')
      .select('image_tags.tag')
      .distinct()
      .where('images.owner', '=', projectId)
      .where('images.deleted', '=', 0)
      .execute();
    return rows.map((r) => r.tag).sort();
  }

  /** Distinct tags of the images a list query finds, a page of them in tag order. */
  async ofImagesListed(
    scope: ListScope,
    query: ImageQuery,
    page: { limit: number | null; offset: number },
  ): Promise<string[]> {
    let q = this.db
      .selectFrom('image_tags')
      .select('image_tags.tag')
      // GROUP BY, not DISTINCT: PostgreSQL orders a DISTINCT only by selected expressions.
      .where('image_tags.image_id', 'in', (eb) =>
        eb
          .selectFrom('images')
          .select('images.id')
          .where('images.deleted', '=', 0)
          .where((e) => visibilityCondition(e, scope))
          .where((e) => filterConditions(e, query, this.postgres)),
      )
      .groupBy('image_tags.tag')
      .orderBy(this.postgres ? sql`image_tags.tag collate "C"` : sql`image_tags.tag`)
      .offset(page.offset);
    // SQLite needs a LIMIT for an OFFSET; -1 is its "no limit".
    q = q.limit(page.limit ?? (this.postgres ? Number.MAX_SAFE_INTEGER : -1));
    const rows = await q.execute();
    return rows.map((r) => r.tag);
  }

  /** The images of a project that a resource query selects: the total and one page, newest first. */
  async findResources(
    projectId: string,
    query: ResourceQuery,
  ): Promise<{ total: number; resources: TaggedResource[] }> {
    const base = this.db
      .selectFrom('images')
      .where('images.owner', '=', projectId)
      .where('images.deleted', '=', 0)
      .where((eb) => this.resourceConditions(eb, query));
    const counted = await base
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .executeTakeFirstOrThrow();
    const total = Number(counted.n);
    if (query.action === 'count' || total === 0) return { total, resources: [] };
    const rows = await base
      .select(['images.id', 'images.name', 'images.status', this.tagsJson.as('tags_json')])
      .orderBy('images.created_at', 'desc')
      .orderBy('images.id', 'desc')
      .limit(query.limit)
      .offset(query.offset)
      .execute();
    return {
      total,
      resources: rows.map((r) => ({
        id: r.id,
        name: r.name,
        status: r.status as ImageStatus,
        tags: parsed<string[]>(r.tags_json),
      })),
    };
  }

  private resourceConditions(eb: EB, query: ResourceQuery): Expression<SqlBool> {
    const all: Expression<SqlBool>[] = [];
    if (query.withoutAnyTag) {
      all.push(
        eb.not(
          eb.exists(
            eb
              .selectFrom('image_tags')
              .select('image_tags.image_id')
              .whereRef('image_tags.image_id', '=', 'images.id'),
          ),
        ),
      );
    } else {
      const has = (c: TagCondition) => this.hasTag(eb, c);
      if (query.tags.length) all.push(eb.and(query.tags.map(has)));
      if (query.tagsAny.length) all.push(eb.or(query.tagsAny.map(has)));
      if (query.notTags.length) all.push(eb.not(eb.and(query.notTags.map(has))));
      if (query.notTagsAny.length) all.push(eb.not(eb.or(query.notTagsAny.map(has))));
    }
    for (const m of query.matches) {
      if (m.key === 'resource_id') all.push(eb('images.id', '=', m.value));
      else if (m.value === '') all.push(eb('images.name', '=', ''));
      else all.push(this.nameContains(m.value));
    }
    return eb.and(all);
  }

  /** Whether the image has the key with one of the values (any value when none is listed). */
  private hasTag(eb: EB, condition: TagCondition): Expression<SqlBool> {
    const { exact, anyValueOf } = storedFormsOf(condition);
    let sub = eb
      .selectFrom('image_tags')
      .select('image_tags.image_id')
      .whereRef('image_tags.image_id', '=', 'images.id');
    if (anyValueOf !== null) {
      const prefix = `${anyValueOf}=`;
      // substr, not LIKE: keys may hold `_`, and SQLite's LIKE ignores case.
      sub = sub.where((e) =>
        e.or([
          e('image_tags.tag', '=', anyValueOf),
          e(sql`substr(image_tags.tag, 1, ${[...prefix].length})`, '=', prefix),
        ]),
      );
    } else {
      sub = sub.where('image_tags.tag', 'in', exact);
    }
    return eb.exists(sub);
  }

  /** Case-sensitive substring match on the name, the same on both databases. */
  private nameContains(fragment: string): RawBuilder<SqlBool> {
    return this.postgres
      ? sql<SqlBool>`strpos(images.name, ${fragment}) > 0`
      : sql<SqlBool>`instr(images.name, ${fragment}) > 0`;
  }
}
