/**
 * HTTP(S) downloads for web-download that cannot be turned into an SSRF tool.
 *
 * - Only http and https; no user name or password in the URL.
 * - The host is resolved once; every address it resolves to must pass the
 *   AddressPolicy (no loopback, private, link-local, ... unless allow-listed),
 *   and the connection goes to that checked address through a pinned `lookup`,
 *   so a second DNS answer (rebinding) cannot change where it goes. Address
 *   literals are checked as numbers in every spelling.
 * - Redirects are followed by hand, at most `maxRedirects` hops, each hop
 *   checked as the first one.
 * - A Content-Length above `maxBytes` is refused before reading; the body is
 *   cut off once it passes `maxBytes` whatever the headers said.
 * - Timeouts: for the response headers of each hop, and between body chunks.
 * - No connection pooling: a socket is used for one request only.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { AddressPolicy, normalizeHost, parseIp } from './address-policy.ts';

export type WebDownloadFailure =
  | 'invalid-url'
  | 'forbidden-target'
  | 'dns'
  | 'unknown-host'
  | 'too-many-redirects'
  | 'http-status'
  | 'too-large'
  | 'timeout'
  | 'network';

export class WebDownloadError extends Error {
  override readonly name = 'WebDownloadError';
  constructor(
    readonly reason: WebDownloadFailure,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

export interface SafeFetchOptions {
  /** IMS_WEB_DOWNLOAD_ALLOW: host names, addresses and CIDRs reachable despite the rule. */
  allow: readonly string[];
  /** Largest body accepted (IMS_MAX_IMAGE_SIZE). */
  maxBytes: number;
  /** Per hop, until the response headers arrive. Default 30 s. */
  headersTimeoutMs?: number;
  /** Longest silence while the body streams. Default 60 s. */
  idleTimeoutMs?: number;
  /** Default 5. */
  maxRedirects?: number;
  signal?: AbortSignal;
  /** Name resolution; the system resolver unless a test stands in a hostile one. */
  resolve?: Resolve;
}

/** Every address a host name resolves to, in the resolver's order. */
export type Resolve = (host: string) => Promise<Array<{ address: string; family: number }>>;

const systemResolve: Resolve = (host) => dnsLookup(host, { all: true, verbatim: true });

export interface FetchedBody {
  /** The body, limited to maxBytes; errors with WebDownloadError on a limit or timeout. */
  stream: Readable;
  /** Content-Length of the final response, if it sent one. */
  contentLength: number | null;
  /** The URL the body came from, after redirects. */
  url: string;
}

/** A checked URL and the address to connect to. */
export interface CheckedTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

const forbidden = (msg: string) => new WebDownloadError('forbidden-target', msg);

/** The checks that need no network: scheme, credentials, syntax. Returns the parsed URL. */
export function checkUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebDownloadError('invalid-url', 'the URL is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebDownloadError('invalid-url', `only http and https URLs are allowed, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new WebDownloadError('invalid-url', 'credentials in the URL are not allowed');
  }
  if (!url.hostname) throw new WebDownloadError('invalid-url', 'the URL has no host');
  return url;
}

/**
 * The checks a request can be refused on at once, as Glance refuses them in the API:
 * `checkUrl`, and an address literal the policy forbids. Host names are resolved (and
 * their addresses judged) only by the download itself, so a name that does not resolve
 * fails the import task instead of the request.
 */
export function checkUrlOffline(text: string, policy: AddressPolicy): URL {
  const url = checkUrl(text);
  const host = normalizeHost(url.hostname);
  if (parseIp(host)) {
    const why = policy.refusal(host, host);
    if (why) throw forbidden(`web-download may not reach ${host}: ${why}`);
  }
  return url;
}

/**
 * Resolves the URL's host once and checks every address against the policy. A host
 * that resolves to any forbidden address is refused, even if others are fine.
 */
