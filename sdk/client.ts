/**
 * A thin typed client over the generated `paths` types (schema.d.ts, from the server's own
 * /openapi.json). It adds what every caller needs and nothing else: the base URL, a token or
 * a request-signing hook, errors of all three dialects (Glance, Keystone, IMS) turned into one
 * {@link ImsApiError}, and streaming bodies for image upload and download. No Node-only
 * imports: the web console uses it too.
 */
import type { paths } from './schema.d.ts';

export type { paths };
export type HttpMethod = 'get' | 'put' | 'post' | 'patch' | 'delete';

/** Paths that have this method. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: paths[P] extends { [K in M]: unknown } ? P : never;
}[keyof paths];
/** The operation object of `M P`. */
export type Operation<P extends keyof paths, M extends HttpMethod> = paths[P] extends { [K in M]: infer O }
  ? O
  : never;

type ParamsOf<O> = O extends { parameters: infer X } ? X : never;
/** Path parameters of an operation (`{}` when it has none). */
export type PathParams<O> =
  ParamsOf<O> extends { path: infer X } ? (X extends undefined ? object : X) : object;
/** Query parameters of an operation. */
export type QueryParams<O> =
  ParamsOf<O> extends { query?: infer X } ? ([X] extends [never] ? never : NonNullable<X>) : never;
/** The JSON request body of an operation. */
export type JsonBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } }
  ? B
  : never;

type SuccessStatus = 200 | 201 | 202 | 203 | 206;
type ResponsesOf<O> = O extends { responses: infer R } ? R : never;
type JsonOf<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;
/** The JSON body of an operation's successful answer (`undefined` for 204). */
export type JsonResponse<O> = JsonOf<ResponsesOf<O>[SuccessStatus & keyof ResponsesOf<O>]>;

/** Shapes callers name often, read from the generated types. */
export type GlanceImage = JsonResponse<Operation<'/v2/images/{image_id}', 'get'>>;
export type GlanceImageList = JsonResponse<Operation<'/v2/images', 'get'>>;
export type NewImage = JsonBody<Operation<'/v2/images', 'post'>>;
export type ImageListQuery = QueryParams<Operation<'/v2/images', 'get'>>;
export type ImageMember = JsonResponse<Operation<'/v2/images/{image_id}/members/{member_id}', 'get'>>;
export type ImsJob = JsonResponse<Operation<'/v1/{project_id}/jobs/{job_id}', 'get'>>;
export type KeystoneToken = JsonResponse<Operation<'/v3/auth/tokens', 'post'>>['token'];
export type AccessKey = JsonResponse<
  Operation<'/v3.0/OS-CREDENTIAL/credentials/{access_key}', 'get'>
>['credential'];

/** Which error body the server sent: each API family keeps its own. */
export type ErrorDialect = 'glance' | 'keystone' | 'ims' | 'unknown';

/** An answer with an error status, whatever its dialect. */
export class ImsApiError extends Error {
  override readonly name = 'ImsApiError';
  constructor(
    readonly status: number,
    /** `IMG.0004` on IMS routes; the reason phrase (`Not Found`) on Glance and Keystone routes. */
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly dialect: ErrorDialect,
    readonly body: unknown,
  ) {
    super(message);
  }
}

/** The request as it will be sent, for a signing hook (AK/SK) to add its headers to. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Headers;
  /** The exact body bytes, or 'stream' when the body is streamed (sign it as unsigned). */
  body: Uint8Array | 'stream';
}

