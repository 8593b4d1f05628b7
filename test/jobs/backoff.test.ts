import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.ts';
import { backoffDelay } from '../../src/services/jobs/backoff.ts';
import { JobError, toJobFailure } from '../../src/services/jobs/errors.ts';
import { defineJobKind } from '../../src/services/jobs/kind.ts';

describe('job back-off and failures', () => {
  const policy = { baseMs: 1_000, maxMs: 30_000 };

  it('doubles per attempt up to the cap, with half of it random', () => {
    const low = (attempt: number) => backoffDelay(attempt, policy, () => 0);
    const high = (attempt: number) => backoffDelay(attempt, policy, () => 1);
    expect([1, 2, 3, 4, 5, 6, 7].map(high)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect([1, 2, 3].map(low)).toEqual([500, 1_000, 2_000]);
    expect(high(10_000)).toBe(30_000);
  });

  it('classifies errors: JobError as told, 4xx DomainError permanent, anything else transient and generic', () => {
    expect(toJobFailure(JobError.transient('IMG.0061', 'busy'))).toEqual({
      code: 'IMG.0061',
      reason: 'busy',
      permanent: false,
    });
    expect(toJobFailure(JobError.permanent('IMG.0057', 'bad'))).toMatchObject({ permanent: true });
    expect(toJobFailure(new DomainError('QuotaExceeded', 'over quota'))).toEqual({
      code: 'IMG.0015',
      reason: 'over quota',
      permanent: true,
    });
    expect(toJobFailure(new DomainError('ServiceUnavailable', 'later'))).toMatchObject({ permanent: false });
    expect(toJobFailure(new Error('/srv/secret'))).toEqual({
      code: 'IMG.0061',
      reason: 'Internal error while running the job',
      permanent: false,
    });
  });

  it('refuses a kind without a usable attempt count', () => {
    expect(defineJobKind('k').maxAttempts).toBe(5);
    expect(() => defineJobKind('k', { maxAttempts: 0 })).toThrow(RangeError);
  });
});