export async function resolveTarget(
  url: URL,
  policy: AddressPolicy,
  resolve: Resolve = systemResolve,
): Promise<CheckedTarget> {
  const host = normalizeHost(url.hostname);
  const literal = parseIp(host);
  let addresses: Array<{ address: string; family: number }>;
  if (literal) {
    addresses = [{ address: host, family: literal.family }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      // A name that does not exist will not exist on a retry; a resolver that failed might answer later.
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code === 'ENOTFOUND' || code === 'ENODATA' ? 'unknown-host' : 'dns';
      throw new WebDownloadError(reason, `the host ${host} could not be resolved`, { cause: err });
    }
    if (addresses.length === 0) throw new WebDownloadError('unknown-host', `the host ${host} has no address`);
  }
  for (const { address } of addresses) {
    const why = policy.refusal(host, address);
    if (why) throw forbidden(`web-download may not reach ${host}: ${why}`);
  }
  const first = addresses[0]!;
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

/** A lookup that answers the checked address whatever name it is asked for. */
function pinnedLookup(target: CheckedTarget): LookupFunction {
  return ((_host: string, opts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    if (opts?.all) cb(null, [{ address: target.address, family: target.family }]);
    else cb(null, target.address, target.family);
  }) as unknown as LookupFunction;
}

function requestOnce(target: CheckedTarget, o: SafeFetchOptions): Promise<IncomingMessage> {
  const { url } = target;
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      {
        protocol: url.protocol,
        // The name stays for the Host header and TLS (SNI, certificate); the address is pinned.
        hostname: normalizeHost(url.hostname),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'GET',
        agent: false,
        lookup: pinnedLookup(target),
        headers: { 'user-agent': 'ims-web-download', accept: '*/*' },
        ...(o.signal ? { signal: o.signal } : {}),
      },
      (res) => {
        clearTimeout(timer);
        resolve(res);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new WebDownloadError('timeout', `no response from ${url.host} in time`)),
      o.headersTimeoutMs ?? 30_000,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(
        err instanceof WebDownloadError
          ? err
          : new WebDownloadError('network', `connecting to ${url.host} failed: ${err.message}`, {
              cause: err,
            }),
      );
    });
    req.end();
  });
}

/** Counts bytes and cuts the body at the limit. */
class BodyLimit extends Transform {
  #n = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.#n += chunk.length;
    if (this.#n > this.max) {
      done(
        new WebDownloadError('too-large', `the download exceeds the maximum image size of ${this.max} bytes`),
      );
      return;
    }
    done(null, chunk);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** GETs the URL under every rule above; resolves once a 200 response's headers arrived. */
export async function safeFetch(text: string, o: SafeFetchOptions): Promise<FetchedBody> {
  const policy = new AddressPolicy(o.allow);
  const maxRedirects = o.maxRedirects ?? 5;
  let url = checkUrl(text);
  for (let hop = 0; ; hop++) {
    const target = await resolveTarget(url, policy, o.resolve);
    const res = await requestOnce(target, o);
    const status = res.statusCode ?? 0;
    if (REDIRECTS.has(status)) {
      res.destroy();
      const location = res.headers.location;
      if (!location) throw new WebDownloadError('http-status', `${status} redirect without a Location`);
      if (hop >= maxRedirects) {
        throw new WebDownloadError('too-many-redirects', `more than ${maxRedirects} redirects`);
      }
      let next: string;
      try {
        next = new URL(location, url).toString();
      } catch {
        throw new WebDownloadError('invalid-url', 'a redirect names an invalid URL');
      }
      url = checkUrl(next);
      continue;
    }
    if (status !== 200) {
      res.destroy();
      throw new WebDownloadError('http-status', `the server answered ${status} for ${url.host}`);
    }
    const lengthHeader = res.headers['content-length'];
    const contentLength =
      lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
    if (contentLength !== null && contentLength > o.maxBytes) {
      res.destroy();
      throw new WebDownloadError(
        'too-large',
        `the download is ${contentLength} bytes, above the maximum image size of ${o.maxBytes}`,
      );
    }
    const limited = new BodyLimit(o.maxBytes);
    const idle = o.idleTimeoutMs ?? 60_000;
    // The first failure wins: a timeout also aborts the response, which must not hide why.
    const failWith = (err: WebDownloadError) => {
      if (!limited.destroyed) limited.destroy(err);
      res.destroy();
    };
    res.socket?.setTimeout(idle, () =>
      failWith(new WebDownloadError('timeout', `the download stalled for ${idle} ms`)),
    );
    res.on('error', (err) =>
      failWith(
        err instanceof WebDownloadError
          ? err
          : new WebDownloadError('network', `the download broke off: ${err.message}`, { cause: err }),
      ),
    );
    // A body shorter than its Content-Length ends without error in Node: count it here.
    res.on('aborted', () => failWith(new WebDownloadError('network', 'the download broke off')));
    res.pipe(limited);
    return { stream: limited, contentLength, url: url.toString() };
  }
}
