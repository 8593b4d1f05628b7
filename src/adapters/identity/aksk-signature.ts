/**
 * Verifier for Huawei Cloud AK/SK request signatures (`SDK-HMAC-SHA256`, the API gateway
 * scheme the Huawei Cloud SDKs use). Pure: no I/O and no clock of its own. The HTTP layer
 * parses the Authorization header, looks the access key up, and passes its secret key with
 * the request exactly as received.
 *
 * Algorithm and SDK quirks: shared/reference/client-compat.md §1.3; API rules: ims-api.md §7.2.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNING_ALGORITHM = 'SDK-HMAC-SHA256';
/** The SDK's opt-in derived-key scheme (HKDF key, `Credential=AK/date/region/service`). IMS clients never use it. */
const DERIVED_KEY_ALGORITHM = 'V11-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** ±15 min between X-Sdk-Date and server time, the API gateway's window (ims-api.md §7.2). */
export const DEFAULT_MAX_SKEW_SECONDS = 900;
/** AK/SK-signed requests carry at most 12 MB of body (ims-api.md §7.2). */
export const MAX_SIGNED_BODY_BYTES = 12 * 1024 * 1024;

export interface ParsedAuthorization {
  algorithm: typeof SIGNING_ALGORITHM;
  accessKey: string;
  /** Lower-case names in the order the client listed them; that order is the one it signed. */
  signedHeaders: string[];
  /** 64 lower-case hex digits. */
  signature: string;
}

export type AuthorizationParseResult =
  | ({ ok: true } & ParsedAuthorization)
  | { ok: false; reason: 'malformed' | 'unsupported-algorithm'; detail: string };

export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

export interface SignedRequest {
  /** As sent (HTTP methods are case-sensitive; the SDK signs what it sends). */
  method: string;
  /** Path as received: percent-encoded, without the query. */
  rawPath: string;
  /** Query as received, without the `?`; '' when there is none. */
  rawQuery: string;
  /** Lower-case names (as Node's `IncomingMessage.headers`) to values as received. */
  headers: HeaderMap;
  /** The exact body bytes, or 'unsigned' when the HTTP layer did not buffer it (see {@link bodyHashRequired}). */
  body: Buffer | 'unsigned';
  secretKey: string;
  now: Date;
  maxSkewSeconds?: number;
}

export type VerifyFailureReason =
  | 'malformed'
  | 'missing-signed-header'
  | 'bad-date'
  | 'expired'
  | 'signature-mismatch'
  | 'payload-hash-mismatch';

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailureReason; detail: string };

/**
 * How the path is turned into the canonical URI. `strict`: decode each segment once, then
 * percent-encode every byte but `A-Z a-z 0-9 - _ . ~`. `sdk-legacy`: what the Node SDK
 * actually signs: its legacy `url.parse` first escapes the characters in
 * {@link LEGACY_ESCAPED}, and its encoder then escapes the `%` again (space signs as `%2520`).
 */
export type PathRule = 'strict' | 'sdk-legacy';

/**
 * `space " ' < > \ ^ ` { | }`: the characters Node's legacy URL parser auto-escapes. (A `\`
 * never gets here from the SDK: both that parser and the wire URL turn it into `/`.)
 */
const LEGACY_ESCAPED = new Set([...' "\'<>\\^`{|}'].map((c) => c.charCodeAt(0)));
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
const SDK_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export function parseAuthorization(header: string | undefined): AuthorizationParseResult {
  if (!header) return { ok: false, reason: 'malformed', detail: 'no Authorization header' };
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm === DERIVED_KEY_ALGORITHM) {
    return {
      ok: false,
      reason: 'unsupported-algorithm',
      detail: `derived-key signing (${DERIVED_KEY_ALGORITHM}) is not supported; sign with ${SIGNING_ALGORITHM}`,
    };
  }
  if (algorithm !== SIGNING_ALGORITHM) {
    return { ok: false, reason: 'unsupported-algorithm', detail: `unknown signing algorithm "${algorithm}"` };
  }

  const fields = new Map<string, string>();
  for (const part of header.slice(space + 1).split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    const key = item.slice(0, eq);
    if (eq <= 0 || fields.has(key)) return malformed(`bad or repeated field "${item}"`);
    fields.set(key, item.slice(eq + 1));
  }
  const accessKey = fields.get('Access');
  const signedHeaderList = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (fields.size !== 3 || !accessKey || !signedHeaderList || signature === undefined) {
    return malformed('expected exactly Access, SignedHeaders and Signature');
  }
  if (!HEX_SHA256.test(signature)) return malformed('Signature is not 64 lower-case hex digits');
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.every((name) => HEADER_NAME.test(name))) {
    return malformed('SignedHeaders must be lower-case header names separated by ";"');
  }
  if (new Set(signedHeaders).size !== signedHeaders.length) return malformed('SignedHeaders repeats a name');
  return { ok: true, algorithm, accessKey, signedHeaders, signature };

  function malformed(detail: string): AuthorizationParseResult {
    return { ok: false, reason: 'malformed', detail: `Authorization: ${detail}` };
  }
}

