/**
 * Resumable uploads. A session belongs to one queued image and one project and
 * declares the image's size; chunks arrive in any order, each stored as its own
 * committed object of the store (so they outlive the request, the client's
 * connection and this process); the commit feeds them in order, as one stream,
 * through the same upload path as PUT /file — the same inspection, hashing,
 * expected hashes and quota — and only then drops them.
 */
import { randomUUID } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Clock } from '../adapters/clock.ts';
import type { Repositories } from '../adapters/db/repositories.ts';
import type { UploadSessionRow } from '../adapters/db/upload-session-repository.ts';
import type { BlobStore } from '../adapters/storage/blob-store.ts';
import type { StoreRegistry } from '../adapters/storage/store-registry.ts';
import { isAdmin, type RequestContext } from '../domain/context.ts';
import { DomainError, fail } from '../domain/errors.ts';
import type { ExpectedHash } from '../domain/expected-hash.ts';
import type { Image } from '../domain/image.ts';
import {
  assertComplete,
  chunkSpan,
  clientRef,
  MAX_OPEN_SESSIONS_PER_PROJECT,
  mergedRanges,
  missingRanges,
  placeChunk,
  sessionSize,
  type Span,
} from '../domain/upload-session.ts';
import { assertCanModify } from '../domain/visibility.ts';
import { assertUploadable, type ImageDataService } from './image-data.ts';
import type { ImageService } from './images.ts';
import type { Policy } from './policy.ts';

export interface UploadSessionView {
  id: string;
  image_id: string;
  size: number;
  client_ref: string | null;
  status: 'open' | 'committed';
  /** Received bytes as inclusive ranges, adjacent chunks merged. */
  received: { start: number; end: number }[];
  received_bytes: number;
  /** What a commit still needs, as inclusive ranges. */
  missing: { start: number; end: number }[];
  created_at: string;
  updated_at: string;
  expires_at: string;
}

/** Where a chunk request says its bytes go. */
export interface ChunkHeaders {
  contentRange?: string;
  offset?: string;
  contentLength?: string;
}

/** Passes exactly `length` bytes; more, or fewer at the end, fail the chunk. */
class ExactLength extends Transform {
  private seen = 0;
  constructor(private readonly length: number) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.length) {
      return done(
        new DomainError('BadRequest', `The chunk holds more than the ${this.length} bytes announced`),
      );
    }
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    if (this.seen !== this.length) {
      return done(
        new DomainError('UploadFailed', `The chunk ended after ${this.seen} of ${this.length} bytes`),
      );
    }
    done();
  }
}

export class UploadSessionService {
  constructor(
    private readonly db: Repositories,
    private readonly images: ImageService,
    private readonly data: ImageDataService,
    private readonly stores: StoreRegistry,
    private readonly clock: Clock,
    private readonly policy: Policy,
    private readonly options: { ttlSeconds: number; maxImageSize: number },
  ) {}

  async create(ctx: RequestContext, imageId: string, body: unknown): Promise<UploadSessionView> {
    const image = await this.writableImage(ctx, imageId);
    const size = sessionSize(body, this.options.maxImageSize);
    const ref = clientRef(body);
    const now = this.clock.now();
    if (
      (await this.db.uploadSessions.countLive(ctx.projectId, now.toISOString())) >=
      MAX_OPEN_SESSIONS_PER_PROJECT
    ) {
      fail(
        'QuotaExceeded',
        `Project ${ctx.projectId} has ${MAX_OPEN_SESSIONS_PER_PROJECT} open upload sessions; commit or delete one first`,
      );
    }
    const row: UploadSessionRow = {
      id: randomUUID(),
      image_id: image.id,
      project_id: ctx.projectId,
      user_id: ctx.userId,
      client_ref: ref,
      size,
      store: this.stores.defaultName,
      status: 'open',
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      expires_at: this.expiry(now),
    };
    await this.db.uploadSessions.insert(row);
    return view(row, []);
  }

