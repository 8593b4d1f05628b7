import { describe, expect, it } from 'vitest';

import { VISIBILITIES } from '../../src/domain/image.ts';
import { MEMBER_STATUSES, assertCanModify, canSee, listScope } from '../../src/domain/visibility.ts';
import { expectDomainError, makeContext, makeImage, withRoles } from '../helpers/domain.ts';

const owner = makeContext({ projectId: 'p-1', roles: ['member'] });
const ownerReader = makeContext({ projectId: 'p-1', roles: ['reader'] });
const stranger = makeContext({ projectId: 'p-2', roles: ['member'] });
const admin = withRoles('p-ops', 'admin');

describe('canSee', () => {
  it.each(VISIBILITIES)('shows a %s image to its owner, readers included', (visibility) => {
    const image = makeImage({ visibility });
    expect(canSee(owner, image, null)).toBe(true);
    expect(canSee(ownerReader, image, null)).toBe(true);
  });

  it.each(VISIBILITIES)('shows a %s image to an admin of another project', (visibility) => {
    expect(canSee(admin, makeImage({ visibility }), null)).toBe(true);
  });

  it('shows public and community images to everyone', () => {
    expect(canSee(stranger, makeImage({ visibility: 'public' }), null)).toBe(true);
    expect(canSee(stranger, makeImage({ visibility: 'community' }), null)).toBe(true);
  });

  it('hides private and unshared images from strangers', () => {
    expect(canSee(stranger, makeImage({ visibility: 'private' }), null)).toBe(false);
    expect(canSee(stranger, makeImage({ visibility: 'shared' }), null)).toBe(false);
  });

  it.each(MEMBER_STATUSES)('shows a shared image to a member whose status is %s', (status) => {
    expect(canSee(stranger, makeImage({ visibility: 'shared' }), status)).toBe(true);
  });

  it('ignores a membership on an image that is no longer shared', () => {
    expect(canSee(stranger, makeImage({ visibility: 'private' }), 'accepted')).toBe(false);
  });

  it('hides a private image from a reader of another project', () => {
    const readerElsewhere = makeContext({ projectId: 'p-2', roles: ['reader'] });
    expect(canSee(readerElsewhere, makeImage({ visibility: 'private' }), null)).toBe(false);
  });
});

describe('assertCanModify', () => {
  const image = makeImage({ id: 'img-1', owner: 'p-1' });

  it("lets the owner's members modify", () => {
    expect(() => assertCanModify(owner, image)).not.toThrow();
  });

  // Roles are the policy table's (src/domain/policy.ts, test/api/policy-matrix.test.ts):
  // a reader of the owner project is refused by the service before this rule runs.
  it("leaves roles to the policy table: the owner's readers pass this ownership rule", () => {
    expect(() => assertCanModify(ownerReader, image)).not.toThrow();
  });

  it('refuses members of another project, image members included', () => {
    expectDomainError(() => assertCanModify(stranger, image), 'Forbidden', 403);
    expectDomainError(() => assertCanModify(stranger, makeImage({ visibility: 'public' })), 'Forbidden', 403);
  });

  it('lets admins modify any image', () => {
    expect(() => assertCanModify(admin, image)).not.toThrow();
    expect(() =>
      assertCanModify(makeContext({ projectId: 'p-1', roles: ['admin', 'reader'] }), image),
    ).not.toThrow();
  });
});

describe('listScope', () => {
  it('describes the caller and the filters for the repository', () => {
    expect(listScope(owner, null, 'accepted')).toEqual({
      projectId: 'p-1',
      admin: false,
      visibility: null,
      memberStatus: 'accepted',
    });
    // Account and organization shares reaching the project (domain/sharing.ts) are passed along.
    expect(listScope(owner, 'shared', 'pending', ['acct-1', 'organizations::m:organization:o-1'])).toEqual({
      projectId: 'p-1',
      admin: false,
      visibility: 'shared',
      memberStatus: 'pending',
      grantKeys: ['acct-1', 'organizations::m:organization:o-1'],
    });
    expect(listScope(admin, 'all', 'all')).toEqual({
      projectId: 'p-ops',
      admin: true,
      visibility: 'all',
      memberStatus: 'all',
    });
  });
});