/**
 * Whether verifying this request needs its body bytes. The body hash is part of the
 * signature, so it must be checked before the body is parsed or stored: when this is true
 * the HTTP layer buffers the raw body (refusing more than {@link MAX_SIGNED_BODY_BYTES}
 * with 413, since signed requests carry JSON of at most 12 MB) and passes it as `body`.
 * It is false for `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`, which the SDK sends for every
 * non-JSON content type (image data, JSON-patch), so those bodies can stream; it is false
 * too for requests that are not AK/SK-signed at all.
 */
export function bodyHashRequired(headers: HeaderMap): boolean {
  const authorization = headerValue(headers, 'authorization');
  return (
    authorization?.startsWith(`${SIGNING_ALGORITHM} `) === true &&
    headerValue(headers, 'x-sdk-content-sha256') !== UNSIGNED_PAYLOAD
  );
}

export function verifySignature(request: SignedRequest): VerifyResult {
  const { headers, maxSkewSeconds = DEFAULT_MAX_SKEW_SECONDS } = request;
  const auth = parseAuthorization(headerValue(headers, 'authorization'));
  if (!auth.ok) return fail('malformed', auth.detail);

  for (const required of ['host', 'x-sdk-date']) {
    if (!auth.signedHeaders.includes(required)) {
      return fail('missing-signed-header', `"${required}" must be listed in SignedHeaders`);
    }
  }
  const absent = auth.signedHeaders.find((name) => headerValue(headers, name) === undefined);
  if (absent !== undefined) {
    return fail('missing-signed-header', `signed header "${absent}" is not in the request`);
  }

  const date = headerValue(headers, 'x-sdk-date') ?? '';
  const signedAt = parseSdkDate(date);
  if (signedAt === null) return fail('bad-date', `X-Sdk-Date "${date}" is not YYYYMMDDTHHMMSSZ`);
  const skewSeconds = (request.now.getTime() - signedAt.getTime()) / 1000;
  if (Math.abs(skewSeconds) > maxSkewSeconds) {
    const when = skewSeconds > 0 ? 'old' : 'in the future';
    return fail('expired', `X-Sdk-Date is ${Math.abs(skewSeconds)} s ${when} (allowed ${maxSkewSeconds} s)`);
  }

  // The payload line is X-Sdk-Content-Sha256 when present, else the body's own hash.
  const declaredHash = headerValue(headers, 'x-sdk-content-sha256');
  if (declaredHash !== undefined && declaredHash !== UNSIGNED_PAYLOAD && !HEX_SHA256.test(declaredHash)) {
    return fail('malformed', 'X-Sdk-Content-Sha256 is neither UNSIGNED-PAYLOAD nor a lower-case hex SHA-256');
  }
  const needsBody = declaredHash !== UNSIGNED_PAYLOAD;
  if (needsBody && request.body === 'unsigned') {
    // A caller bug, not a client error: bodyHashRequired() said to buffer.
    throw new TypeError('verifySignature: the signature covers the body, so the body bytes are required');
  }
  const bodyHash = request.body === 'unsigned' ? UNSIGNED_PAYLOAD : sha256Hex(request.body);
  const payloadHash = declaredHash ?? bodyHash;

  // Clean rule first; the SDK's double-encoding differs only when the path has a legacy-escaped byte.
  const { method, rawPath, rawQuery } = request;
  const parts = { method, rawPath, rawQuery, headers, signedHeaders: auth.signedHeaders, payloadHash };
  const candidates = new Set([canonicalRequest(parts, 'strict'), canonicalRequest(parts, 'sdk-legacy')]);
  if (candidates.has(null)) return fail('malformed', 'path or query has a bad percent-encoding');
  const given = Buffer.from(auth.signature, 'hex');
  let matched = false;
  for (const canonical of candidates as Set<string>) {
    const expected = Buffer.from(computeSignature(request.secretKey, stringToSign(date, canonical)), 'hex');
    // No early exit: every candidate is computed and compared.
    matched = timingSafeEqual(expected, given) || matched;
  }
  if (!matched) return fail('signature-mismatch', 'signature does not match the request');

  // Checked after the signature so that only an authentic header can report a wrong body.
  if (needsBody && declaredHash !== undefined && declaredHash !== bodyHash) {
    return fail('payload-hash-mismatch', 'body does not match X-Sdk-Content-Sha256');
  }
  return { ok: true };
}

