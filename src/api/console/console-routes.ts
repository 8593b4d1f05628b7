import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../domain/errors.ts';
import { packageRoot } from '../../adapters/package-root.ts';
import { gzipped, StaticBundle, type StaticFile } from './static-files.ts';

/**
 * The console's page may load code and styles from this origin only and talk to
 * this origin only; no inline script, no eval, no plugins, no framing, and DOM
 * sinks that parse HTML refuse strings (Trusted Types), so a name that slipped
 * past React's escaping still could not run.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** `console/dist` of the package this module belongs to (run from src/ or from the compiled dist/src/). */
export function defaultConsoleDir(): string {
  return path.join(packageRoot(), 'console', 'dist');
}

/** A path that names a file (a dot in its last segment, or under assets/) gets a 404, not the page. */
const looksLikeFile = (p: string) => p.startsWith('assets/') || /\.[^/]*$/.test(p);

function send(request: FastifyRequest, reply: FastifyReply, file: StaticFile, status = 200) {
  void reply.headers(SECURITY_HEADERS);
  void reply
    .header('content-type', file.type)
    .header('etag', file.etag)
    .header('vary', 'accept-encoding')
    .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (status === 200 && request.headers['if-none-match'] === file.etag) {
    return reply.code(304).send();
  }
  const accepts = String(request.headers['accept-encoding'] ?? '');
  const packed = /\bgzip\b/.test(accepts) ? gzipped(file) : null;
  if (packed) void reply.header('content-encoding', 'gzip');
  return reply.code(status).send(packed ?? file.body);
}

/**
 * Serves the web console's build at /console, anonymously (the page holds no data;
 * every API call it makes carries the user's token). Paths that are not files are
 * the single-page app's own routes: they get index.html.
 */
export function registerConsoleRoutes(app: FastifyInstance, dir: string = defaultConsoleDir()): void {
  const bundle = new StaticBundle(dir);
  const handler = async (request: FastifyRequest<{ Params: { '*'?: string } }>, reply: FastifyReply) => {
    const rel = (request.params['*'] ?? '').replace(/^\/+/, '');
    if (!bundle.built) {
      throw new DomainError(
        'ServiceUnavailable',
        'The web console is not built: run `npm install` (or `node scripts/build-console.mjs`).',
      );
    }
    const file = rel === '' ? null : bundle.get(rel);
    if (file) return send(request, reply, file);
    if (rel !== '' && looksLikeFile(rel)) {
      throw new DomainError('RouteNotFound', `The resource GET /console/${rel} could not be found.`);
    }
    return send(request, reply, bundle.get('index.html')!);
  };
  const options = { config: { auth: 'anonymous' as const }, schema: { hide: true } };
  app.get('/console', options, handler);
  app.get('/console/*', options, handler);
}
