import http from 'node:http';
import https from 'node:https';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PeerRegion } from './peer-regions.ts';

/** A failed call to a peer region; `transient` when trying again later may succeed. */
export class PeerError extends Error {
  constructor(
    message: string,
    readonly transient: boolean,
    readonly status: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PeerError';
  }
}

export interface PeerImage {
  id: string;
  status: string;
  owner: string;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  size: number | null;
}

/** A resumable upload session there (IMS's upload-session API). */
export interface PeerSession {
  id: string;
  client_ref: string | null;
  status: 'open' | 'committed';
  received_bytes: number;
  /** Inclusive byte ranges still to send. */
  missing: { start: number; end: number }[];
}

type Json = Record<string, unknown>;

/**
 * A peer region's public API as its service user sees it: Keystone to find projects and
 * roles, Glance to make the image and send its bytes. Every call is an ordinary API call
 * that the peer authorises and audits as its own.
 */
export class PeerRegionClient {
  private token: string | null = null;

  constructor(private readonly peer: PeerRegion) {}

  private async authenticate(): Promise<string> {
    const { auth } = this.peer;
    const res = await this.call('POST', '/v3/auth/tokens', {
      anonymous: true,
      body: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: auth.user, domain: { name: auth.domain }, password: auth.password } },
          },
          scope: { project: { name: auth.project, domain: { name: auth.domain } } },
        },
      },
    });
    const token = res.headers.get('x-subject-token');
    if (!token) throw new PeerError(`region ${this.peer.region} issued no token`, true);
    return token;
  }

  private async call(
    method: string,
    path: string,
    options: { body?: unknown; anonymous?: boolean; allow404?: boolean } = {},
  ): Promise<Response> {
    if (!options.anonymous) this.token ??= await this.authenticate();
    let res: Response;
    try {
      res = await fetch(`${this.peer.url}${path}`, {
        method,
        headers: {
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(options.anonymous ? {} : { 'x-auth-token': this.token! }),
        },
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new PeerError(
        `region ${this.peer.region} could not be reached: ${(err as Error).message}`,
        true,
        null,
        {
          cause: err,
        },
      );
    }
    if (res.ok || (options.allow404 && res.status === 404)) return res;
    throw await failureOf(this.peer.region, method, path, res);
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.call(method, path, body === undefined ? {} : { body })).json()) as T;
  }

  /** The id of a project of the named account (domain) there, or null. */
  async projectId(domainName: string, projectName: string): Promise<string | null> {
    const { domains } = await this.json<{ domains: { id: string }[] }>(
      'GET',
      `/v3/domains?name=${encodeURIComponent(domainName)}`,
    );
    if (!domains[0]) return null;
    const { projects } = await this.json<{ projects: { id: string }[] }>(
      'GET',
      `/v3/projects?name=${encodeURIComponent(projectName)}&domain_id=${encodeURIComponent(domains[0].id)}`,
    );
    return projects[0]?.id ?? null;
  }

  /** The role names the named user of that account holds on the project there (none if no such user). */
  async rolesOf(domainName: string, userName: string, projectId: string): Promise<string[]> {
    const { domains } = await this.json<{ domains: { id: string }[] }>(
      'GET',
      `/v3/domains?name=${encodeURIComponent(domainName)}`,
    );
    if (!domains[0]) return [];
    const { users } = await this.json<{ users: { id: string }[] }>(
      'GET',
      `/v3/users?name=${encodeURIComponent(userName)}&domain_id=${encodeURIComponent(domains[0].id)}`,
    );
    if (!users[0]) return [];
    const { roles } = await this.json<{ roles: { name: string }[] }>(
      'GET',
      `/v3/projects/${encodeURIComponent(projectId)}/users/${encodeURIComponent(users[0].id)}/roles`,
    );
    return roles.map((r) => r.name);
  }

  async findImage(id: string): Promise<PeerImage | null> {
    const res = await this.call('GET', `/v2/images/${encodeURIComponent(id)}`, { allow404: true });
    return res.status === 404 ? null : ((await res.json()) as PeerImage);
  }

  async createImage(body: Json): Promise<PeerImage> {
    return this.json<PeerImage>('POST', '/v2/images', body);
  }

  /** A key/value tag, through IMS's own tag route there. */
  async setTag(id: string, key: string, value: string): Promise<void> {
    await this.call('PUT', '/v1/cloudimages/tags', { body: { image_id: id, image_tag: { key, value } } });
  }

  async deleteImage(id: string): Promise<void> {
    await this.call('DELETE', `/v2/images/${encodeURIComponent(id)}`, { allow404: true });
  }

  /** The open resumable upload session this client made for `ref` (a job), if any. */
  async findSession(imageId: string, ref: string): Promise<PeerSession | null> {
    const { upload_sessions } = await this.json<{ upload_sessions: PeerSession[] }>(
      'GET',
      `/v2/images/${encodeURIComponent(imageId)}/upload-sessions`,
    );
    return upload_sessions.find((s) => s.client_ref === ref && s.status === 'open') ?? null;
  }

  async openSession(imageId: string, size: number, ref: string): Promise<PeerSession> {
    return this.json<PeerSession>('POST', `/v2/images/${encodeURIComponent(imageId)}/upload-sessions`, {
      size,
      client_ref: ref,
    });
  }

  /** Streams one chunk, bytes `start`-`end` (inclusive) of `total`; `onBytes` counts what has gone. */
  async sendChunk(
    imageId: string,
    sessionId: string,
    range: { start: number; end: number; total: number },
    data: Readable,
    onBytes: (sent: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    await this.stream(
      `/v2/images/${encodeURIComponent(imageId)}/upload-sessions/${encodeURIComponent(sessionId)}`,
      { 'content-range': `bytes ${range.start}-${range.end}/${range.total}` },
      data,
      range.end - range.start + 1,
      onBytes,
      signal,
    );
  }

  /**
   * Assembles the session into the image, declaring the hash the bytes must have: the peer
   * inspects and hashes them as any upload and refuses (keeping nothing of) changed data.
   */
  async commitSession(
    imageId: string,
    sessionId: string,
    hash: { algo: string; value: string },
  ): Promise<void> {
    const path = `/v2/images/${encodeURIComponent(imageId)}/upload-sessions/${encodeURIComponent(sessionId)}/commit`;
    this.token ??= await this.authenticate();
    let res: Response;
    try {
      res = await fetch(`${this.peer.url}${path}`, {
        method: 'POST',
        headers: {
          'x-auth-token': this.token,
          'x-image-meta-os-hash-algo': hash.algo,
          'x-image-meta-os-hash-value': hash.value,
        },
        // Assembling a large image takes as long as reading it back from the peer's store.
        signal: AbortSignal.timeout(3_600_000),
      });
    } catch (err) {
      throw new PeerError(
        `region ${this.peer.region} could not be reached: ${(err as Error).message}`,
        true,
        null,
        {
          cause: err,
        },
      );
    }
    if (!res.ok) throw await failureOf(this.peer.region, 'POST', path, res);
  }

  private async stream(
    path: string,
    headers: Record<string, string>,
    data: Readable,
    length: number,
    onBytes: (sent: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.token ??= await this.authenticate();
    const url = new URL(`${this.peer.url}${path}`);
    const mod = url.protocol === 'https:' ? https : http;
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        sent += chunk.length;
        onBytes(sent);
        done(null, chunk);
      },
    });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, {
        method: 'PUT',
        signal,
        headers: {
          ...headers,
          'content-type': 'application/octet-stream',
          'content-length': String(length),
          'x-auth-token': this.token!,
        },
      });
      req.once('response', resolve);
      req.once('error', reject);
      pipeline(data, counter, req).catch(reject);
    });
    let res: http.IncomingMessage;
    try {
      res = await response;
    } catch (err) {
      throw new PeerError(
        `sending data to region ${this.peer.region} failed: ${(err as Error).message}`,
        true,
        null,
        {
          cause: err,
        },
      );
    }
    let text = '';
    for await (const chunk of res) text += (chunk as Buffer).toString();
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return;
    throw new PeerError(
      `region ${this.peer.region} refused the data (HTTP ${status}): ${messageOf(text)}`,
      status >= 500 || status === 429,
      status,
    );
  }
}

async function failureOf(region: string, method: string, path: string, res: Response): Promise<PeerError> {
  const text = await res.text().catch(() => '');
  // 5xx and throttling pass; a 4xx will answer the same on a retry.
  const transient = res.status >= 500 || res.status === 429;
  return new PeerError(
    `region ${region} answered ${method} ${path.split('?')[0]} with HTTP ${res.status}: ${messageOf(text)}`,
    transient,
    res.status,
  );
}

/** The message of a Glance, Keystone or IMS error body, else the start of the text. */
function messageOf(text: string): string {
  try {
    const body = JSON.parse(text) as Json;
    const error = body.error as Json | undefined;
    if (error && typeof error.message === 'string') return error.message;
    if (typeof body.message === 'string') return body.message;
  } catch {
    // Not JSON: Glance's HTML-ish plain errors.
  }
  return text.slice(0, 300);
}
