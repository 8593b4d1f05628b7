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
