import type {
  AutomaticAccept,
  BatchAnswerRequest,
  ShareResult,
  ShareTarget,
  SharingReach,
} from '../domain/sharing.ts';
import { defineJobKind } from './jobs/kind.ts';

/** `POST /v1/cloudimages/members`: everything the job needs was resolved when it was asked for. */
export interface AddMembersPayload {
  owner: string;
  userId: string;
  images: string[];
  targets: ShareTarget[];
  /**
   * Projects whose sharing policy accepts this share, decided when it was
   * asked for. Jobs queued before the rule was kept name the project alone.
   */
  autoAccept: (AutomaticAccept | string)[];
}

export interface RemoveMembersPayload {
  owner: string;
  images: string[];
  targets: ShareTarget[];
}

/** `PUT /v1/cloudimages/members`: the recipient's answer, with what reaches its project. */
export interface AnswerMembersPayload {
  reach: SharingReach;
  images: string[];
  status: BatchAnswerRequest['status'];
}

export interface MembersResult {
  results: ShareResult[];
}

// Metadata only, so a retry is cheap; each run redoes every image, and each
// image's change is one transaction that a repeated run finds already made.
export const ADD_IMAGE_MEMBERS = defineJobKind<AddMembersPayload, MembersResult>('imsAddImageMembersJob', {
  maxAttempts: 3,
});
export const DELETE_IMAGE_MEMBERS = defineJobKind<RemoveMembersPayload, MembersResult>(
  'imsDelImageMembersJob',
  { maxAttempts: 3 },
);
export const UPDATE_IMAGE_MEMBERS = defineJobKind<AnswerMembersPayload, MembersResult>(
  'imsUpdateImageMembersJob',
  { maxAttempts: 3 },
);
