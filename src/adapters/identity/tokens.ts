import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a token says about its bearer. Roles are fixed when the token is issued, as in Keystone. */
export interface TokenClaims {
  /** Token id, used for revocation (Keystone's audit id). */
  jti: string;
  userId: string;
  domainId: string;
  projectId: string | null;
  roles: string[];
  methods: string[];
  issuedAt: number;
  expiresAt: number;
}

const PREFIX = 'ims1';

/** Bodies whose MAC this signer has computed and checked; a bound keeps memory small. */
const VERIFIED_LIMIT = 4096;

interface Verified {
  mac: Buffer;
  claims: Readonly<TokenClaims>;
}

const frozen = (claims: TokenClaims): Readonly<TokenClaims> => {
  Object.freeze(claims.roles);
  Object.freeze(claims.methods);
  return Object.freeze(claims);
};

/**
 * Self-contained tokens: `ims1.<claims>.<hmac>`, HMAC-SHA256 with a key that
 * every node reads from the database, so any node verifies any token.
 */
export class TokenSigner {
  /**
   * Every request verifies its token; the HMAC (a keyed hash set up anew each time) and the
   * parse cost more than the rest of authentication. A body this signer found authentic is
   * remembered with its MAC, so the same token is then checked by a constant-time comparison
   * with the remembered MAC. Only authenticity is remembered: the key never changes for a
   * signer, and expiry and revocation are the caller's checks on every request.
   */
  readonly #verified = new Map<string, Verified>();

  constructor(private readonly key: Buffer) {}

  static newKey(): string {
    return randomBytes(32).toString('base64');
  }

  sign(claims: TokenClaims): string {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${PREFIX}.${body}.${this.mac(body)}`;
  }

  /** Returns the claims of a well-formed, authentic token; expiry is the caller's check. */
  verify(token: string): Readonly<TokenClaims> | null {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) return null;
    const [, body, mac] = parts as [string, string, string];
    const given = Buffer.from(mac);
    const known = this.#verified.get(body);
    if (known)
      return given.length === known.mac.length && timingSafeEqual(given, known.mac) ? known.claims : null;
    const expected = Buffer.from(this.mac(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    let claims: Readonly<TokenClaims>;
    try {
      claims = frozen(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims);
    } catch {
      return null;
    }
    if (this.#verified.size >= VERIFIED_LIMIT) this.#verified.delete(this.#verified.keys().next().value!);
    this.#verified.set(body, { mac: expected, claims });
    return claims;
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(`${PREFIX}.${body}`).digest('base64url');
  }
}
