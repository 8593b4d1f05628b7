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

/**
 * Self-contained tokens: `ims1.<claims>.<hmac>`, HMAC-SHA256 with a key that
 * every node reads from the database, so any node verifies any token.
 */
export class TokenSigner {
  constructor(private readonly key: Buffer) {}

  static newKey(): string {
    return randomBytes(32).toString('base64');
  }

  sign(claims: TokenClaims): string {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${PREFIX}.${body}.${this.mac(body)}`;
  }

  /** Returns the claims of a well-formed, authentic token; expiry is the caller's check. */
  verify(token: string): TokenClaims | null {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) return null;
    const [, body, mac] = parts as [string, string, string];
    const expected = Buffer.from(this.mac(body));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    try {
      return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return null;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(`${PREFIX}.${body}`).digest('base64url');
  }
}
