/** A single HTTP byte range as the client asked for it, before the size is known. */
export type RangeRequest = { start: number; end: number | null } | { suffix: number };

/** Inclusive byte range within an object. */
export interface ResolvedRange {
  start: number;
  end: number;
}

/**
 * Parses `Range: bytes=a-b | a- | -n`. Returns null for anything else (other
 * units, several ranges, bad syntax): RFC 9110 lets a server ignore those and
 * send the whole object.
 */
export function parseRangeHeader(header: string | undefined): RangeRequest | null {
  if (!header) return null;
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  const [a, b] = [m[1]!, m[2]!];
  if (a === '') return { suffix: Number(b) };
  const start = Number(a);
  const end = b === '' ? null : Number(b);
  if (!Number.isSafeInteger(start) || (end !== null && (!Number.isSafeInteger(end) || end < start)))
    return null;
  return { start, end };
}

/** Fits the request to an object of `total` bytes; null when it cannot be satisfied. */
export function resolveRange(req: RangeRequest, total: number): ResolvedRange | null {
  if ('suffix' in req) {
    if (req.suffix === 0 || total === 0) return null;
    return { start: Math.max(0, total - req.suffix), end: total - 1 };
  }
  if (req.start >= total) return null;
  return { start: req.start, end: Math.min(req.end ?? total - 1, total - 1) };
}
