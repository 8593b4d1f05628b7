import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../domain/errors.ts';

export type Dialect = 'glance' | 'keystone' | 'ims';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Which API family a path belongs to: its errors are rendered in that family's shape. */
export function dialectOf(url: string): Dialect {
  const path = url.split('?')[0] ?? '';
  if (path === '/v3' || path.startsWith('/v3/') || path.startsWith('/v3.0/')) return 'keystone';
  if (
    /^\/v1(\.1)?\//.test(path) ||
    /^\/v2(\.1)?\/cloudimages/.test(path) ||
    /^\/v2\/[0-9a-f]{32}\//.test(path)
  )
    return 'ims';
  return 'glance';
}

/** Maps anything thrown while serving a request to one catalogue error. */
export function toDomainError(err: unknown): DomainError | null {
  if (err instanceof DomainError) return err;
  const e = err as FastifyError & { validation?: unknown };
  if (e?.validation) return new DomainError('ValidationFailed', e.message);
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DomainError('PayloadTooLarge', 'The request body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DomainError('UnsupportedMediaType', 'Unsupported content type');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new DomainError('BadRequest', 'The request body does not match its Content-Length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new DomainError('EmptyBody', 'The request body is empty');
    default:
      break;
  }
  if (err instanceof SyntaxError) return new DomainError('InvalidJson', 'Malformed JSON in request body.');
  return null;
}

export function errorBody(dialect: Dialect, err: DomainError, requestId: string): unknown {
  const status = err.status;
  switch (dialect) {
    case 'keystone':
      return {
        error: { code: status, title: REASONS[status] ?? 'Error', message: err.message },
        request_id: requestId,
      };
    case 'ims':
      if (status === 401 || status === 429)
        return { error_code: err.imsCode, error_msg: err.message, request_id: requestId };
      return { error: { code: err.imsCode, message: err.message }, request_id: requestId };
    case 'glance':
      return {
        code: `${status} ${REASONS[status] ?? 'Error'}`,
        title: REASONS[status] ?? 'Error',
        message: err.message,
        request_id: requestId,
      };
  }
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: DomainError): FastifyReply {
  // The Huawei SDK understands only its own error shape, whatever the route.
  const dialect = request.signed ? 'ims' : dialectOf(request.url);
  request.errorSent = err;
  for (const [k, v] of Object.entries(err.details.headers ?? {})) void reply.header(k, v);
  if (err.status === 401 && dialect !== 'ims')
    void reply.header('www-authenticate', `Keystone uri="${request.protocol}://${request.host}/v3"`);
  if (dialect === 'glance' && !acceptsJson(request)) {
    // As Glance (webob) does for clients that do not ask for JSON: glanceclient
    // sends Accept: */* and reads every value of a JSON error body as an object,
    // so a JSON body would turn each of its errors into a Python traceback.
    const reason = REASONS[err.status] ?? 'Error';
    return reply
      .code(err.status)
      .type('text/plain; charset=utf-8')
      .send(`${err.status} ${reason}\n\n${err.message}\n\nRequest id: ${request.id}\n`);
  }
  return reply
    .code(dialect === 'ims' ? err.imsStatus : err.status)
    .type('application/json')
    .send(errorBody(dialect, err, request.id));
}

function acceptsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && /application\/(json|[\w.+-]*\+json)/i.test(accept);
}
