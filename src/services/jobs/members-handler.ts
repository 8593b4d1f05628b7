/**
 * The IMS batch member jobs (imsAddImageMembersJob, imsDelImageMembersJob,
 * imsUpdateImageMembersJob): one transaction per image, so a failure of one
 * image leaves the others done; each image's outcome goes to
 * `entities.results[]`, and any failure makes the job FAIL with the first
 * failure's code after every image was tried.
 *
 * Idempotent: a member that is already there is left as it was, removing a
 * member that is gone succeeds, an answer is written as a value; so a run
 * repeated after a crash finds the images it did and changes nothing twice.
 */
import type { Clock } from '../../adapters/clock.ts';
import type { Repositories } from '../../adapters/db/repositories.ts';
import type { SharedMember } from '../../adapters/db/sharing-repository.ts';
import { DomainError, ERROR_CATALOGUE, fail } from '../../domain/errors.ts';
import type { Image } from '../../domain/image.ts';
import {
  assertOwnsImage,
  assertShareable,
  policyActor,
  type AutomaticAccept,
  type ShareResult,
} from '../../domain/sharing.ts';
import type { AuditService } from '../audit/audit-service.ts';
import type {
  AddMembersPayload,
  AnswerMembersPayload,
  MembersResult,
  RemoveMembersPayload,
} from '../sharing-kinds.ts';
import { JobError } from './errors.ts';
import type { JobHandler, ReportProgress } from './kind.ts';

export interface MembersDeps {
  repos: Repositories;
  clock: Clock;
  /** Records the accepts a sharing policy makes (no request carries them); required to make one. */
  audit?: Pick<AuditService, 'recordAutomatic'>;
}

type ImageWork = (tx: Repositories, image: Image, now: string) => Promise<void>;

const missing = (id: string): never => fail('ImageNotFound', `No image found with ID ${id}`);

/** Runs `work` on each image in its own transaction, the image row held; collects the results. */
async function eachImage(
  deps: MembersDeps,
  images: string[],
  projectId: string,
  report: ReportProgress,
  work: ImageWork,
): Promise<MembersResult> {
  const results: ShareResult[] = [];
  for (const [i, imageId] of images.entries()) {
    try {
      await deps.repos.transaction(async (tx) => {
        if ((await tx.members.lockImage(imageId)) === null) missing(imageId);
        const image = (await tx.images.find(imageId)) ?? missing(imageId);
        await work(tx, image, deps.clock.now().toISOString());
      });
      results.push({ image_id: imageId, project_id: projectId, status: 'success' });
    } catch (err) {
      // Anything else (the database) is the job's trouble: the run is retried, and redoes every image.
      if (!(err instanceof DomainError)) throw err;
      results.push({
        image_id: imageId,
        project_id: projectId,
        status: 'failed',
        error_code: err.imsCode,
        error_msg: err.message,
      });
    }
    await report(((i + 1) * 100) / images.length);
  }
  const failed = results.find((r) => r.status === 'failed');
  if (failed) {
    const count = results.filter((r) => r.status === 'failed').length;
    throw new JobError(
      failed.error_code ?? ERROR_CATALOGUE.Internal.ims,
      `${count} of ${results.length} images failed; see entities.results (first: ${failed.error_msg ?? ''})`,
      { permanent: true, entities: { results } },
    );
  }
  return { results };
}

export function addMembersHandler(deps: MembersDeps): JobHandler<AddMembersPayload, MembersResult> {
  return (job, report) => {
    const p = job.payload;
    return eachImage(deps, p.images, p.owner, report, async (tx, image, now) => {
      // Another project's private image is not found, as on every read: its existence is not told.
      if (image.owner !== p.owner && image.visibility === 'private') missing(image.id);
      const present = new Set((await tx.sharing.members(image.id)).map((m) => m.memberId));
      const adding = p.targets.filter((t) => !present.has(t.id));
      assertShareable(image, p.owner, present.size, adding.length);
      await tx.sharing.makeShared(image.id, now);
      for (const target of adding) {
        const answer = target.type === 'project' ? await tx.sharing.answer(image.id, target.id) : null;
        const member: SharedMember = {
          imageId: image.id,
          memberId: target.id,
          memberType: target.type,
          urn: target.type === 'organization' ? target.id : null,
          // A project that answered through an account share keeps its answer.
          status: answer ?? 'pending',
          sharedBy: p.userId,
          createdAt: now,
          updatedAt: now,
        };
        await tx.sharing.insert(member);
      }
      // Only projects that have not answered yet: a project's own reject stands.
      for (const accept of p.autoAccept.map(automaticAccept)) {
        if ((await tx.sharing.answer(image.id, accept.projectId)) !== null) continue;
        await tx.sharing.setAnswer(image.id, accept.projectId, 'accepted', 'policy', now);
        // In the image's transaction: the accept and its event commit together.
        if (!deps.audit) throw new Error('a sharing policy accepts only where the audit trail records it');
        await deps.audit.recordAutomatic(tx, {
          operation: 'updateMember',
          resourceType: 'image',
          resourceId: image.id,
          resourceName: image.name,
          projectId: accept.projectId,
          domainId: accept.accountId || null,
          actor: policyActor(accept.rule),
          jobId: job.id,
        });
      }
    });
  };
}

/** A job queued before the rule was kept names the project alone. */
const automaticAccept = (a: AutomaticAccept | string): AutomaticAccept =>
  typeof a === 'string' ? { projectId: a, accountId: '', rule: 'unrecorded' } : a;

export function removeMembersHandler(deps: MembersDeps): JobHandler<RemoveMembersPayload, MembersResult> {
  return (job, report) => {
    const p = job.payload;
    return eachImage(deps, p.images, p.owner, report, async (tx, image) => {
      if (image.owner !== p.owner && image.visibility === 'private') missing(image.id);
      assertOwnsImage(image, p.owner);
      for (const target of p.targets) await tx.sharing.remove(image.id, target.id);
    });
  };
}

export function answerMembersHandler(deps: MembersDeps): JobHandler<AnswerMembersPayload, MembersResult> {
  return (job, report) => {
    const { reach, status } = job.payload;
    return eachImage(deps, job.payload.images, reach.projectId, report, async (tx, image, now) => {
      if (image.owner === reach.projectId)
        fail('NotImageOwner', `Image ${image.id} is your own: only its members accept or reject it`, {
          imsCode: 'IMG.0047',
        });
      const reached = image.visibility === 'shared' ? await tx.sharing.reachedBy(image.id, reach) : null;
      // An image not shared with the project is not found, as on every read.
      if (!reached) missing(image.id);
      await tx.sharing.setAnswer(image.id, reach.projectId, status, 'project', now);
    });
  };
}
