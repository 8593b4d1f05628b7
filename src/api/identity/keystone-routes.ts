import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError, fail } from '../../domain/errors.ts';
import type { AppCredAuth } from '../../services/application-credentials.ts';
import type { IdentityService, IssuedToken, PasswordAuth } from '../../services/identity.ts';
import { identityVersion } from '../openstack/versions.ts';
import { tokenCaller } from './keystone-admin-routes.ts';
import { collection, domainView, projectView } from './keystone-admin-views.ts';

const tags = ['identity (Keystone v3)'];

/** Keystone shows microseconds. */
const keystoneTime = (seconds: number) =>
  new Date(seconds * 1000).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
const stableId = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 32);

/** The catalog: this one server is both the image service and the identity service. */
export function catalog(publicUrl: string, region: string) {
  const service = (type: string, name: string, url: string) => ({
    id: stableId(`service:${type}`),
    type,
    name,
    endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
      id: stableId(`endpoint:${type}:${iface}`),
      interface: iface,
      region,
      region_id: region,
      url,
    })),
  });
  return [service('image', 'glance', publicUrl), service('identity', 'keystone', `${publicUrl}/v3`)];
}

function tokenBody(t: Omit<IssuedToken, 'token'>, publicUrl: string, region: string) {
  const { claims, user, domain, project, projectDomain, scopeDomain, roles, applicationCredential } = t;
  const body: Record<string, unknown> = {
    methods: claims.methods,
    user: {
      id: user.id,
      name: user.name,
      domain: { id: domain.id, name: domain.name },
      password_expires_at: null,
    },
    audit_ids: [claims.jti],
    expires_at: keystoneTime(claims.expiresAt),
    issued_at: keystoneTime(claims.issuedAt),
  };
  if (project) {
    body.project = {
      id: project.id,
      name: project.name,
      domain: { id: projectDomain!.id, name: projectDomain!.name },
    };
    body.is_domain = false;
    body.roles = roles.map((r) => ({ id: r.id, name: r.name }));
    body.catalog = catalog(publicUrl, region);
  } else if (scopeDomain) {
    body.domain = { id: scopeDomain.id, name: scopeDomain.name };
    body.roles = roles.map((r) => ({ id: r.id, name: r.name }));
    body.catalog = catalog(publicUrl, region);
  }
  if (applicationCredential) body.application_credential = applicationCredential;
  return { token: body };
}

type Ref = { id?: unknown; name?: unknown; domain?: { id?: unknown; name?: unknown } };
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const ref = (r: Ref | undefined) =>
  r && {
    id: str(r.id),
    name: str(r.name),
    domain: r.domain && { id: str(r.domain.id), name: str(r.domain.name) },
  };

function parseAuthRequest(
  body: unknown,
):
  | { method: 'password'; auth: PasswordAuth }
  | { method: 'token'; token: string; scope: PasswordAuth['scope'] }
  | { method: 'application_credential'; auth: AppCredAuth } {
  const auth = (body as { auth?: Record<string, unknown> } | undefined)?.auth;
  const identity = auth?.identity as
    | {
        methods?: unknown;
        password?: { user?: Ref & { password?: unknown } };
        token?: { id?: unknown };
        application_credential?: { id?: unknown; name?: unknown; secret?: unknown; user?: Ref };
      }
    | undefined;
  if (!identity || !Array.isArray(identity.methods))
    fail('ValidationFailed', "Invalid input for field 'identity': 'methods' is a required property");
  const scopeRaw = auth!.scope as { project?: Ref; domain?: Ref } | string | undefined;
  let scope: PasswordAuth['scope'];
  if (scopeRaw === 'unscoped') scope = 'unscoped';
  else if (scopeRaw && typeof scopeRaw === 'object') {
    if (scopeRaw.project && scopeRaw.domain)
      fail('ValidationFailed', 'Scoping to both domain and project is not allowed');
    if (scopeRaw.project) scope = { project: ref(scopeRaw.project)! };
    else if (scopeRaw.domain) {
      const domain = ref(scopeRaw.domain)!;
      if (!domain.id && !domain.name)
        fail('ValidationFailed', "Invalid input for field 'scope/domain': id or name is required");
      scope = { domain: { id: domain.id, name: domain.name } };
    }
  }
  const methods = identity!.methods as unknown[];
  if (methods.includes('password')) {
    const u = identity!.password?.user;
    if (!u || typeof u.password !== 'string')
      return fail('ValidationFailed', "Invalid input for field 'identity/password/user'");
    return { method: 'password', auth: { user: { ...ref(u)!, password: u.password }, scope } };
  }
  if (methods.includes('token')) {
    const id = str(identity!.token?.id);
    if (!id) return fail('ValidationFailed', "Invalid input for field 'identity/token/id'");
    return { method: 'token', token: id, scope };
  }
  if (methods.includes('application_credential')) {
    const c = identity!.application_credential;
    if (!c || typeof c !== 'object')
      return fail('ValidationFailed', "Invalid input for field 'identity/application_credential'");
    return {
      method: 'application_credential',
      auth: {
        id: str(c.id),
        name: str(c.name),
        secret: str(c.secret),
        user: c.user && typeof c.user === 'object' ? ref(c.user) : undefined,
        scopeRequested: scope !== undefined,
      },
    };
  }
  return fail('Unauthorized', 'Attempted to authenticate with an unsupported method.');
}

