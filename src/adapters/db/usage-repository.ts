import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** What one project's live images take up. */
export interface ProjectUsageRow {
  imageCount: number;
  /** Bytes of data of its images that have data. */
  imageBytes: number;
  /** Images whose data is being written (upload or import in progress). */
  inProgressCount: number;
  /** Bytes of data of those images, as far as known. */
  inProgressBytes: number;
}

const IN_PROGRESS = ['saving', 'uploading', 'importing'];

/** Aggregates over a project's images, for Glance's /v2/info/usage. */
export class UsageRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async forProject(owner: string): Promise<ProjectUsageRow> {
    const rows = await this.db
      .selectFrom('images')
      .select((eb) => [
        'status',
        eb.fn.countAll<number>().as('n'),
        eb.fn.coalesce(eb.fn.sum<number>('size'), eb.val(0)).as('bytes'),
      ])
      .where('owner', '=', owner)
      .where('deleted', '=', 0)
      .groupBy('status')
      .execute();
    const usage: ProjectUsageRow = { imageCount: 0, imageBytes: 0, inProgressCount: 0, inProgressBytes: 0 };
    for (const r of rows) {
      const n = Number(r.n);
      const bytes = Number(r.bytes);
      usage.imageCount += n;
      usage.imageBytes += bytes;
      if (IN_PROGRESS.includes(r.status)) {
        usage.inProgressCount += n;
        usage.inProgressBytes += bytes;
      }
    }
    return usage;
  }
}
