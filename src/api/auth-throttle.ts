import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FailureLimiter } from '../adapters/failure-limiter.ts';
import { DomainError } from '../domain/errors.ts';

/** Password and credential logins: the route whose failures are counted besides signatures. */
const isLogin = (request: FastifyRequest) =>
  request.method === 'POST' && request.routeOptions.url === '/v3/auth/tokens';

/**
 * Slows down guessing: a source address (request.ip, which honours
 * IMS_TRUSTED_PROXIES) whose logins or AK/SK signatures failed too often is
 * answered 429 with Retry-After, in the caller's dialect, until its window ends.
 */
export function registerAuthThrottle(app: FastifyInstance, limiter: FailureLimiter): void {
  // Callback-style hooks: most requests are neither logins nor signed, and an async hook costs
  // each of them a promise and a turn of the microtask queue.
  app.addHook('onRequest', (request, _reply, done) => {
    if (!isLogin(request) && !request.signed) return done();
    limiter.retryAfter(request.ip).then((wait) => {
      if (wait <= 0) return done();
      done(
        new DomainError('TooManyRequests', 'Too many failed authentication attempts; try again later.', {
          headers: { 'retry-after': String(wait) },
        }),
      );
    }, done);
  });
  // Counted before the 401 leaves: a client that retries at once, on this node or another, finds it counted.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode !== 401 || !(isLogin(request) || request.signed)) return done(null, payload);
    // The caller's answer is the 401 whatever happens here: a database hiccup must not turn it into a 500.
    limiter
      .recordFailure(request.ip)
      .catch((err: unknown) => request.log.warn({ err }, 'counting a failed authentication failed'))
      .finally(() => done(null, payload));
  });
}