const subjectToken = (request: FastifyRequest) => {
  const t = request.headers['x-subject-token'];
  return typeof t === 'string' ? t : undefined;
};

/** The Keystone v3 calls that clients need to get and check a token. */
export function registerKeystoneRoutes(
  app: FastifyInstance,
  identity: IdentityService,
  publicUrlOf: () => string,
  region: string,
): void {
  app.get(
    '/v3',
    { config: { auth: 'anonymous' }, schema: { tags, summary: 'Identity v3 version document' } },
    async () => ({
      version: identityVersion(publicUrlOf()),
    }),
  );

  app.post(
    '/v3/auth/tokens',
    {
      // Logging in changes nothing stored: failures are rate-limited per source instead (auth-throttle.ts).
      config: { auth: 'anonymous', audit: 'none' },
      schema: { tags, summary: 'Issue a token (password or token method)', body: { type: 'object' } },
    },
    async (request, reply) => {
      const parsed = parseAuthRequest(request.body);
      const issued =
        parsed.method === 'password'
          ? await identity.authenticatePassword(parsed.auth)
          : parsed.method === 'application_credential'
            ? await identity.authenticateApplicationCredential(parsed.auth)
            : await identity.rescope(await identity.validate(parsed.token), parsed.scope);
      return reply
        .code(201)
        .header('x-subject-token', issued.token)
        .send(tokenBody(issued, publicUrlOf(), region));
    },
  );

  app.get(
    '/v3/auth/tokens',
    { config: { auth: 'token' }, schema: { tags, summary: 'Validate a token' } },
    async (request, reply) => {
      const token = subjectToken(request);
      const claims = await identity.validate(token).catch(() => {
        throw new DomainError('NotFound', 'Could not find token.');
      });
      return reply
        .header('x-subject-token', token!)
        .send(tokenBody(await identity.describe(claims), publicUrlOf(), region));
    },
  );

  app.delete(
    '/v3/auth/tokens',
    {
      config: { auth: 'token', audit: { operation: 'revokeToken', resourceType: 'token' } },
      schema: { tags, summary: 'Revoke a token' },
    },
    async (request, reply) => {
      const claims = await identity.validate(subjectToken(request)).catch(() => {
        throw new DomainError('NotFound', 'Could not find token.');
      });
      await identity.revoke(claims);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v3/auth/projects',
    { config: { auth: 'token' }, schema: { tags, summary: 'Projects the token may be scoped to' } },
    async (request) =>
      collection(
        'projects',
        (await identity.admin.projectsForToken(await tokenCaller(request, identity))).map((p) =>
          projectView(p, publicUrlOf()),
        ),
        `${publicUrlOf()}/v3/auth/projects`,
      ),
  );

  app.get(
    '/v3/auth/domains',
    { config: { auth: 'token' }, schema: { tags, summary: 'Domains the token may be scoped to' } },
    async (request) =>
      collection(
        'domains',
        (await identity.admin.domainsForToken(await tokenCaller(request, identity))).map((d) =>
          domainView(d, publicUrlOf()),
        ),
        `${publicUrlOf()}/v3/auth/domains`,
      ),
  );

  app.get(
    '/v3/auth/catalog',
    { config: { auth: 'token' }, schema: { tags, summary: 'Service catalog' } },
    async () => ({
      catalog: catalog(publicUrlOf(), region),
      links: { self: `${publicUrlOf()}/v3/auth/catalog`, previous: null, next: null },
    }),
  );
}