  /** The caller's project's open sessions of the image (a client resuming finds its own by client_ref). */
  async list(ctx: RequestContext, imageId: string): Promise<UploadSessionView[]> {
    const image = await this.images.get(ctx, imageId);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: image.owner });
    const out: UploadSessionView[] = [];
    for (const row of await this.db.uploadSessions.openForImage(image.id, ctx.projectId)) {
      out.push(view(row, await this.db.uploadSessions.chunks(row.id)));
    }
    return out;
  }

  async show(ctx: RequestContext, imageId: string, sessionId: string): Promise<UploadSessionView> {
    const session = await this.session(ctx, imageId, sessionId);
    return view(session, await this.db.uploadSessions.chunks(session.id));
  }

  /**
   * Stores one chunk. Its bytes go to their own object first; only a complete
   * chunk gets a row, so a cut leaves no trace but an object the next purge
   * of the session removes. The same range sent again (the client never saw
   * the answer) is accepted and the second copy dropped.
   */
  async putChunk(
    ctx: RequestContext,
    imageId: string,
    sessionId: string,
    headers: ChunkHeaders,
    body: Readable,
  ): Promise<UploadSessionView> {
    const session = await this.openSession(ctx, imageId, sessionId);
    await this.writableImage(ctx, imageId);
    const span = chunkSpan(headers, session.size);
    // Refused before a byte is read when the answer is already known.
    placeChunk(spans(await this.db.uploadSessions.chunks(session.id)), span);

    const store = this.stores.get(session.store);
    const key = `upload-sessions/${session.id}/${span.start}-${randomUUID()}`;
    const writer = await store.openWriter(key);
    try {
      await pipeline(body, new ExactLength(span.end - span.start), writer.stream);
      await writer.commit();
    } catch (err) {
      await writer.abort().catch(() => {});
      throw err;
    }
    const now = this.clock.now();
    let keep = false;
    try {
      const result = await this.db.transaction(async (tx) => {
        const locked = await tx.uploadSessions.lock(session.id);
        if (!locked || locked.status !== 'open')
          fail('Conflict', `Upload session ${session.id} is no longer open`);
        const chunks = await tx.uploadSessions.chunks(session.id);
        if (placeChunk(spans(chunks), span) === 'duplicate') return view(locked!, chunks);
        await tx.uploadSessions.addChunk({
          session_id: session.id,
          start_offset: span.start,
          end_offset: span.end,
          store_key: key,
          created_at: now.toISOString(),
        });
        await tx.uploadSessions.touch(session.id, now.toISOString(), this.expiry(now));
        keep = true;
        const row = { ...locked!, updated_at: now.toISOString(), expires_at: this.expiry(now) };
        return view(row, [...chunks, { start_offset: span.start, end_offset: span.end }]);
      });
      return result;
    } finally {
      if (!keep) await store.delete(key).catch(() => {});
    }
  }

  /**
   * Assembles the chunks in order and uploads them as the image's data. A
   * repeated commit of a committed session answers the image again.
   */
  async commit(
    ctx: RequestContext,
    imageId: string,
    sessionId: string,
    expected: readonly ExpectedHash[] = [],
  ): Promise<Image> {
    const session = await this.session(ctx, imageId, sessionId);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: session.project_id });
    if (session.status === 'committed') return this.images.get(ctx, imageId);
    const chunks = await this.db.uploadSessions.chunks(session.id);
    assertComplete(spans(chunks), session.size);
    const store = this.stores.get(session.store);
    const image = await this.data.upload(
      ctx,
      imageId,
      assembled(
        store,
        chunks.map((c) => c.store_key),
      ),
      session.size,
      expected,
    );
    await this.db.uploadSessions.markCommitted(session.id, this.clock.now().toISOString());
    // The image is active whatever happens next; chunks left by a failure here go with the purge.
    await this.dropChunks(
      session,
      chunks.map((c) => c.store_key),
    ).catch(() => {});
    return image;
  }

  async abandon(ctx: RequestContext, imageId: string, sessionId: string): Promise<void> {
    const session = await this.session(ctx, imageId, sessionId);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: session.project_id });
    await this.remove(session);
  }

  /** Removes sessions past their expiry, with their chunks. Returns how many. */
  async purgeExpired(): Promise<number> {
    let n = 0;
    for (;;) {
      const batch = await this.db.uploadSessions.expired(this.clock.now().toISOString(), 100);
      if (!batch.length) return n;
      for (const session of batch) {
        await this.remove(session);
        n++;
      }
    }
  }

  private async remove(session: UploadSessionRow): Promise<void> {
    const chunks = await this.db.uploadSessions.chunks(session.id);
    await this.dropChunks(
      session,
      chunks.map((c) => c.store_key),
    );
    await this.db.uploadSessions.delete(session.id);
  }

  /**
   * Deletes the chunk objects, and those of chunks that were cut before they
   * got a row (a process killed mid-chunk leaves them under the session's prefix).
   */
  private async dropChunks(session: UploadSessionRow, keys: string[]): Promise<void> {
    const store = this.stores.get(session.store);
    const all = new Set(keys);
    for await (const { key } of store.list(`upload-sessions/${session.id}/`)) all.add(key);
    for (const key of all) await store.delete(key);
    await this.db.uploadSessions.deleteChunks(session.id);
  }

  /** The caller's session of this image; another project's is not found (its existence is not told). */
  private async session(ctx: RequestContext, imageId: string, sessionId: string): Promise<UploadSessionRow> {
    const session = await this.db.uploadSessions.find(sessionId);
    if (!session || session.image_id !== imageId || (session.project_id !== ctx.projectId && !isAdmin(ctx))) {
      return fail('NotFound', `No upload session ${sessionId} for image ${imageId}`);
    }
    return session;
  }

  private async openSession(
    ctx: RequestContext,
    imageId: string,
    sessionId: string,
  ): Promise<UploadSessionRow> {
    const session = await this.session(ctx, imageId, sessionId);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: session.project_id });
    if (session.status !== 'open') fail('Conflict', `Upload session ${sessionId} is already committed`);
    return session;
  }

  private async writableImage(ctx: RequestContext, imageId: string): Promise<Image> {
    const image = await this.images.get(ctx, imageId);
    this.policy.authorize(ctx, 'ims:images:upload', { projectId: image.owner });
    assertCanModify(ctx, image);
    assertUploadable(image);
    return image;
  }

  private expiry(now: Date): string {
    return new Date(now.getTime() + this.options.ttlSeconds * 1000).toISOString();
  }
}

