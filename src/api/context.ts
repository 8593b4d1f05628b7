import type {} from '@fastify/swagger';
import type { FastifyRequest } from 'fastify';
import type { TokenClaims } from '../adapters/identity/tokens.ts';
import type { RequestContext } from '../domain/context.ts';
import { DomainError } from '../domain/errors.ts';

/** How a route authenticates its caller. */
export type AuthMode = 'anonymous' | 'token' | 'project';

declare module 'fastify' {
  interface FastifyRequest {
    ctx: RequestContext | null;
    /** Claims of the X-Auth-Token, on token-authenticated routes. */
    tokenClaims: TokenClaims | null;
    /** Signed with an access key (AK/SK): errors take the Huawei shape. */
    signed: boolean;
    /** A JSON body's bytes as received. */
    rawBody?: Buffer;
    /** The key owner of a request signed to an account-level route (`signedAccount`). */
    signedUserId?: string;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
    /**
     * A token route that also takes an AK/SK signature without a project
     * (the Huawei SDK's IAM lookups); the handler reads `signedUserId`.
     */
    signedAccount?: boolean;
  }
}

/** The caller of a project-scoped route (the auth hook has set it). */
export function callerOf(request: FastifyRequest): RequestContext {
  if (!request.ctx)
    throw new DomainError('Unauthorized', 'The request you have made requires authentication.');
  return request.ctx;
}

/** The base media type of the request, without parameters. */
export function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}
