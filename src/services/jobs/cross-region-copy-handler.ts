/**
 * The cross-region copy job: the peer region's own API makes the image in the target project
 * and receives the bytes, streamed from this region's store with the hash they must have.
 * Each attempt uses an image id derived from the job and the attempt number, so a later
 * attempt finds what an earlier one left there: a finished copy is the result, a half-made
 * one is deleted. A failed attempt deletes its own image before it gives up.
 */
import { createHash } from 'node:crypto';
import type { Repositories } from '../../adapters/db/repositories.ts';
import { PeerError, PeerRegionClient } from '../../adapters/peer-region/peer-client.ts';
import type { PeerRegion } from '../../adapters/peer-region/peer-regions.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import { crossRegionImageBody, keyValueTagsOf } from '../../domain/image-copy.ts';
import { ERROR_CATALOGUE } from '../../domain/errors.ts';
import { type CrossRegionCopyPayload, type CrossRegionCopyResult } from '../image-copy-kind.ts';
import { JobError } from './errors.ts';
import type { JobHandler } from './kind.ts';

export interface CrossRegionCopyDeps {
  repos: Repositories;
  stores: StoreRegistry;
  peers: ReadonlyMap<string, PeerRegion>;
}

/** The peer image id of one attempt of one job. */
export function peerImageId(jobId: string, attempt: number): string {
  const h = createHash('sha256').update(`${jobId}:${attempt}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** IMS codes for what a peer refused for good. */
function codeFor(status: number | null): string {
  if (status === 401 || status === 403) return 'IMG.0179';
  if (status === 413) return ERROR_CATALOGUE.QuotaExceeded.ims;
  return ERROR_CATALOGUE.Internal.ims;
}

export function crossRegionCopyHandler(
  deps: CrossRegionCopyDeps,
): JobHandler<CrossRegionCopyPayload, CrossRegionCopyResult> {
  return async (job, report, signal) => {
    const p = job.payload;
    const peer = deps.peers.get(p.region);
    if (!peer)
      throw JobError.permanent(
        'IMG.0001',
        `Region ${p.region} is no longer configured as a peer of this region`,
      );
    const client = new PeerRegionClient(peer);
    let made: string | null = null;
    try {
      const source = await deps.repos.images.find(p.sourceId);
      const blob = source?.blobId ? await deps.repos.blobs.find(source.blobId) : undefined;
      if (!source || source.status !== 'active' || !blob || !source.osHashAlgo || !source.osHashValue)
        throw JobError.permanent(
          ERROR_CATALOGUE.ImageNotFound.ims,
          `Source image ${p.sourceId} was deleted or deactivated before it was copied`,
        );
      const projectId = await client.projectId(p.caller.domainName, p.projectName);
      if (!projectId)
        throw JobError.permanent(
          'IMG.0145',
          `Account ${p.caller.domainName} has no project ${p.projectName} in region ${p.region}`,
        );
      // The peer trusts this region's service user; the caller must be able to write there itself.
      const roles = await client.rolesOf(p.caller.domainName, p.caller.userName, projectId);
      if (!roles.includes('admin') && !roles.includes('member'))
        throw JobError.permanent(
          ERROR_CATALOGUE.Forbidden.ims,
          `User ${p.caller.userName} may not create images in project ${p.projectName} of region ${p.region}`,
        );
      for (let attempt = 1; attempt < job.attempt; attempt++) {
        const earlier = await client.findImage(peerImageId(job.id, attempt));
        if (earlier?.status === 'active' && earlier.os_hash_value === source.osHashValue)
          return { imageId: earlier.id, region: p.region, projectId };
        if (earlier) await client.deleteImage(earlier.id);
      }
      const id = peerImageId(job.id, job.attempt);
      await report(5);
      await client.createImage(crossRegionImageBody(source, p, id, projectId));
      made = id;
      for (const tag of keyValueTagsOf(source)) await client.setTag(id, tag.key, tag.value);
      const data = await deps.stores.get(blob.store).read(blob.store_key);
      let shown = 5;
      await client.upload(
        id,
        data,
        blob.size,
        { algo: source.osHashAlgo, value: source.osHashValue },
        (sent) => {
          const progress = 5 + Math.floor((90 * sent) / Math.max(blob.size, 1));
          if (progress > shown) {
            shown = progress;
            // A lost lease aborts `signal`, which stops the upload; nothing to do here.
            report(progress).catch(() => {});
          }
        },
        signal,
      );
      const copy = await client.findImage(id);
      if (copy?.status !== 'active' || copy.os_hash_value !== source.osHashValue)
        throw JobError.transient(
          ERROR_CATALOGUE.Internal.ims,
          `The copy in region ${p.region} did not become active with the source's data`,
        );
      made = null;
      return { imageId: id, region: p.region, projectId };
    } catch (err) {
      // Nothing half-made stays in the other region.
      if (made) await client.deleteImage(made).catch(() => {});
      if (err instanceof PeerError)
        throw err.transient
          ? JobError.transient(ERROR_CATALOGUE.Internal.ims, err.message, err)
          : JobError.permanent(codeFor(err.status), err.message, err);
      throw err;
    }
  };
}
