import type { Readable, Writable } from 'node:stream';

/**
 * A store of immutable byte objects addressed by key. Nothing file-system
 * shaped leaks through: the file driver and the S3 driver both satisfy the
 * conformance suite in test/conformance/blob-store.suite.ts.
 */
export interface BlobStore {
  /** Human name for logs and /healthz ("file", "s3"). */
  readonly kind: string;
  /**
   * Starts an upload session. The bytes written are invisible to read/stat/list
   * until commit() resolves; abort() (or a stream error) leaves nothing behind.
   */
  openWriter(key: string): Promise<BlobWriter>;
  /** Streams the object, or the inclusive byte range of it. Rejects with BlobNotFoundError. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  stat(key: string): Promise<{ size: number } | null>;
  /** Server-side copy; the destination is committed when the promise resolves. */
  copy(from: string, to: string): Promise<void>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<{ key: string; size: number }>;
  /** Cheap liveness probe for /healthz. */
  ping(): Promise<void>;
  /**
   * Discards uploads that nobody committed or aborted (the client vanished, the process died) and
   * that saw no write for `olderThanMs`. Returns how many were discarded.
   */
  purgeStaleUploads(olderThanMs: number): Promise<number>;
  /**
   * A URL from which anyone holding it may GET the object for `ttlSeconds`, for stores that can
   * serve downloads themselves (S3). Absent on stores that cannot.
   */
  presignedUrl?(key: string, ttlSeconds: number): Promise<string>;
  /**
   * Gives the object a second name, `dest` (a new path on this host), without copying its bytes:
   * a hard link, for stores that keep objects as local files. Resolves false when it cannot (`dest`
   * is on another file system); the caller reads the object instead. Objects are immutable, and
   * the caller must keep it that way: `dest` is for reading only. Absent on remote stores.
   */
  linkLocal?(key: string, dest: string): Promise<boolean>;
  /**
   * Starts an upload session whose bytes are a complete local `file`, taken without copying (a
   * hard link into the store), for stores that keep objects as local files. Resolves null when it
   * cannot (another file system); the caller streams the file through openWriter then. The file
   * must not change after this call; commit() makes it durable and visible as openWriter's does.
   */
  adoptLocal?(key: string, file: string): Promise<BlobCommit | null>;
}

/**
 * Calls `fn` with the length of each chunk the stream hands out. A store's stream may report
 * them itself (`reportBytes`), for it may hand them out without 'data' events.
 */
export function countBytesRead(stream: Readable, fn: (n: number) => void): void {
  const reporting = stream as Readable & { reportBytes?: (fn: (n: number) => void) => void };
  if (typeof reporting.reportBytes === 'function') reporting.reportBytes(fn);
  else stream.on('data', (chunk: Buffer) => fn(chunk.length));
}

/** Inclusive on both ends, as HTTP Range is. */
export interface ByteRange {
  start: number;
  end: number;
}

/** An upload session's ending: commit or abort. */
export interface BlobCommit {
  /** Makes the object visible under its key, atomically. Returns its size. */
  commit(): Promise<{ size: number }>;
  /** Discards everything written so far. Safe to call more than once, and after a failed commit. */
  abort(): Promise<void>;
}

export interface BlobWriter extends BlobCommit {
  /** Write the object's bytes here; end it before commit(). */
  readonly stream: Writable;
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`blob not found: ${key}`);
    this.name = 'BlobNotFoundError';
  }
}

/** Keys are chosen by the service, but checked anyway: no traversal, no empty segments. */
export function assertValidKey(key: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/.test(key) || key.length > 512) {
    throw new Error(`invalid blob key: ${JSON.stringify(key)}`);
  }
}

/** Like assertValidKey, but the last segment may be partial or empty ("images/", "images/ab", ""). */
export function assertValidPrefix(prefix: string): void {
  if (!/^([A-Za-z0-9][A-Za-z0-9._-]*\/)*([A-Za-z0-9][A-Za-z0-9._-]*)?$/.test(prefix) || prefix.length > 512) {
    throw new Error(`invalid blob key prefix: ${JSON.stringify(prefix)}`);
  }
}
