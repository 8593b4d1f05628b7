/**
 * Rules of resumable uploads: where a chunk goes (Content-Range or ?offset=),
 * whether it fits the session, and what a session still lacks. Ranges here are
 * half-open [start, end); the API shows them inclusive, as HTTP does.
 */
import { DomainError, fail } from './errors.ts';

export interface Span {
  start: number;
  end: number;
}

/** Beyond this a session's chunk list would cost more to keep than it helps. */
export const MAX_CHUNKS_PER_SESSION = 10_000;

/**
 * Chunks are stored before the quota sees them (it counts images when they become
 * active), so the open sessions of a project are bounded: each holds at most the
 * maximum image size.
 */
export const MAX_OPEN_SESSIONS_PER_PROJECT = 20;

const DIGITS = /^\d{1,16}$/;

/**
 * Where the body of a chunk request goes: from `Content-Range: bytes a-b/total`
 * (total may be `*`), or else from `?offset=` and Content-Length. Both are
 * checked against each other and against the session's size.
 */
export function chunkSpan(
  input: { contentRange?: string; offset?: string; contentLength?: string },
  sessionSize: number,
): Span {
  const length = input.contentLength === undefined ? null : parseCount(input.contentLength, 'Content-Length');
  let span: Span;
  if (input.contentRange !== undefined) {
    const m = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/.exec(input.contentRange.trim());
    if (!m) {
      fail('BadRequest', 'Content-Range must be "bytes first-last/total" (total may be *)');
    }
    const first = Number(m![1]);
    const last = Number(m![2]);
    if (last < first) fail('BadRequest', `Content-Range ${input.contentRange} ends before it starts`);
    if (m![3] !== '*' && Number(m![3]) !== sessionSize) {
      fail('BadRequest', `Content-Range total ${m![3]} differs from the session's size ${sessionSize}`);
    }
    if (input.offset !== undefined && parseCount(input.offset, 'offset') !== first) {
      fail('BadRequest', 'offset and Content-Range disagree');
    }
    span = { start: first, end: last + 1 };
    if (length !== null && length !== span.end - span.start) {
      fail(
        'BadRequest',
        `Content-Length ${length} differs from the ${span.end - span.start} bytes of Content-Range`,
      );
    }
  } else if (input.offset !== undefined) {
    if (length === null) fail('LengthRequired', 'A chunk sent with ?offset= needs a Content-Length');
    const start = parseCount(input.offset, 'offset');
    span = { start, end: start + length! };
  } else {
    return fail('BadRequest', 'A chunk needs a Content-Range header or an offset query parameter');
  }
  if (span.end === span.start) fail('BadRequest', 'A chunk must hold at least one byte');
  if (span.end > sessionSize) {
    throw new DomainError(
      'RangeNotSatisfiable',
      `Bytes ${span.start}-${span.end - 1} lie beyond the session's size of ${sessionSize} bytes`,
      { headers: { 'content-range': `bytes */${sessionSize}` } },
    );
  }
  return span;
}

function parseCount(text: string, what: string): number {
  if (!DIGITS.test(text)) fail('BadRequest', `${what} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

/** How a new chunk relates to those received: the same range again (a retry), clashing, or new. */
export function placeChunk(received: readonly Span[], chunk: Span): 'duplicate' | 'new' {
  for (const r of received) {
    if (r.start === chunk.start && r.end === chunk.end) return 'duplicate';
    if (r.start < chunk.end && chunk.start < r.end) {
      fail(
        'Conflict',
        `Bytes ${chunk.start}-${chunk.end - 1} overlap bytes ${r.start}-${r.end - 1} already received`,
      );
    }
  }
  if (received.length >= MAX_CHUNKS_PER_SESSION) {
    fail('BadRequest', `An upload session takes at most ${MAX_CHUNKS_PER_SESSION} chunks; send larger ones`);
  }
  return 'new';
}

/** Adjacent received ranges merged, in order. */
export function mergedRanges(received: readonly Span[]): Span[] {
  const out: Span[] = [];
  for (const r of [...received].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && last.end >= r.start) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** The byte ranges of [0, size) not yet received. */
export function missingRanges(received: readonly Span[], size: number): Span[] {
  const out: Span[] = [];
  let at = 0;
  for (const r of mergedRanges(received)) {
    if (r.start > at) out.push({ start: at, end: r.start });
    at = Math.max(at, r.end);
  }
  if (at < size) out.push({ start: at, end: size });
  return out;
}

/** A commit needs every byte; the refusal names the first holes. */
export function assertComplete(received: readonly Span[], size: number): void {
  const holes = missingRanges(received, size);
  if (!holes.length) return;
  const shown = holes
    .slice(0, 5)
    .map((h) => `${h.start}-${h.end - 1}`)
    .join(', ');
  fail(
    'Conflict',
    `The upload session lacks ${holes.length} byte range(s): ${shown}${holes.length > 5 ? ', ...' : ''}`,
  );
}

/** The declared size of a new session: a whole number of bytes within the image size limit. */
export function sessionSize(body: unknown, maxImageSize: number): number {
  const size = (body as { size?: unknown } | null)?.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) {
    fail('BadRequest', 'An upload session needs "size": the image\'s length in bytes, a positive integer');
  }
  if ((size as number) > maxImageSize) {
    fail('PayloadTooLarge', `Image data exceeds the maximum image size of ${maxImageSize} bytes`);
  }
  return size as number;
}

/** The optional `client_ref` of a new session: the client's label to find it again. */
export function clientRef(body: unknown): string | null {
  const ref = (body as { client_ref?: unknown } | null)?.client_ref;
  if (ref === undefined || ref === null) return null;
  if (typeof ref !== 'string' || ref.length > 255 || !/^[\x20-\x7e]*$/.test(ref)) {
    fail('BadRequest', '"client_ref" must be a printable ASCII string of at most 255 characters');
  }
  return ref as string;
}
