import { describe, expect, it } from 'vitest';

import {
  IMAGE_STATUSES,
  STATUS_TRANSITIONS,
  assertTransition,
  canTransition,
  hasReadableData,
} from '../../src/domain/image-status.ts';
import type { ImageStatus } from '../../src/domain/image-status.ts';
import { expectDomainError } from '../helpers/domain.ts';

/** glance/domain/__init__.py, Image.valid_state_targets (Glance 18+, with the scrubber's restore). */
const GLANCE_TABLE: Record<ImageStatus, ImageStatus[]> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated'],
  killed: ['deleted'],
  pending_delete: ['deleted', 'active'],
  deleted: [],
  deactivated: ['active', 'deleted'],
};

const allowed = IMAGE_STATUSES.flatMap((from) => GLANCE_TABLE[from].map((to) => [from, to] as const));
const refused = IMAGE_STATUSES.flatMap((from) =>
  IMAGE_STATUSES.filter((to) => !GLANCE_TABLE[from].includes(to)).map((to) => [from, to] as const),
);

describe('image status machine', () => {
  it('lists the nine Glance statuses', () => {
    expect([...IMAGE_STATUSES].sort()).toEqual(Object.keys(GLANCE_TABLE).sort());
  });

  it("is Glance's table, entry for entry", () => {
    for (const from of IMAGE_STATUSES) {
      expect([...STATUS_TRANSITIONS[from]].sort(), `targets of ${from}`).toEqual(
        [...GLANCE_TABLE[from]].sort(),
      );
    }
  });

  it.each(allowed)('allows %s → %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it.each(refused)('refuses %s → %s with a 409', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    const err = expectDomainError(() => assertTransition(from, to), 'InvalidStatusTransition', 409);
    expect(err.message).toBe(`Image status transition from ${from} to ${to} is not allowed`);
  });

  it('refuses staying in the same status, as Glance does', () => {
    for (const s of IMAGE_STATUSES) expect(canTransition(s, s), s).toBe(false);
  });

  it('never leaves deleted', () => {
    expect(refused.filter(([from]) => from === 'deleted')).toHaveLength(IMAGE_STATUSES.length);
  });

  it('covers the important refusals explicitly', () => {
    // Data can be uploaded only once; an active image never goes back to queued.
    expect(canTransition('active', 'queued')).toBe(false);
    expect(canTransition('active', 'saving')).toBe(false);
    // killed is final except for deletion.
    expect(canTransition('killed', 'queued')).toBe(false);
    expect(canTransition('killed', 'active')).toBe(false);
    // Deactivation only from active; reactivation only to active.
    expect(canTransition('queued', 'deactivated')).toBe(false);
    expect(canTransition('deactivated', 'queued')).toBe(false);
    // An upload in progress cannot be deactivated or killed from uploading.
    expect(canTransition('uploading', 'active')).toBe(false);
    expect(canTransition('uploading', 'killed')).toBe(false);
  });

  it('has readable data only when active or deactivated', () => {
    const readable = IMAGE_STATUSES.filter(hasReadableData);
    expect(readable.sort()).toEqual(['active', 'deactivated']);
  });
});