export interface ImsClientOptions {
  /** e.g. `http://127.0.0.1:9292`; paths are appended to it. */
  baseUrl: string;
  /** An X-Auth-Token, or a function returning one (called per request). */
  token?: string | (() => string | undefined | Promise<string | undefined>);
  /** Called last, with the final headers and body: adds a signature (AK/SK). */
  sign?: (request: OutgoingRequest) => void | Promise<void>;
  /** Headers sent on every request (e.g. a User-Agent). */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

type QueryValue = string | number | boolean | readonly (string | number | boolean)[] | undefined | null;

export interface CallOptions<O> {
  path?: PathParams<O>;
  query?: QueryParams<O> | Record<string, QueryValue>;
  /** Sent as JSON (or with `contentType` when given). */
  body?: JsonBody<O> | unknown;
  /** Content type of a JSON body, e.g. the JSON-patch media type. */
  contentType?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A streamed body: a web stream, a Blob, or (Node) any async iterable of bytes. */
export type StreamBody = ReadableStream<Uint8Array> | Blob | AsyncIterable<Uint8Array>;

/** A resumable upload session; byte ranges are inclusive, as in HTTP. */
export interface UploadSession {
  id: string;
  image_id: string;
  size: number;
  client_ref: string | null;
  status: 'open' | 'committed';
  received: { start: number; end: number }[];
  received_bytes: number;
  missing: { start: number; end: number }[];
  created_at: string;
  updated_at: string;
  expires_at: string;
}

export interface ImageDownload {
  /** null when the image has no data (204). */
  body: ReadableStream<Uint8Array> | null;
  /** From Content-Length; null when the server did not say. */
  size: number | null;
  /** Content-MD5 (the image checksum) on full downloads. */
  checksum: string | null;
  response: Response;
}

const REQUEST_ID_HEADERS = ['x-openstack-request-id', 'x-request-id', 'x-compute-request-id'];

function expandPath(template: string, params: object | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const value = (params as Record<string, unknown> | undefined)?.[name];
    if (value === undefined || value === null) throw new TypeError(`Missing path parameter '${name}'`);
    return encodeURIComponent(String(value));
  });
}

function appendQuery(url: URL, query: object | undefined): void {
  for (const [key, value] of Object.entries(query ?? {}) as [string, QueryValue][]) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(key, String(v));
  }
}

/** Reads an error answer of any dialect into an {@link ImsApiError}. */
export async function apiError(response: Response): Promise<ImsApiError> {
  const text = await response.text().catch(() => '');
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's page, or Glance's plain text): the text is the message.
  }
  const headerId = REQUEST_ID_HEADERS.map((h) => response.headers.get(h)).find((v) => v) ?? null;
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const requestId = typeof b.request_id === 'string' ? b.request_id : headerId;
  const fallback = response.statusText || `HTTP ${response.status}`;
  const err = b.error as Record<string, unknown> | undefined;
  if (typeof err === 'object' && err !== null && typeof err.code === 'string') {
    return new ImsApiError(
      response.status,
      err.code,
      String(err.message ?? fallback),
      requestId,
      'ims',
      body,
    );
  }
  if (typeof b.error_code === 'string') {
    return new ImsApiError(
      response.status,
      b.error_code,
      String(b.error_msg ?? fallback),
      requestId,
      'ims',
      body,
    );
  }
  if (typeof err === 'object' && err !== null && typeof err.code === 'number') {
    const title = String(err.title ?? fallback);
    return new ImsApiError(response.status, title, String(err.message ?? title), requestId, 'keystone', body);
  }
  if (typeof b.title === 'string' || typeof b.message === 'string') {
    const title = String(b.title ?? fallback);
    return new ImsApiError(response.status, title, String(b.message ?? title), requestId, 'glance', body);
  }
  const message = typeof body === 'string' && body.trim() ? body.trim().slice(0, 500) : fallback;
  return new ImsApiError(response.status, fallback, message, requestId, 'unknown', body);
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === 'object' && x !== null && Symbol.asyncIterator in x;
}

/** A typed client for one IMS endpoint. */
export class ImsClient {
  private readonly fetchImpl: typeof fetch;
  readonly baseUrl: string;

  constructor(private readonly options: ImsClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((...args) => fetch(...args));
  }

