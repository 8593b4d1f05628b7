import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.ts';
import {
  assertRoom,
  bytesLeft,
  effectiveLimits,
  MiB,
  parseQuotaChange,
  quotaResources,
} from '../../src/domain/quota.ts';

const defaults = { images: 50, bytes: null };

describe('quota arithmetic', () => {
  it('takes stored limits over defaults; -1 is unlimited', () => {
    expect(effectiveLimits(null, defaults)).toEqual({ images: 50, bytes: null });
    expect(effectiveLimits({ maxImages: 3, maxBytes: null }, defaults)).toEqual({ images: 3, bytes: null });
    expect(effectiveLimits({ maxImages: -1, maxBytes: 10 }, defaults)).toEqual({ images: null, bytes: 10 });
  });

  it('admits up to the limit and not one more', () => {
    const limits = { images: 3, bytes: 100 };
    expect(() => assertRoom(limits, { images: 2, bytes: 0 }, { images: 1, bytes: 0 })).not.toThrow();
    expect(() => assertRoom(limits, { images: 3, bytes: 0 }, { images: 1, bytes: 0 })).toThrow(DomainError);
    expect(() => assertRoom(limits, { images: 0, bytes: 60 }, { images: 0, bytes: 40 })).not.toThrow();
    expect(() => assertRoom(limits, { images: 0, bytes: 60 }, { images: 0, bytes: 41 })).toThrow(
      /image_size_total/,
    );
    // Usage already over a lowered limit does not block what adds nothing of that kind.
    expect(() => assertRoom(limits, { images: 9, bytes: 0 }, { images: 0, bytes: 1 })).not.toThrow();
    expect(() =>
      assertRoom({ images: 0, bytes: null }, { images: 0, bytes: 0 }, { images: 1, bytes: 0 }),
    ).toThrow(DomainError);
  });

  it('answers 413 on Glance routes and 400 IMG.0015 on IMS routes', () => {
    let thrown: unknown;
    try {
      assertRoom({ images: 0, bytes: null }, { images: 0, bytes: 0 }, { images: 1, bytes: 0 });
    } catch (err) {
      thrown = err;
    }
    const e = thrown as DomainError;
    expect([e.code, e.status, e.imsStatus, e.imsCode]).toEqual(['QuotaExceeded', 413, 400, 'IMG.0015']);
  });

  it('reports in the IMS shape, bytes in MiB rounded up', () => {
    const sharing = { sharedImages: 1, mostMembers: 3 };
    expect(quotaResources({ images: 5, bytes: 10 * MiB }, { images: 2, bytes: MiB + 1 }, sharing)).toEqual([
      { type: 'image', used: 2, quota: 5, min: 0, max: 1_000_000 },
      { type: 'image_size_total', used: 2, quota: 10, min: 0, max: 1024 ** 4 },
      { type: 'image_shared', used: 1, quota: 5, min: 0, max: 1_000_000 },
      { type: 'image_member', used: 3, quota: 256, min: 256, max: 256 },
    ]);
    const none = { sharedImages: 0, mostMembers: 0 };
    expect(quotaResources({ images: null, bytes: null }, { images: 0, bytes: 0 }, none)[1]!.quota).toBe(-1);
    expect(bytesLeft({ images: null, bytes: 5 }, { images: 0, bytes: 7 })).toBe(0);
    expect(bytesLeft({ images: null, bytes: null }, { images: 0, bytes: 7 })).toBeNull();
  });
});

describe('an operator quota change', () => {
  it('reads counts, MiB, unlimited and back-to-default', () => {
    expect(parseQuotaChange({ project_id: 'p', quotas: { image: 10, image_size_total: 2 } })).toEqual({
      projectId: 'p',
      maxImages: 10,
      maxBytes: 2 * MiB,
    });
    expect(parseQuotaChange({ project_id: 'p', quotas: { image: -1, image_size_total: null } })).toEqual({
      projectId: 'p',
      maxImages: -1,
      maxBytes: null,
    });
    expect(parseQuotaChange({ project_id: 'p', quotas: {} })).toEqual({ projectId: 'p' });
  });

  it.each([
    [{ project_id: 'p', quotas: { image: '10' } }],
    [{ project_id: 'p', quotas: { image: true } }],
    [{ project_id: 'p', quotas: { image: 1.5 } }],
    [{ project_id: 'p', quotas: { image: -2 } }],
    [{ project_id: 'p', quotas: { image: 1_000_001 } }],
    [{ project_id: 'p', quotas: { images: 1 } }],
    [{ project_id: 'p', quotas: [] }],
    [{ project_id: 7, quotas: { image: 1 } }],
    [{ quotas: { image: 1 } }],
    [null],
    [[]],
  ])('refuses %j', (body) => {
    expect(() => parseQuotaChange(body)).toThrow(DomainError);
  });
});
