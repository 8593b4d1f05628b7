import { expect } from 'vitest';

import type { RequestContext, Role } from '../../src/domain/context.ts';
import { DomainError } from '../../src/domain/errors.ts';
import type { ErrorCode } from '../../src/domain/errors.ts';
import type { Image } from '../../src/domain/image.ts';

/** A caller as the identity layer would resolve it; project `p-1` with role member unless told otherwise. */
export function makeContext(overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    requestId: 'req-test',
    region: 'RegionOne',
    accountId: 'acct-1',
    projectId: 'p-1',
    userId: 'u-1',
    roles: ['member'],
    via: 'token',
    ...overrides,
  };
}

export const withRoles = (projectId: string, ...roles: Role[]): RequestContext =>
  makeContext({ projectId, roles });

/** A queued, shared image owned by project `p-1`. */
export function makeImage(overrides: Partial<Image> = {}): Image {
  return {
    id: '6f2f1a8e-9d3b-4c57-8a1e-0b6c2d4e8f10',
    name: 'cirros',
    status: 'queued',
    visibility: 'shared',
    owner: 'p-1',
    protected: false,
    osHidden: false,
    containerFormat: 'bare',
    diskFormat: 'qcow2',
    size: null,
    virtualSize: null,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    minDisk: 0,
    minRam: 0,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    blobId: null,
    tags: [],
    properties: {},
    stores: [],
    enterpriseProjectId: '0',
    ...overrides,
  };
}

/**
 * Runs `fn`, requires it to throw a DomainError with this code and HTTP status,
 * and returns the error so that the caller can check its message.
 */
export function expectDomainError(fn: () => unknown, code: ErrorCode, status: number): DomainError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a DomainError to be thrown').toBeInstanceOf(DomainError);
  const err = thrown as DomainError;
  expect({ code: err.code, status: err.status }).toEqual({ code, status });
  return err;
}
