import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { Job } from '../domain/job.ts';

export interface Reaped {
  /** `saving` images returned to `queued`: their upload's process died. */
  uploads: number;
  /** `uploading` images without staged data returned to `queued`: their stage's process died. */
  stages: number;
  /** `importing` images whose job has FAILed for good, reverted as a failed import is. */
  imports: number;
}

/**
 * Returns images that a dead process left half-way to their last good state.
 * Safe on any number of nodes at once: an upload or stage in progress anywhere
 * holds a data lease, a running import holds its job's lease, and every change
 * here is conditional on the status it read.
 */
export class Reaper {
  constructor(
    private readonly repos: Repositories,
    private readonly clock: Clock,
    /** The import kind's revert (jobs/import-handler.ts), for an image still importing under a FAILed job. */
    private readonly revertImport: (job: Job) => Promise<boolean>,
  ) {}

  async reap(): Promise<Reaped> {
    const out: Reaped = { uploads: 0, stages: 0, imports: 0 };
    const now = this.clock.now().toISOString();
    for (const id of await this.repos.dataLeases.unleased('saving', now)) {
      if (await this.repos.images.transition(id, ['saving'], 'queued', now)) out.uploads++;
      await this.repos.dataLeases.drop(id);
    }
    for (const id of await this.repos.dataLeases.unleased('uploading', now)) {
      // Staged data waits for its import: `uploading` is then the image's resting state.
      if (await this.repos.imports.staged(id)) continue;
      if (await this.repos.images.transition(id, ['uploading'], 'queued', now)) out.stages++;
      await this.repos.dataLeases.drop(id);
    }
    for (const id of await this.repos.images.idsInStatus('importing')) {
      const image = await this.repos.images.find(id);
      const jobId = image?.properties['os_glance_import_task'];
      const job = jobId ? await this.repos.jobs.find(jobId) : null;
      if (job?.status === 'FAIL' && (await this.revertImport(job))) out.imports++;
    }
    return out;
  }
}