  /** The response of `METHOD path` after the error check, body unread (streams, headers). */
  async raw(
    method: string,
    pathTemplate: string,
    options: CallOptions<unknown> & { stream?: StreamBody; size?: number } = {},
  ): Promise<Response> {
    const url = new URL(this.baseUrl + expandPath(pathTemplate, options.path as object | undefined));
    appendQuery(url, options.query as object | undefined);
    const headers = new Headers({ accept: 'application/json', ...this.options.headers, ...options.headers });
    const token = typeof this.options.token === 'function' ? await this.options.token() : this.options.token;
    if (token) headers.set('x-auth-token', token);

    let body: Uint8Array | StreamBody | undefined;
    if (options.stream !== undefined) {
      body = options.stream;
      headers.set('content-type', 'application/octet-stream');
      if (options.size !== undefined) headers.set('content-length', String(options.size));
    } else if (options.body !== undefined) {
      body = new TextEncoder().encode(JSON.stringify(options.body));
      headers.set('content-type', options.contentType ?? 'application/json');
    }
    if (this.options.sign) {
      await this.options.sign({
        method,
        url,
        headers,
        body: body === undefined ? new Uint8Array() : body instanceof Uint8Array ? body : 'stream',
      });
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers };
    if (options.signal) init.signal = options.signal;
    if (body !== undefined) {
      init.body = (
        isAsyncIterable(body) && !(body instanceof ReadableStream) ? body : body
      ) as RequestInit['body'];
      // Streamed request bodies need half duplex (Node's fetch and browsers alike).
      if (!(body instanceof Uint8Array)) init.duplex = 'half';
    }
    const response = await this.fetchImpl(url, init);
    if (!response.ok) throw await apiError(response);
    return response;
  }

  /** `METHOD path` with a JSON answer: the parsed body and the response (for headers). */
  async call<P extends keyof paths, M extends HttpMethod>(
    method: M,
    path: P,
    options: CallOptions<Operation<P, M>> = {},
  ): Promise<{ data: JsonResponse<Operation<P, M>>; response: Response }> {
    const response = await this.raw(method.toUpperCase(), path as string, options as CallOptions<unknown>);
    const text = response.status === 204 ? '' : await response.text();
    const data = (text ? JSON.parse(text) : undefined) as JsonResponse<Operation<P, M>>;
    return { data, response };
  }

  GET<P extends PathsWith<'get'>>(path: P, options?: CallOptions<Operation<P, 'get'>>) {
    return this.call('get', path, (options ?? {}) as CallOptions<Operation<P, 'get'>>).then((r) => r.data);
  }
  POST<P extends PathsWith<'post'>>(path: P, options?: CallOptions<Operation<P, 'post'>>) {
    return this.call('post', path, options ?? {}).then((r) => r.data);
  }
  PUT<P extends PathsWith<'put'>>(path: P, options?: CallOptions<Operation<P, 'put'>>) {
    return this.call('put', path, options ?? {}).then((r) => r.data);
  }
  PATCH<P extends PathsWith<'patch'>>(path: P, options?: CallOptions<Operation<P, 'patch'>>) {
    return this.call('patch', path, options ?? {}).then((r) => r.data);
  }
  DELETE<P extends PathsWith<'delete'>>(path: P, options?: CallOptions<Operation<P, 'delete'>>) {
    return this.call('delete', path, options ?? {}).then((r) => r.data);
  }

