import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Config } from '../config/config.ts';
import { DomainError } from '../domain/errors.ts';
import type { HealthReport } from '../services/health.ts';
import type { AccessKeyService } from '../services/access-keys.ts';
import type { IdentityService } from '../services/identity.ts';
import type { ImageDataService } from '../services/image-data.ts';
import type { ImageCopyService } from '../services/image-copy.ts';
import type { ObjectImageService } from '../services/object-images.ts';
import type { ImageImportService } from '../services/image-import.ts';
import type { ImageService } from '../services/images.ts';
import type { JobService } from '../services/jobs/service.ts';
import type { MemberService } from '../services/members.ts';
import type { SharingService } from '../services/sharing.ts';
import type { QuotaService } from '../services/quotas.ts';
import type { TagService } from '../services/tags.ts';
import type { MetadefService } from '../services/metadefs.ts';
import type { UsageService } from '../services/usage.ts';
import type { AuthMode } from './context.ts';
import { sendError, toDomainError } from './errors.ts';
import { documentRoute } from './openapi-docs.ts';
import { bodyHashRequired } from '../adapters/identity/aksk-signature.ts';
import { registerCredentialRoutes } from './identity/credentials-routes.ts';
import { registerKeystoneAdminRoutes } from './identity/keystone-admin-routes.ts';
import { registerKeystoneRoutes } from './identity/keystone-routes.ts';
import type { Metrics } from './metrics.ts';
import { registerDiscoveryRoutes } from './openstack/discovery-routes.ts';
import { registerImageRoutes } from './openstack/images-routes.ts';
import { registerImportRoutes } from './openstack/import-routes.ts';
import { registerUploadSessionRoutes } from './openstack/upload-session-routes.ts';
import type { UploadSessionService } from '../services/upload-sessions.ts';
import { registerMemberRoutes } from './openstack/members-routes.ts';
import { registerMetadefRoutes } from './openstack/metadefs-routes.ts';
import { registerUsageRoutes } from './openstack/usage-routes.ts';
import { registerImsJobRoutes } from './ims/jobs-routes.ts';
import { registerCloudImageRoutes } from './ims/cloudimages-routes.ts';
import { registerImsCopyRoutes } from './ims/copy-routes.ts';
import { registerObjectImageRoutes } from './ims/object-image-routes.ts';
import { registerImsMemberRoutes } from './ims/members-routes.ts';
import { registerImsQuotaRoutes } from './ims/quota-routes.ts';
import { registerImsTagRoutes } from './ims/tags-routes.ts';
import { registerTraceRoutes } from './ims/trace-routes.ts';
import { registerOrganizationRoutes } from './identity/organization-routes.ts';
import { registerAuditHooks } from './audit-hooks.ts';
import { registerAuthThrottle } from './auth-throttle.ts';
import type { AuditService } from '../services/audit/audit-service.ts';
import type { OrganizationService } from '../services/organizations.ts';
import type { FailureLimiter } from '../adapters/failure-limiter.ts';
import { registerConsoleRoutes } from './console/console-routes.ts';

export interface AppDeps {
  config: Config;
  identity: IdentityService;
  accessKeys: AccessKeyService;
  jobs: JobService;
  images: ImageService;
  imageData: ImageDataService;
  uploadSessions: UploadSessionService;
  imageImport: ImageImportService;
  imageCopy: ImageCopyService;
  /** Images from and to the tenants' object store. */
  objectImages: ObjectImageService;
  members: MemberService;
  sharing: SharingService;
  tags: TagService;
  quotas: QuotaService;
  metadefs: MetadefService;
  usage: UsageService;
  audit: AuditService;
  organizations: OrganizationService;
  /** Counts failed logins and signatures per source address. */
  authFailures: FailureLimiter;
  metrics: Metrics;
  health: () => Promise<HealthReport>;
  /** false silences request logs (tests). */
  logger: boolean;
  /** The web console's build (default: console/dist of this package). */
  consoleDir?: string;
}

/** JSON bodies are metadata: generous for 128 properties of 64 KiB, small next to image data. */
const JSON_BODY_LIMIT = 10 * 1024 * 1024;
const JSON_TYPES = [
  'application/json',
  'application/openstack-images-v2.1-json-patch',
  'application/openstack-images-v2.0-json-patch',
];

