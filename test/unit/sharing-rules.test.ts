import { describe, expect, it } from 'vitest';
import {
  acceptingRule,
  assertDeletableWhileShared,
  assertShareable,
  parseBatchAnswerRequest,
  parseBatchMembersRequest,
  parseSharingPolicy,
  reaches,
  SHARE_LIMITS,
} from '../../src/domain/sharing.ts';
import { expectDomainError, makeImage } from '../helpers/domain.ts';

const mine = (over: Parameters<typeof makeImage>[0] = {}) =>
  makeImage({ owner: 'p-1', status: 'active', visibility: 'private', ...over });

describe('batch member bodies', () => {
  it('reads images and targets, collapsing duplicates', () => {
    expect(
      parseBatchMembersRequest({ images: ['i', 'i'], projects: ['a'], domains: [], organizations: ['o-1'] }),
    ).toEqual({ images: ['i'], projects: ['a'], domains: [], organizations: ['o-1'] });
  });

  it.each([
    [undefined, 'IMG.0007'],
    [[], 'IMG.0001'],
    [{ projects: ['a'] }, 'IMG.0066'],
    [{ images: ['i'] }, 'IMG.0041'],
    [{ images: ['i'], projects: 'a' }, 'IMG.0001'],
    [{ images: ['i'], projects: [''] }, 'IMG.0001'],
    [{ images: ['i'], projects: [7] }, 'IMG.0001'],
  ])('refuses %j with %s', (body, code) => {
    let err: unknown;
    try {
      parseBatchMembersRequest(body);
    } catch (e) {
      err = e;
    }
    expect((err as { imsCode: string }).imsCode).toBe(code);
  });

  it('limits images and members per request', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`);
    expectDomainError(
      () => parseBatchMembersRequest({ images: many(SHARE_LIMITS.maxImagesPerRequest + 1), projects: ['a'] }),
      'TooManyMembers',
      413,
    );
    expectDomainError(
      () => parseBatchMembersRequest({ images: ['i'], projects: many(200), domains: many(57) }),
      'TooManyMembers',
      413,
    );
  });

  it('reads the answer: accepted or rejected, for a named project', () => {
    expect(parseBatchAnswerRequest({ images: ['i'], project_id: 'p', status: 'rejected' })).toEqual({
      images: ['i'],
      projectId: 'p',
      status: 'rejected',
    });
    expectDomainError(
      () => parseBatchAnswerRequest({ images: ['i'], project_id: 'p', status: 'pending' }),
      'ValidationFailed',
      400,
    );
    expectDomainError(
      () => parseBatchAnswerRequest({ images: ['i'], status: 'accepted' }),
      'ValidationFailed',
      400,
    );
  });
});

describe('assertShareable', () => {
  it('allows the owner its active private (or already shared) image', () => {
    assertShareable(mine(), 'p-1', 0, 1);
    assertShareable(mine({ visibility: 'shared' }), 'p-1', 255, 1);
  });

  it('refuses others, public, inactive, encrypted images and a full image', () => {
    expectDomainError(() => assertShareable(mine(), 'p-2', 0, 1), 'NotImageOwner', 403);
    expectDomainError(
      () => assertShareable(mine({ visibility: 'public' }), 'p-1', 0, 1),
      'PublicImageNotShareable',
      403,
    );
    expectDomainError(() => assertShareable(mine({ status: 'queued' }), 'p-1', 0, 1), 'ImageNotActive', 400);
    expectDomainError(
      () => assertShareable(mine({ properties: { __system__cmkid: 'k' } }), 'p-1', 0, 1),
      'EncryptedImageNotShareable',
      403,
    );
    expectDomainError(() => assertShareable(mine(), 'p-1', 256, 1), 'TooManyMembers', 413);
    expectDomainError(
      () => assertShareable(mine({ properties: { __whole_image: 'true' } }), 'p-1', 10, 1),
      'TooManyMembers',
      413,
    );
  });
});

describe('reach and delete rules', () => {
  const reach = { projectId: 'p', accountId: 'a', orgUrns: ['urn:o', 'urn:ou'] };
  it('reaches a project by its id, its account and its organization URNs', () => {
    expect(reaches({ type: 'project', id: 'p' }, reach)).toBe(true);
    expect(reaches({ type: 'project', id: 'a' }, reach)).toBe(false);
    expect(reaches({ type: 'domain', id: 'a' }, reach)).toBe(true);
    expect(reaches({ type: 'organization', id: 'urn:ou' }, reach)).toBe(true);
    expect(reaches({ type: 'organization', id: 'urn:other' }, reach)).toBe(false);
  });

  it('refuses deleting while accounts or organizations hold the image, naming them', () => {
    assertDeletableWhileShared('i', []);
    const err = expectDomainError(
      () =>
        assertDeletableWhileShared('i', [
          { type: 'domain', id: 'a' },
          { type: 'organization', id: 'urn:o' },
        ]),
      'SharedWithAccounts',
      409,
    );
    expect(err.message).toContain('domain a, organization urn:o');
    expect(err.imsCode).toBe('IMG.0105');
  });
});

describe('sharing policy', () => {
  const policy = (own: boolean, orgs: string[] = []) => ({
    acceptOwnAccount: own,
    acceptOrganizations: orgs,
    updatedAt: null,
  });
  it('accepts the own account and listed organizations only', () => {
    expect(acceptingRule(policy(true), 'a', 'a', [])).toBe('accept_own_account');
    expect(acceptingRule(policy(true), 'a', 'b', [])).toBeNull();
    expect(acceptingRule(policy(false, ['urn:o']), 'a', 'b', ['urn:o', 'urn:r'])).toBe(
      'accept_organizations:urn:o',
    );
    expect(acceptingRule(policy(false, ['urn:o']), 'a', 'a', ['urn:x'])).toBeNull();
    // Both rules: the own account is named first.
    expect(acceptingRule(policy(true, ['urn:o']), 'a', 'a', ['urn:o'])).toBe('accept_own_account');
  });

  it('reads the body strictly', () => {
    expect(parseSharingPolicy({ sharing_policy: { accept_own_account: true } })).toEqual({
      acceptOwnAccount: true,
      acceptOrganizations: [],
    });
    expectDomainError(
      () => parseSharingPolicy({ sharing_policy: { accept_own_account: 1 } }),
      'ValidationFailed',
      400,
    );
    expectDomainError(() => parseSharingPolicy({ sharing_policy: { other: 1 } }), 'ValidationFailed', 400);
    expectDomainError(() => parseSharingPolicy({ sharing_policy: [] }), 'ValidationFailed', 400);
  });
});
