import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** A multipart upload IMS started in a tenant's bucket, and the job that started it. */
export interface UserUpload {
  uploadId: string;
  bucket: string;
  key: string;
  jobId: string;
  startedAt: string;
}

type Row = Database['user_uploads'];
const toUpload = (r: Row): UserUpload => ({
  uploadId: r.upload_id,
  bucket: r.bucket,
  key: r.object_key,
  jobId: r.job_id,
  startedAt: r.started_at,
});

/**
 * The multipart uploads exports started in the tenants' object store, recorded
 * before their first part: after a crash they are found here and aborted, and
 * only these, never an upload a tenant started in its own bucket.
 */
export class UserUploadRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async record(upload: UserUpload): Promise<void> {
    await this.db
      .insertInto('user_uploads')
      .values({
        upload_id: upload.uploadId,
        bucket: upload.bucket,
        object_key: upload.key,
        job_id: upload.jobId,
        started_at: upload.startedAt,
      })
      .onConflict((oc) => oc.column('upload_id').doNothing())
      .execute();
  }

  async forget(uploadId: string): Promise<void> {
    await this.db.deleteFrom('user_uploads').where('upload_id', '=', uploadId).execute();
  }

  async ofJob(jobId: string): Promise<UserUpload[]> {
    const rows = await this.db.selectFrom('user_uploads').selectAll().where('job_id', '=', jobId).execute();
    return rows.map(toUpload);
  }

  /** Uploads whose job has ended or is gone: nobody will complete them any more. */
  async orphaned(): Promise<UserUpload[]> {
    const rows = await this.db
      .selectFrom('user_uploads')
      .leftJoin('jobs', 'jobs.id', 'user_uploads.job_id')
      .selectAll('user_uploads')
      .where((eb) => eb.or([eb('jobs.id', 'is', null), eb('jobs.status', 'not in', ['INIT', 'RUNNING'])]))
      .execute();
    return rows.map(toUpload);
  }
}
