import { PostgresAdapter, type Kysely, type Selectable } from 'kysely';
import type { Database } from './schema.ts';
import type { ImageMember } from '../../domain/member-rules.ts';
import type { Visibility } from '../../domain/image.ts';
import type { MemberStatus } from '../../domain/visibility.ts';

type MemberRow = Selectable<Database['image_members']>;

function toMember(row: MemberRow): ImageMember {
  return {
    imageId: row.image_id,
    memberId: row.member_id,
    status: row.status as MemberStatus,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The members of images (Glance's image_members): one row per image and member project. */
export class MemberRepository {
  /** PostgreSQL runs writers side by side; SQLite has one writer at a time and no FOR UPDATE. */
  private readonly rowLocks: boolean;

  constructor(private readonly db: Kysely<Database>) {
    this.rowLocks = db.getExecutor().adapter instanceof PostgresAdapter;
  }

  /**
   * Within a transaction, holds the image row until commit so that concurrent
   * additions are counted one after the other; returns the live image's
   * visibility, or null when it is gone.
   */
  async lockImage(imageId: string): Promise<Visibility | null> {
    let q = this.db
      .selectFrom('images')
      .select('visibility')
      .where('id', '=', imageId)
      .where('deleted', '=', 0);
    if (this.rowLocks) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    return (row?.visibility as Visibility | undefined) ?? null;
  }

  /** The image's members in the order they were added; with `onlyMember`, that one's entry at most. */
  async list(imageId: string, onlyMember?: string): Promise<ImageMember[]> {
    let q = this.db.selectFrom('image_members').selectAll().where('image_id', '=', imageId);
    if (onlyMember !== undefined) q = q.where('member_id', '=', onlyMember);
    const rows = await q.orderBy('created_at').orderBy('member_id').execute();
    return rows.map(toMember);
  }

  async find(imageId: string, memberId: string): Promise<ImageMember | null> {
    const row = await this.db
      .selectFrom('image_members')
      .selectAll()
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    return row ? toMember(row) : null;
  }

  async count(imageId: string): Promise<number> {
    const row = await this.db
      .selectFrom('image_members')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('image_id', '=', imageId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Adds the member; false when the image already has it (the row is left as it was). */
  async insert(member: ImageMember): Promise<boolean> {
    const res = await this.db
      .insertInto('image_members')
      .values({
        image_id: member.imageId,
        member_id: member.memberId,
        status: member.status,
        created_at: member.createdAt,
        updated_at: member.updatedAt,
      })
      .onConflict((oc) => oc.columns(['image_id', 'member_id']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Sets the member's status; null when the membership is gone. */
  async setStatus(
    imageId: string,
    memberId: string,
    status: MemberStatus,
    now: string,
  ): Promise<ImageMember | null> {
    const res = await this.db
      .updateTable('image_members')
      .set({ status, updated_at: now })
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return null;
    return this.find(imageId, memberId);
  }

  async remove(imageId: string, memberId: string): Promise<boolean> {
    const res = await this.db
      .deleteFrom('image_members')
      .where('image_id', '=', imageId)
      .where('member_id', '=', memberId)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}
