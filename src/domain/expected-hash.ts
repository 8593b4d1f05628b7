import { DomainError, fail } from './errors.ts';

/**
 * Expected hashes: a client states what the data must hash to, and data that
 * does not is refused with nothing kept.
 *
 * Glance's `checksum`, `os_hash_algo` and `os_hash_value` are read-only (the
 * service computes them), so a client declares its expectation either
 *
 * - before the data, as custom image properties at create or PATCH time:
 *   `expected_checksum` (md5, hex) and/or `expected_os_hash_algo` +
 *   `expected_os_hash_value`; they stay on the image as the client's record; or
 * - with the data (PUT /file, PUT /stage, POST /import), as headers named after
 *   Glance v1's `x-image-meta-checksum`, which v1 verified the same way:
 *   `X-Image-Meta-Checksum` (md5, hex) and/or `X-Image-Meta-Os-Hash-Algo` +
 *   `X-Image-Meta-Os-Hash-Value`.
 *
 * Both may be given; every hash named anywhere must match.
 */
export interface ExpectedHash {
  algo: HashAlgorithm;
  /** Lower-case hex. */
  value: string;
  /** Where the client said it, for the error message. */
  source: string;
}

export const HASH_ALGORITHMS = { md5: 32, sha1: 40, sha256: 64, sha384: 96, sha512: 128 } as const;
export type HashAlgorithm = keyof typeof HASH_ALGORITHMS;

export const EXPECTED_PROPERTIES = {
  checksum: 'expected_checksum',
  algo: 'expected_os_hash_algo',
  value: 'expected_os_hash_value',
} as const;

export const EXPECTED_HEADERS = {
  checksum: 'x-image-meta-checksum',
  algo: 'x-image-meta-os-hash-algo',
  value: 'x-image-meta-os-hash-value',
} as const;

const bad = (message: string): never => fail('BadRequest', message);

function one(algoText: string, value: string, source: string): ExpectedHash {
  const algo = algoText.trim().toLowerCase();
  if (!Object.hasOwn(HASH_ALGORITHMS, algo)) {
    return bad(`${source}: hash algorithm must be one of ${Object.keys(HASH_ALGORITHMS).join(', ')}`);
  }
  const hex = value.trim().toLowerCase();
  const length = HASH_ALGORITHMS[algo as HashAlgorithm];
  if (!new RegExp(`^[0-9a-f]{${length}}$`).test(hex)) {
    return bad(`${source}: a ${algo} value is ${length} hexadecimal digits`);
  }
  return { algo: algo as HashAlgorithm, value: hex, source };
}

type Lookup = (name: string) => string | undefined;

function fromPairs(get: Lookup, names: { checksum: string; algo: string; value: string }, where: string) {
  const out: ExpectedHash[] = [];
  const checksum = get(names.checksum);
  if (checksum !== undefined) out.push(one('md5', checksum, `${where} ${names.checksum}`));
  const algo = get(names.algo);
  const value = get(names.value);
  if ((algo === undefined) !== (value === undefined)) {
    bad(`${where} ${names.algo} and ${names.value} must be given together`);
  }
  if (algo !== undefined && value !== undefined) out.push(one(algo, value, `${where} ${names.value}`));
  return out;
}

/** The hashes the image's properties declare. */
export function expectedFromProperties(properties: Record<string, string>): ExpectedHash[] {
  return fromPairs((n) => properties[n], EXPECTED_PROPERTIES, 'image property');
}

/** The hashes request headers declare (header names lower case, as Node gives them). */
export function expectedFromHeaders(headers: Record<string, string | string[] | undefined>): ExpectedHash[] {
  const get = (n: string) => {
    const v = headers[n];
    if (Array.isArray(v)) return bad(`header ${n} is given more than once`);
    return v;
  };
  return fromPairs(get, EXPECTED_HEADERS, 'header');
}

/** Throws UploadFailed (400) unless every expected hash equals the computed one of its algorithm. */
export function checkExpected(expected: readonly ExpectedHash[], actual: Record<string, string>): void {
  for (const e of expected) {
    const got = actual[e.algo];
    if (got === undefined) throw new Error(`no ${e.algo} digest was computed`);
    if (got !== e.value) {
      throw new DomainError(
        'UploadFailed',
        `Image data refused: its ${e.algo} is ${got}, but ${e.source} expects ${e.value}`,
      );
    }
  }
}