export interface CanonicalRequestParts {
  method: string;
  rawPath: string;
  rawQuery: string;
  headers: HeaderMap;
  /** In the order they were signed; each must be present in `headers`. */
  signedHeaders: readonly string[];
  /** Lower-case hex SHA-256 of the body, or the X-Sdk-Content-Sha256 value. */
  payloadHash: string;
}

/** The six lines of §1.3 step 1, or null when the path or query has a bad percent-encoding. */
export function canonicalRequest(parts: CanonicalRequestParts, pathRule: PathRule = 'strict'): string | null {
  const uri = canonicalUri(parts.rawPath, pathRule);
  const query = canonicalQuery(parts.rawQuery);
  if (uri === null || query === null) return null;
  // Each header line ends in "\n", so with the "\n" join an empty line precedes SignedHeaders.
  const headerLines = parts.signedHeaders.map(
    (name) => `${name}:${headerValue(parts.headers, name) ?? ''}\n`,
  );
  return [
    parts.method,
    uri,
    query,
    headerLines.join(''),
    parts.signedHeaders.join(';'),
    parts.payloadHash,
  ].join('\n');
}

/** Canonical URI (§1.3 step 2): each segment decoded once and re-encoded, with a trailing `/`. Null on bad `%`. */
export function canonicalUri(rawPath: string, rule: PathRule = 'strict'): string | null {
  const segments: string[] = [];
  for (const segment of rawPath.split('/')) {
    const bytes = percentDecode(segment);
    if (bytes === null) return null;
    segments.push(percentEncode(bytes, rule));
  }
  const uri = segments.join('/');
  return uri.endsWith('/') ? uri : `${uri}/`;
}

/**
 * Canonical query (§1.3 step 3): names and values decoded once (`+` stays `+`), sorted by
 * UTF-16 code unit of the decoded text (values within a name too), strictly re-encoded.
 * A name without `=` has an empty value. Null on bad `%`.
 */
export function canonicalQuery(rawQuery: string): string | null {
  const pairs: { name: string; value: string; nameKey: string; valueKey: string }[] = [];
  for (const piece of rawQuery.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = percentDecode(eq < 0 ? piece : piece.slice(0, eq));
    const value = percentDecode(eq < 0 ? '' : piece.slice(eq + 1));
    if (name === null || value === null) return null;
    pairs.push({
      name: percentEncode(name, 'strict'),
      value: percentEncode(value, 'strict'),
      nameKey: name.toString('utf8'),
      valueKey: value.toString('utf8'),
    });
  }
  pairs.sort((a, b) => compareCodeUnits(a.nameKey, b.nameKey) || compareCodeUnits(a.valueKey, b.valueKey));
  return pairs.map((p) => `${p.name}=${p.value}`).join('&');
}

export function stringToSign(sdkDate: string, canonicalRequest: string): string {
  return `${SIGNING_ALGORITHM}\n${sdkDate}\n${sha256Hex(canonicalRequest)}`;
}

/** Lower-case hex HMAC-SHA256 keyed with the SK's UTF-8 bytes. */
export function computeSignature(secretKey: string, toSign: string): string {
  return createHmac('sha256', secretKey).update(toSign, 'utf8').digest('hex');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function fail(reason: VerifyFailureReason, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}

/** Node joins repeated headers with ", " (set-cookie stays an array); do the same. */
function headerValue(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function parseSdkDate(text: string): Date | null {
  const m = SDK_DATE.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 20240230 over to March; a real timestamp survives the round trip.
  const roundTrip = date.toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
  return roundTrip === text ? date : null;
}

/** `%XX` to its byte; everything else to its UTF-8 bytes. Never `+` to space. Null on a bad escape. */
function percentDecode(text: string): Buffer | null {
  const raw = Buffer.from(text, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i] as number;
    if (byte !== 0x25) {
      out.push(byte);
      continue;
    }
    const hex = raw.subarray(i + 1, i + 3).toString('latin1');
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
    out.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(out);
}

function percentEncode(bytes: Buffer, rule: PathRule): string {
  let out = '';
  for (const byte of bytes) {
    const hex = byte.toString(16).toUpperCase().padStart(2, '0');
    if (isUnreserved(byte)) out += String.fromCharCode(byte);
    else if (rule === 'sdk-legacy' && LEGACY_ESCAPED.has(byte)) out += `%25${hex}`;
    else out += `%${hex}`;
  }
  return out;
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x5f || // _
    byte === 0x2e || // .
    byte === 0x7e // ~
  );
}

/** Plain JS string order (UTF-16 code units), as the SDK's `Array.prototype.sort`. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