const spans = (chunks: readonly { start_offset: number; end_offset: number }[]): Span[] =>
  chunks.map((c) => ({ start: Number(c.start_offset), end: Number(c.end_offset) }));

/** The chunk objects read one after the other, as one byte stream. */
function assembled(store: BlobStore, keys: string[]): Readable {
  async function* bytes(): AsyncGenerator<Buffer> {
    for (const key of keys) {
      const part = await store.read(key);
      for await (const chunk of part) yield chunk as Buffer;
    }
  }
  return Readable.from(bytes(), { objectMode: false });
}

const inclusive = (s: Span) => ({ start: s.start, end: s.end - 1 });

function view(
  row: UploadSessionRow,
  chunks: readonly { start_offset: number; end_offset: number }[],
): UploadSessionView {
  const size = Number(row.size);
  // A committed session's chunks are gone: all its bytes are the image's now.
  const received = row.status === 'committed' ? [{ start: 0, end: size }] : spans(chunks);
  return {
    id: row.id,
    image_id: row.image_id,
    size,
    client_ref: row.client_ref,
    status: row.status,
    received: mergedRanges(received).map(inclusive),
    received_bytes: received.reduce((n, s) => n + s.end - s.start, 0),
    missing: missingRanges(received, size).map(inclusive),
    created_at: row.created_at,
    updated_at: row.updated_at,
    expires_at: row.expires_at,
  };
}
