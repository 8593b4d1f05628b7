import { DomainError } from './errors.ts';

export const IMAGE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'pending_delete',
  'deactivated',
  'uploading',
  'importing',
] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

/**
 * Which status may follow which: Glance's table (glance/domain), which clients
 * depend on. An illegal move is a 409, never a silent write.
 */
export const STATUS_TRANSITIONS: Readonly<Record<ImageStatus, readonly ImageStatus[]>> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated'],
  killed: ['deleted'],
  // Glance 18 (Rocky) added pending_delete → active: glance-scrubber --restore.
  pending_delete: ['deleted', 'active'],
  deleted: [],
  deactivated: ['active', 'deleted'],
};

export function canTransition(from: ImageStatus, to: ImageStatus): boolean {
  return STATUS_TRANSITIONS[from].includes(to);
}

export function assertTransition(from: ImageStatus, to: ImageStatus): void {
  if (!canTransition(from, to)) {
    throw new DomainError(
      'InvalidStatusTransition',
      `Image status transition from ${from} to ${to} is not allowed`,
    );
  }
}

/** Statuses in which the image's bytes can be read. */
export function hasReadableData(status: ImageStatus): boolean {
  return status === 'active' || status === 'deactivated';
}
