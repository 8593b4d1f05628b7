/**
 * The cross-region copy job: the peer region's own API makes the image in the target project
 * and receives the bytes through a resumable upload session, chunks streamed from this
 * region's store, committed with the hash they must have. Peer image ids derive from the job
 * and the attempt, so a later attempt finds what an earlier one left: a finished copy is the
 * result, a queued one with its session is resumed (only the missing ranges are sent), any
 * other is deleted. The last attempt, a refusal, and a job abandoned by dead workers delete
 * what was made there.
 */
import { createHash } from 'node:crypto';
import type { Repositories } from '../../adapters/db/repositories.ts';
import { PeerError, PeerRegionClient } from '../../adapters/peer-region/peer-client.ts';
import type { PeerRegion } from '../../adapters/peer-region/peer-regions.ts';
import type { StoreRegistry } from '../../adapters/storage/store-registry.ts';
import { crossRegionImageBody, keyValueTagsOf } from '../../domain/image-copy.ts';
import { ERROR_CATALOGUE } from '../../domain/errors.ts';
import type { Job } from '../../domain/job.ts';
import {
  IMAGE_COPY_CROSS_REGION,
  type CrossRegionCopyPayload,
  type CrossRegionCopyResult,
} from '../image-copy-kind.ts';
import { JobError } from './errors.ts';
import type { JobHandler } from './kind.ts';

export interface CrossRegionCopyDeps {
  repos: Repositories;
  stores: StoreRegistry;
  peers: ReadonlyMap<string, PeerRegion>;
  /** Default CROSS_REGION_CHUNK. */
  chunkBytes?: number;
}

/** Bytes per chunk sent to the peer: a cut connection costs at most this much again. */
export const CROSS_REGION_CHUNK = 64 * 1024 * 1024;

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
      let id: string | null = null;
      for (let attempt = 1; attempt < job.attempt; attempt++) {
        const earlier = await client.findImage(peerImageId(job.id, attempt));
        if (!earlier) continue;
        if (earlier.status === 'active' && earlier.os_hash_value === source.osHashValue)
          return { imageId: earlier.id, region: p.region, projectId };
        if (earlier.status === 'queued' && id === null) id = earlier.id;
        else await client.deleteImage(earlier.id);
      }
      await report(5);
      if (id === null) {
        id = peerImageId(job.id, job.attempt);
        await client.createImage(crossRegionImageBody(source, p, id, projectId));
        made = id;
        for (const tag of keyValueTagsOf(source)) await client.setTag(id, tag.key, tag.value);
      } else made = id;
      const session =
        (await client.findSession(id, job.id)) ?? (await client.openSession(id, blob.size, job.id));
      const store = deps.stores.get(blob.store);
      let done = session.received_bytes;
      let shown = 5;
      const chunk = deps.chunkBytes ?? CROSS_REGION_CHUNK;
      for (const gap of session.missing) {
        for (let start = gap.start; start <= gap.end; start += chunk) {
          const end = Math.min(start + chunk - 1, gap.end);
          const data = await store.read(blob.store_key, { start, end });
          await client.sendChunk(
            id,
            session.id,
            { start, end, total: blob.size },
            data,
            (sent) => {
              const progress = 5 + Math.floor((90 * (done + sent)) / Math.max(blob.size, 1));
              if (progress > shown) {
                shown = progress;
                // A lost lease aborts `signal`, which stops the upload; nothing to do here.
                report(progress).catch(() => {});
              }
            },
            signal,
          );
          done += end - start + 1;
        }
      }
      await client.commitSession(id, session.id, { algo: source.osHashAlgo, value: source.osHashValue });
      const copy = await client.findImage(id);
      if (copy?.status !== 'active' || copy.os_hash_value !== source.osHashValue)
        throw JobError.transient(
          ERROR_CATALOGUE.Internal.ims,
          `The copy in region ${p.region} did not become active with the source's data`,
        );
      made = null;
      return { imageId: id, region: p.region, projectId };
    } catch (err) {
      const failure =
        err instanceof PeerError
          ? err.transient
            ? JobError.transient(ERROR_CATALOGUE.Internal.ims, err.message, err)
            : JobError.permanent(codeFor(err.status), err.message, err)
          : err;
      const last =
        (failure instanceof JobError && failure.permanent) ||
        job.attempt >= IMAGE_COPY_CROSS_REGION.maxAttempts;
      // A retry resumes what this attempt sent; after the last one nothing half-made stays there.
      if (made && last && !signal.aborted) await client.deleteImage(made).catch(() => {});
      throw failure;
    }
  };
}

/** A job abandoned by dead workers leaves no image behind in the other region. */
export function abandonCrossRegionCopy(
  deps: Pick<CrossRegionCopyDeps, 'peers'>,
): (job: Job) => Promise<void> {
  return async (job) => {
    const p = job.payload as CrossRegionCopyPayload;
    const peer = deps.peers.get(p.region);
    if (!peer) return;
    const client = new PeerRegionClient(peer);
    for (let attempt = 1; attempt <= job.attempts; attempt++) {
      const image = await client.findImage(peerImageId(job.id, attempt));
      if (image && image.status !== 'active') await client.deleteImage(image.id);
    }
  };
}
