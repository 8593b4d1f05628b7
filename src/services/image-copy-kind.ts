import { defineJobKind } from './jobs/kind.ts';

/** One in-region copy: its job payload. The new image's id is chosen when the copy is asked for. */
export interface CopyPayload {
  sourceId: string;
  /** Fixed at enqueue time, so every run of the job makes (or finds) the same image. */
  imageId: string;
  owner: string;
  name: string;
  description: string | null;
  enterpriseProjectId: string;
}

export interface CopyResult {
  imageId: string;
}

/** IMS's `imsCopyImageInRegionJob`: metadata only, so a retry is cheap; only database trouble retries. */
export const IMAGE_COPY_IN_REGION = defineJobKind<CopyPayload, CopyResult>('imsCopyImageInRegionJob', {
  maxAttempts: 3,
});

/** One cross-region copy: its job payload. */
export interface CrossRegionCopyPayload {
  sourceId: string;
  region: string;
  projectName: string;
  name: string;
  description: string | null;
  /** Who asked, by account and user name: the peer region knows them by name, not by id. */
  caller: { domainName: string; userName: string };
}

export interface CrossRegionCopyResult {
  imageId: string;
  region: string;
  projectId: string;
}

/**
 * IMS's cross-region copy (CopyImageCrossRegion), job type as IMS names it. Every attempt
 * makes its image at the peer under an id of its own, so a retry never meets a half-made one.
 */
export const IMAGE_COPY_CROSS_REGION = defineJobKind<CrossRegionCopyPayload, CrossRegionCopyResult>(
  'imsCopyImageCrossUserJob',
  { maxAttempts: 5 },
);