/** Huawei SDK clients sign with SDK-HMAC-SHA256 (or, refused, the derived-key V11 scheme). */
function isSigned(request: FastifyRequest): boolean {
  const auth = request.headers.authorization;
  return typeof auth === 'string' && /^(SDK|V11)-HMAC-SHA256\s/.test(auth);
}

function splitUrl(url: string): [string, string | undefined] {
  const q = url.indexOf('?');
  return q < 0 ? [url, undefined] : [url.slice(0, q), url.slice(q + 1)];
}

function isLoopback(ip: string): boolean {
  return ip === '127.0.0.1' || ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

/** Builds the HTTP application: both API families, identity, health, metrics and OpenAPI. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    logger: deps.logger ? { level: config.logLevel } : false,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    genReqId: () => `req-${randomUUID()}`,
    trustProxy: config.trustedProxies.length ? config.trustedProxies : false,
    bodyLimit: JSON_BODY_LIMIT,
    // Image uploads may take hours; idle connections are still closed by keepAliveTimeout.
    requestTimeout: 0,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    // Read at start: a renewed certificate takes a restart (or terminate TLS at a load balancer).
    ...(config.tls
      ? { https: { cert: fs.readFileSync(config.tls.certFile), key: fs.readFileSync(config.tls.keyFile) } }
      : {}),
  }) as unknown as FastifyInstance;
  app.decorateRequest('ctx', null);
  app.decorateRequest('tokenClaims', null);
  app.decorateRequest('signed', false);
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('signedUserId', undefined);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'IMS: Image Management Service',
        version: '0.1.0',
        description: 'OpenStack Image API v2 and Huawei Cloud IMS API over one model',
      },
      components: { securitySchemes: { token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' } } },
      security: [{ token: [] }],
    },
    transform: documentRoute,
  });

  // Clients send content types on bodiless requests (the Huawei SDK sends
  // application/json on GET and DELETE, glanceclient application/octet-stream):
  // an empty body is accepted whatever its type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPES, { parseAs: 'buffer' }, (req, body, done) => {
    // The bytes as received: an AK/SK signature covers them, not their parse.
    req.rawBody = body as Buffer;
    const text = (body as Buffer).toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new DomainError('InvalidJson', 'Malformed JSON in request body.'), undefined);
    }
  });
  // Image data is never buffered: the route reads the request stream itself.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (req, body, done) => {
    if ((body as Buffer).length === 0) return done(null, undefined);
    done(
      new DomainError(
        'UnsupportedMediaType',
        `Unsupported content type: ${req.headers['content-type'] ?? ''}`,
      ),
      undefined,
    );
  });

  // Before the authentication hook (its refusals are audited too) and before the routes.
  registerAuditHooks(app, deps.audit);

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-openstack-request-id', request.id).header('x-request-id', request.id);
    request.signed = isSigned(request);
    const mode: AuthMode = request.routeOptions.config.auth ?? 'project';
    if (mode === 'anonymous' || request.routeOptions.url === undefined) return;
    // Signed requests are checked once the body is read (the signature may cover it).
    if (request.signed) {
      if (mode !== 'project' && !request.routeOptions.config.signedAccount)
        throw new DomainError('Unauthorized', 'This API takes a token, not an AK/SK signature.');
      return;
    }
    const header = request.headers['x-auth-token'];
    const claims = await deps.identity.validate(typeof header === 'string' ? header : undefined);
    request.tokenClaims = claims;
    if (mode === 'project') request.ctx = deps.identity.contextFor(claims, request.id);
  });

  registerAuthThrottle(app, deps.authFailures);

  /** The request as the signature verifier reads it; the body must have been read when the signature covers it. */
  const signedRequestOf = (request: FastifyRequest, body: Buffer | undefined) => {
    const [rawPath, rawQuery = ''] = splitUrl(request.raw.url ?? '/');
    const covered = bodyHashRequired(request.headers);
    if (covered && body === undefined) {
      throw new DomainError(
        'Unauthorized',
        'Incorrect IAM authentication information: this body cannot be checked; sign it as UNSIGNED-PAYLOAD.',
      );
    }
    return {
      method: request.method,
      rawPath,
      rawQuery,
      headers: request.headers,
      body: covered ? body! : ('unsigned' as const),
      requestId: request.id,
      region: config.region,
    };
  };
  /** Checks an AK/SK signature and resolves the caller's project. */
  const authenticateSigned = (request: FastifyRequest, body: Buffer | undefined) =>
    deps.accessKeys.authenticate(signedRequestOf(request, body));

  app.addHook('preHandler', async (request) => {
    if (!request.signed || request.ctx || request.routeOptions.url === undefined) return;
    if (request.routeOptions.config.auth === 'anonymous') return;
    if (request.routeOptions.config.signedAccount) {
      request.signedUserId = await deps.accessKeys.authenticateAccount(
        signedRequestOf(request, request.rawBody ?? Buffer.alloc(0)),
      );
      return;
    }
    const streamed = request.rawBody === undefined && request.body !== undefined;
    request.ctx = await authenticateSigned(
      request,
      streamed ? undefined : (request.rawBody ?? Buffer.alloc(0)),
    );
  });

  // Callback style: an async hook costs every request a promise and a turn of the microtask queue.
  app.addHook('onResponse', (request, reply, done) => {
    deps.metrics.requestServed(
      request.method,
      request.routeOptions.url ?? 'unmatched',
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
    done();
  });

  app.setErrorHandler((err, request: FastifyRequest, reply) => {
    const known = toDomainError(err);
    // A body we stopped reading must not be drained into a kept-alive connection.
    if (!request.raw.complete) void reply.header('connection', 'close');
    if (known) {
      if (known.status >= 500) request.log.error({ err }, 'request failed');
      return sendError(request, reply, known);
    }
    request.log.error({ err }, 'unexpected error');
    return sendError(
      request,
      reply,
      new DomainError('Internal', 'The server could not complete the request.'),
    );
  });

  app.setNotFoundHandler(async (request, reply) => {
    // A gateway authenticates before it routes: a bad signature is a 401 on any path.
    if (request.signed) {
      const bodiless = !request.headers['content-length'] || request.headers['content-length'] === '0';
      await authenticateSigned(request, bodiless ? Buffer.alloc(0) : undefined);
    }
    const path = request.url.split('?')[0];
    return sendError(
      request,
      reply,
      new DomainError('RouteNotFound', `The resource ${request.method} ${path} could not be found.`),
    );
  });

  // Read when answering: with port 0 the public URL is known only after listen.
  const publicUrl = () => config.publicUrl;
  registerDiscoveryRoutes(app, publicUrl);
  registerKeystoneRoutes(app, deps.identity, publicUrl, config.region);
  registerKeystoneAdminRoutes(app, deps.identity, publicUrl);
  registerCredentialRoutes(app, deps.accessKeys);
  registerImsJobRoutes(app, deps.jobs);
  registerCloudImageRoutes(app, deps.images);
  registerImsCopyRoutes(app, deps.imageCopy);
  registerObjectImageRoutes(app, deps.objectImages);
  registerImsMemberRoutes(app, deps.sharing);
  registerImsTagRoutes(app, deps.tags);
  registerImsQuotaRoutes(app, deps.quotas);
  registerTraceRoutes(app, deps.audit);
  registerOrganizationRoutes(app, deps.organizations, deps.identity);
  registerImageRoutes(app, deps.images, deps.imageData);
  registerUploadSessionRoutes(app, deps.uploadSessions);
  registerMemberRoutes(app, deps.members);
  registerImportRoutes(app, deps.imageImport);
  registerMetadefRoutes(app, deps.metadefs);
  registerUsageRoutes(app, deps.usage);
  registerConsoleRoutes(app, deps.consoleDir);

  app.get(
    '/healthz',
    {
      config: { auth: 'anonymous' },
      schema: { tags: ['operations'], summary: 'Health: database and store' },
    },
    async (_req, reply) => {
      const report = await deps.health();
      return reply.code(report.status === 'ok' ? 200 : 503).send(report);
    },
  );

  app.get(
    '/metrics',
    { config: { auth: 'anonymous' }, schema: { tags: ['operations'], summary: 'Prometheus metrics' } },
    async (request, reply) => {
      const allowed = isLoopback(request.ip) || config.metricsAllow.includes(request.ip);
      if (!allowed) {
        const header = request.headers['x-auth-token'];
        const ctx = deps.identity.contextFor(
          await deps.identity.validate(typeof header === 'string' ? header : undefined),
          request.id,
        );
        if (!ctx.roles.includes('admin'))
          throw new DomainError('Forbidden', 'Metrics are for administrators');
      }
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    },
  );

  app.get('/openapi.json', { config: { auth: 'anonymous' }, schema: { hide: true } }, async () =>
    app.swagger(),
  );

  return app;
}
