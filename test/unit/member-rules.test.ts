import { describe, expect, it } from 'vitest';

import { VISIBILITIES } from '../../src/domain/image.ts';
import {
  MEMBER_LIMITS,
  assertCanAnswer,
  assertCanManageMembers,
  assertHasMembers,
  assertMemberCapacity,
  assertNotOwnerAnswering,
  canSeeMember,
  checkMemberStatus,
  memberNotFound,
  newMember,
  parseNewMember,
  parseStatusRequest,
  seesAllMembers,
  type ImageMember,
} from '../../src/domain/member-rules.ts';
import { MEMBER_STATUSES } from '../../src/domain/visibility.ts';
import { expectDomainError, makeContext, makeImage, withRoles } from '../helpers/domain.ts';

const image = makeImage({ id: 'img-1', owner: 'p-1', visibility: 'shared' });
const owner = makeContext({ projectId: 'p-1', roles: ['member'] });
const ownerReader = makeContext({ projectId: 'p-1', roles: ['reader'] });
const member = makeContext({ projectId: 'p-2', roles: ['member'] });
const memberReader = makeContext({ projectId: 'p-2', roles: ['reader'] });
const stranger = makeContext({ projectId: 'p-3', roles: ['member'] });
const admin = withRoles('p-ops', 'admin');

const membership = (memberId = 'p-2'): ImageMember => ({
  imageId: 'img-1',
  memberId,
  status: 'pending',
  createdAt: '2024-01-01T00:00:00.000Z',
  updatedAt: '2024-01-01T00:00:00.000Z',
});

describe('parseNewMember', () => {
  it('returns the member id as given', () => {
    expect(parseNewMember({ member: 'ABC-def 1' })).toBe('ABC-def 1');
    expect(parseNewMember({ member: 'x'.repeat(MEMBER_LIMITS.maxMemberIdLength) })).toHaveLength(255);
  });

  it.each([
    [undefined, 'Body expected in request.'],
    [[], 'Expected a member in the form: {"member": "member_id"}'],
    ['p-2', 'Expected a member in the form: {"member": "member_id"}'],
    [null, 'Expected a member in the form: {"member": "member_id"}'],
    [{}, 'Member to be added not specified'],
    [{ members: 'p-2' }, 'Member to be added not specified'],
    [{ member: '' }, "Member can't be empty"],
    [{ member: null }, "Member can't be empty"],
    [{ member: 42 }, 'Member must be a string (a project id)'],
    [{ member: ['p-2'] }, 'Member must be a string (a project id)'],
    [{ member: 'x'.repeat(256) }, 'Member must be at most 255 characters'],
  ])('refuses %j with 400: %s', (body, message) => {
    expect(expectDomainError(() => parseNewMember(body), 'BadRequest', 400).message).toBe(message);
  });
});

describe('parseStatusRequest and checkMemberStatus', () => {
  it('returns the requested value without judging it', () => {
    expect(parseStatusRequest({ status: 'accepted' })).toBe('accepted');
    expect(parseStatusRequest({ status: 'bogus' })).toBe('bogus');
    expect(parseStatusRequest({ status: null })).toBeNull();
  });

  it.each([
    [undefined, 'Body expected in request.'],
    [['accepted'], 'Expected a status in the form: {"status": "status"}'],
    [{}, 'Status not specified'],
  ])('refuses the body %j with 400', (body, message) => {
    expect(expectDomainError(() => parseStatusRequest(body), 'BadRequest', 400).message).toBe(message);
  });

  it.each(MEMBER_STATUSES)('accepts the status %s', (status) => {
    expect(checkMemberStatus(status)).toBe(status);
  });

  it.each(['notavalidstatus', 'Accepted', '', null, 1, ['accepted']])(
    'refuses the status %j with 400',
    (v) => {
      const err = expectDomainError(() => checkMemberStatus(v), 'BadRequest', 400);
      expect(err.message).toBe('Incorrect request: Status must be "pending", "accepted" or "rejected".');
    },
  );
});

describe('assertHasMembers', () => {
  it('lets shared images, in any status, have members', () => {
    expect(() => assertHasMembers(image, 'create')).not.toThrow();
    expect(() => assertHasMembers(makeImage({ status: 'active' }), 'list')).not.toThrow();
  });

  it.each(VISIBILITIES.filter((v) => v !== 'shared'))('refuses members on a %s image with 403', (v) => {
    const err = expectDomainError(
      () => assertHasMembers(makeImage({ id: 'img-1', visibility: v }), 'create'),
      'Forbidden',
      403,
    );
    expect(err.message).toBe(
      'Not allowed to create members for image img-1: Only shared images have members.',
    );
  });
});

