import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

function isStreamBody(body: unknown): body is AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> {
  if (body === null || typeof body !== 'object') return false;
  if (body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob) return false;
  return body instanceof ReadableStream || Symbol.asyncIterator in body;
}

/**
 * fetch for the CLI: requests with a streamed body go through node:http, which waits for
 * the socket to drain before reading more; Node 20's fetch reads the whole source ahead
 * of a slow server (a 640 MiB upload peaked at 760 MB of memory). Everything else is the
 * platform fetch. Failures look like fetch's: TypeError('fetch failed') with the cause.
 */
export const streamingFetch: typeof fetch = (input, init) => {
  const body = init?.body as unknown;
  if (!isStreamBody(body)) return fetch(input, init);
  const url = new URL(input instanceof Request ? input.url : String(input));
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
  const transport = url.protocol === 'https:' ? https : http;
  const method = init?.method ?? 'GET';
  return new Promise<Response>((resolve, reject) => {
    const source =
      body instanceof ReadableStream
        ? Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>)
        : Readable.from(body);
    const request = transport.request(url, {
      method,
      headers,
      ...(init?.signal ? { signal: init.signal } : {}),
    });
    request.on('response', (res) => {
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (Array.isArray(value)) value.forEach((v) => responseHeaders.append(name, v));
        else if (value !== undefined) responseHeaders.set(name, value);
      }
      const status = res.statusCode ?? 0;
      const noBody = status === 204 || status === 304 || method === 'HEAD';
      if (noBody) res.resume();
      resolve(
        new Response(noBody ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>), {
          status,
          statusText: res.statusMessage ?? '',
          headers: responseHeaders,
        }),
      );
    });
    request.on('error', (err) => {
      source.destroy();
      reject(Object.assign(new TypeError('fetch failed'), { cause: err }));
    });
    source.on('error', (err) => request.destroy(err));
    source.pipe(request);
  });
};
