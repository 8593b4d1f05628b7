/**
 * The in-region copy job: one transaction inserts the copy, active, pointing
 * at the source's blob (and its recorded inspection), and takes a reference
 * on that blob. Idempotent: the new image's id is in the payload, so a run
 * that finds it taken knows an earlier run committed (or the copy was made
 * and deleted since) and makes nothing twice.
 */
import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import { copyFields } from '../../domain/image-copy.ts';
import { DomainError, ERROR_CATALOGUE } from '../../domain/errors.ts';
import { IMAGE_COPY_IN_REGION, type CopyPayload, type CopyResult } from '../image-copy-kind.ts';
import type { QuotaService } from '../quotas.ts';
import { JobError } from './errors.ts';
import type { JobHandler } from './kind.ts';

export interface CopyDeps {
  repos: Repositories;
  clock: Clock;
  quotas: QuotaService;
}

const gone = (id: string) =>
  JobError.permanent(
    ERROR_CATALOGUE.ImageNotFound.ims,
    `Source image ${id} was deleted before it was copied`,
  );

export function copyImageHandler(deps: CopyDeps): JobHandler<CopyPayload, CopyResult> {
  return async (job) => {
    const p = job.payload;
    if (await deps.repos.images.idTaken(p.imageId)) return { imageId: p.imageId };
    try {
      await deps.repos.transaction(async (tx) => {
        const source = await tx.images.find(p.sourceId);
        if (!source?.blobId || source.status !== 'active') throw gone(p.sourceId);
        await deps.quotas.admitImages(tx, p.owner, 1, source.size ?? 0);
        // Conditional on the blob still being referenced: a delete of the source that
        // committed first has released it, and there is nothing left to share.
        if (!(await tx.blobs.retain(source.blobId))) throw gone(p.sourceId);
        const now = deps.clock.now().toISOString();
        const fields = copyFields(source, p.owner, p);
        await tx.images.insert(p.imageId, fields, 'queued', now);
        await tx.images.transition(p.imageId, ['queued'], 'active', now, {
          blobId: source.blobId,
          size: source.size ?? 0,
          virtualSize: source.virtualSize,
          checksum: source.checksum ?? '',
          osHashAlgo: source.osHashAlgo ?? '',
          osHashValue: source.osHashValue ?? '',
        });
      });
    } catch (err) {
      if (err instanceof DomainError && err.status < 500)
        throw JobError.permanent(err.imsCode, err.message, err);
      // Two runs racing (a lost lease): the loser's insert collides with the winner's.
      if (await deps.repos.images.idTaken(p.imageId)) return { imageId: p.imageId };
      if (err instanceof JobError || job.attempt >= IMAGE_COPY_IN_REGION.maxAttempts) throw err;
      throw JobError.transient(ERROR_CATALOGUE.Internal.ims, 'The copy could not be recorded; retrying', err);
    }
    return { imageId: p.imageId };
  };
}
