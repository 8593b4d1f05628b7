import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { BlobWriter } from '../adapters/storage/blob-store.ts';
import type { UserObjectStore } from '../adapters/storage/user-object-store.ts';

/** A writer into a tenant's bucket whose multipart upload is recorded for its job. */
export interface RecordedWriter {
  writer: BlobWriter;
  /** After commit: the upload is an object now, nothing to abort. */
  completed(): Promise<void>;
  /** Aborts the upload; its record stays if the store could not be told, for the next sweep. */
  abort(): Promise<void>;
}

/**
 * The multipart uploads IMS starts in tenants' buckets (exports). Each is
 * recorded with its job before its first part, so that one a dead or failed
 * run left is aborted — by the job's next run, its abandonment, or `ims gc` —
 * and a tenant's own unfinished uploads in the same bucket are never touched.
 */
export class UserUploads {
  constructor(
    private readonly repos: Repositories,
    private readonly store: UserObjectStore,
    private readonly clock: Clock,
  ) {}

  open(jobId: string, bucket: string, key: string): RecordedWriter {
    let uploadId: string | null = null;
    const writer = this.store.openWriter(bucket, key, {
      onUploadStarted: async (id) => {
        uploadId = id;
        await this.repos.userUploads.record({
          uploadId: id,
          bucket,
          key,
          jobId,
          startedAt: this.clock.now().toISOString(),
        });
      },
    });
    const forget = async () => {
      if (uploadId !== null) await this.repos.userUploads.forget(uploadId);
    };
    return {
      writer,
      completed: () => forget().catch(() => undefined),
      abort: () =>
        writer
          .abort()
          .then(forget)
          .catch(() => undefined),
    };
  }

  /** Aborts what runs of the job left (a run that died, or a job given up). Returns how many. */
  async abortOfJob(jobId: string): Promise<number> {
    return this.abortAll(await this.repos.userUploads.ofJob(jobId));
  }

  /** Aborts the recorded uploads whose job has ended or is gone (`ims gc`). Returns how many. */
  async abortOrphaned(): Promise<number> {
    return this.abortAll(await this.repos.userUploads.orphaned());
  }

  private async abortAll(uploads: Array<{ uploadId: string; bucket: string; key: string }>): Promise<number> {
    let aborted = 0;
    for (const u of uploads) {
      try {
        await this.store.abortUpload(u.bucket, u.key, u.uploadId);
      } catch {
        continue; // the store is out of reach: the record stays for the next sweep
      }
      await this.repos.userUploads.forget(u.uploadId);
      aborted++;
    }
    return aborted;
  }
}