  /** Streams image data to `PUT /v2/images/{id}/file`; `size` lets the server check the length. */
  async uploadImageData(
    imageId: string,
    data: StreamBody,
    options: { size?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    const response = await this.raw('PUT', '/v2/images/{image_id}/file', {
      path: { image_id: imageId },
      stream: data,
      ...(options.size !== undefined ? { size: options.size } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await response.body?.cancel();
  }

  /** Starts a resumable upload of `size` bytes; `clientRef` labels it so that a later run finds it. */
  async createUploadSession(imageId: string, size: number, clientRef?: string): Promise<UploadSession> {
    return this.sessionCall('POST', '/v2/images/{image_id}/upload-sessions', imageId, undefined, {
      body: { size, ...(clientRef === undefined ? {} : { client_ref: clientRef }) },
    });
  }

  /** The caller's open upload sessions of the image. */
  async listUploadSessions(imageId: string): Promise<UploadSession[]> {
    const response = await this.raw('GET', '/v2/images/{image_id}/upload-sessions', {
      path: { image_id: imageId },
    });
    return ((await response.json()) as { upload_sessions: UploadSession[] }).upload_sessions;
  }

  async getUploadSession(imageId: string, sessionId: string): Promise<UploadSession> {
    return this.sessionCall('GET', '/v2/images/{image_id}/upload-sessions/{session_id}', imageId, sessionId);
  }

  /** Sends `length` bytes of the session's data starting at `start` (Content-Range). */
  async uploadChunk(
    imageId: string,
    sessionId: string,
    chunk: { start: number; length: number; total: number; data: StreamBody; signal?: AbortSignal },
  ): Promise<UploadSession> {
    const response = await this.raw('PUT', '/v2/images/{image_id}/upload-sessions/{session_id}', {
      path: { image_id: imageId, session_id: sessionId },
      stream: chunk.data,
      size: chunk.length,
      headers: {
        'content-range': `bytes ${chunk.start}-${chunk.start + chunk.length - 1}/${chunk.total}`,
      },
      ...(chunk.signal ? { signal: chunk.signal } : {}),
    });
    return (await response.json()) as UploadSession;
  }

  /** Assembles the session's data into the image (inspected and hashed as a single upload). */
  async commitUploadSession(imageId: string, sessionId: string): Promise<void> {
    const response = await this.raw('POST', '/v2/images/{image_id}/upload-sessions/{session_id}/commit', {
      path: { image_id: imageId, session_id: sessionId },
    });
    await response.body?.cancel();
  }

  async deleteUploadSession(imageId: string, sessionId: string): Promise<void> {
    const response = await this.raw('DELETE', '/v2/images/{image_id}/upload-sessions/{session_id}', {
      path: { image_id: imageId, session_id: sessionId },
    });
    await response.body?.cancel();
  }

  private async sessionCall(
    method: string,
    template: string,
    imageId: string,
    sessionId: string | undefined,
    options: { body?: unknown } = {},
  ): Promise<UploadSession> {
    const response = await this.raw(method, template, {
      path: { image_id: imageId, ...(sessionId === undefined ? {} : { session_id: sessionId }) },
      ...options,
    });
    return (await response.json()) as UploadSession;
  }

  /** Opens `GET /v2/images/{id}/file` as a stream (a byte range with `range`). */
  async downloadImageData(
    imageId: string,
    options: { range?: { start: number; end?: number }; signal?: AbortSignal } = {},
  ): Promise<ImageDownload> {
    const headers: Record<string, string> = { accept: 'application/octet-stream' };
    if (options.range) headers.range = `bytes=${options.range.start}-${options.range.end ?? ''}`;
    const response = await this.raw('GET', '/v2/images/{image_id}/file', {
      path: { image_id: imageId },
      headers,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const length = response.headers.get('content-length');
    return {
      body: response.status === 204 ? null : response.body,
      size: length === null ? null : Number(length),
      checksum: response.headers.get('content-md5'),
      response,
    };
  }

  /** Keystone password sign-in: the token (X-Subject-Token) and its body. */
  async passwordToken(auth: {
    user: string;
    password: string;
    userDomain?: string;
    project?: string;
    projectId?: string;
    projectDomain?: string;
  }): Promise<{ token: string; body: KeystoneToken }> {
    const domainRef = (name: string | undefined) => (name ? { name } : { id: 'default' });
    const scope = auth.projectId
      ? { project: { id: auth.projectId } }
      : auth.project
        ? { project: { name: auth.project, domain: domainRef(auth.projectDomain) } }
        : undefined;
    const { data, response } = await this.call('post', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: auth.user, domain: domainRef(auth.userDomain), password: auth.password },
            },
          },
          ...(scope ? { scope } : {}),
        },
      },
    });
    const token = response.headers.get('x-subject-token');
    if (!token)
      throw new ImsApiError(
        response.status,
        'NoToken',
        'The answer had no X-Subject-Token',
        null,
        'unknown',
        data,
      );
    return { token, body: data.token };
  }
}
