import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { TokenClaims } from '../../adapters/identity/tokens.ts';
import { DomainError } from '../../domain/errors.ts';
import type { AccessKeyService } from '../../services/access-keys.ts';

const tags = ['identity (access keys)'];
const BASE = '/v3.0/OS-CREDENTIAL/credentials';

function claimsOf(request: FastifyRequest): TokenClaims {
  if (!request.tokenClaims)
    throw new DomainError('Unauthorized', 'The request you have made requires authentication.');
  return request.tokenClaims;
}

function credentialBody(body: unknown): Record<string, unknown> {
  const credential = (body as { credential?: unknown } | undefined)?.credential;
  if (typeof credential !== 'object' || credential === null || Array.isArray(credential)) {
    throw new DomainError(
      'ValidationFailed',
      "Invalid input: the body must be an object with a 'credential' object",
    );
  }
  return credential as Record<string, unknown>;
}

/** Huawei IAM's access-key API: create (secret shown once), list, show, change status, delete. */
export function registerCredentialRoutes(app: FastifyInstance, keys: AccessKeyService): void {
  const config = { auth: 'token' as const };

  app.post(
    BASE,
    {
      config: { ...config, audit: { operation: 'createAccessKey', resourceType: 'accessKey' } },
      schema: {
        tags,
        summary: 'Create an access key (the secret is shown only here)',
        body: { type: 'object' },
      },
    },
    async (request, reply) => {
      const caller = claimsOf(request);
      const body = credentialBody(request.body);
      const userId = body.user_id ?? caller.userId;
      const description = body.description ?? '';
      if (typeof userId !== 'string' || typeof description !== 'string') {
        throw new DomainError(
          'ValidationFailed',
          "Invalid input: 'user_id' and 'description' must be strings",
        );
      }
      return reply.code(201).send({ credential: await keys.create(caller, userId, description) });
    },
  );

  app.get<{ Querystring: { user_id?: string } }>(
    BASE,
    { config, schema: { tags, summary: 'List access keys of a user' } },
    async (request) => {
      const caller = claimsOf(request);
      return { credentials: await keys.list(caller, request.query.user_id ?? caller.userId) };
    },
  );

  const params = {
    type: 'object',
    properties: { access_key: { type: 'string' } },
    required: ['access_key'],
  } as const;
  type Route = { Params: { access_key: string } };

  app.get<Route>(
    `${BASE}/:access_key`,
    { config, schema: { tags, summary: 'Show an access key', params } },
    async (request) => ({
      credential: await keys.get(claimsOf(request), request.params.access_key),
    }),
  );

  app.put<Route>(
    `${BASE}/:access_key`,
    {
      config: {
        ...config,
        audit: { operation: 'updateAccessKey', resourceType: 'accessKey', resourceParam: 'access_key' },
      },
      schema: { tags, summary: 'Change the status or description of an access key', params },
    },
    async (request) => {
      const body = credentialBody(request.body);
      return { credential: await keys.update(claimsOf(request), request.params.access_key, body) };
    },
  );

  app.delete<Route>(
    `${BASE}/:access_key`,
    {
      config: {
        ...config,
        audit: { operation: 'deleteAccessKey', resourceType: 'accessKey', resourceParam: 'access_key' },
      },
      schema: { tags, summary: 'Delete an access key', params },
    },
    async (request, reply) => {
      await keys.delete(claimsOf(request), request.params.access_key);
      return reply.code(204).send();
    },
  );
}