describe('assertCanManageMembers', () => {
  it.each(['create', 'delete'] as const)("lets the owner's members and admins %s members", (verb) => {
    expect(() => assertCanManageMembers(owner, image, verb)).not.toThrow();
    expect(() => assertCanManageMembers(admin, image, verb)).not.toThrow();
  });

  // Roles (a reader of the owner project) are the policy table's, checked in the service
  // (test/api/policy-matrix.test.ts); the domain rule is about whose image it is.
  it.each(['create', 'delete'] as const)('refuses members and strangers with 403 (%s)', (verb) => {
    for (const ctx of [member, stranger]) {
      expectDomainError(() => assertCanManageMembers(ctx, image, verb), 'Forbidden', 403);
    }
  });

  it('says why', () => {
    expect(
      expectDomainError(() => assertCanManageMembers(member, image, 'create'), 'Forbidden', 403).message,
    ).toBe('Not allowed to create members for image img-1: only the image owner may add members.');
    expect(
      expectDomainError(() => assertCanManageMembers(member, image, 'delete'), 'Forbidden', 403).message,
    ).toBe('Not allowed to delete members for image img-1: only the image owner may remove members.');
  });
});

describe('who sees which member entries', () => {
  it('shows every entry to the owner (readers too) and admins', () => {
    for (const ctx of [owner, ownerReader, admin]) {
      expect(seesAllMembers(ctx, image)).toBe(true);
      expect(canSeeMember(ctx, image, 'p-2')).toBe(true);
      expect(canSeeMember(ctx, image, 'p-9')).toBe(true);
    }
  });

  it('shows a member its own entry only', () => {
    expect(seesAllMembers(member, image)).toBe(false);
    expect(canSeeMember(member, image, 'p-2')).toBe(true);
    expect(canSeeMember(memberReader, image, 'p-2')).toBe(true);
    expect(canSeeMember(member, image, 'p-9')).toBe(false);
    expect(canSeeMember(stranger, image, 'p-2')).toBe(false);
  });
});

describe('answering a share', () => {
  it('refuses the owner with 403, whatever its role, but not an admin', () => {
    for (const ctx of [owner, ownerReader]) {
      const err = expectDomainError(() => assertNotOwnerAnswering(ctx, image), 'Forbidden', 403);
      expect(err.message).toContain("the image owner cannot change a member's status");
    }
    expect(() => assertNotOwnerAnswering(admin, image)).not.toThrow();
    expect(() => assertNotOwnerAnswering(member, image)).not.toThrow();
  });

  it('lets the member answer for itself, and admins for anyone', () => {
    expect(() => assertCanAnswer(member, membership())).not.toThrow();
    expect(() => assertCanAnswer(admin, membership())).not.toThrow();
  });

  it('refuses another project with 403 (readers are refused by the policy table)', () => {
    expectDomainError(() => assertCanAnswer(stranger, membership()), 'Forbidden', 403);
  });
});

describe('limits and new members', () => {
  it(`allows up to ${MEMBER_LIMITS.maxMembersPerImage} members per image`, () => {
    expect(MEMBER_LIMITS.maxMembersPerImage).toBe(128);
    expect(() => assertMemberCapacity('img-1', 0)).not.toThrow();
    expect(() => assertMemberCapacity('img-1', 127)).not.toThrow();
    const err = expectDomainError(() => assertMemberCapacity('img-1', 128), 'TooManyMembers', 413);
    expect(err.message).toContain('Image member limit exceeded for image img-1');
    expect(err.message).toContain('Attempted: 129, Maximum: 128');
    expect(err.imsCode).toBe('IMG.0088');
  });

  it('starts every membership pending, created and updated now', () => {
    const now = '2024-05-06T07:08:09.123Z';
    expect(newMember(image, 'p-2', now)).toEqual({
      imageId: 'img-1',
      memberId: 'p-2',
      status: 'pending',
      createdAt: now,
      updatedAt: now,
    });
  });

  it('words a missing member as Glance does, with a 404', () => {
    const err = expectDomainError(() => memberNotFound('img-1', 'p-2'), 'NotFound', 404);
    expect(err.message).toBe('p-2 not found in the member list of the image img-1.');
  });
});
