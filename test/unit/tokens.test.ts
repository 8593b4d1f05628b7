import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { TokenSigner } from '../../src/adapters/identity/tokens.ts';
import type { TokenClaims } from '../../src/adapters/identity/tokens.ts';

const key = Buffer.from('k'.repeat(32));
const signer = new TokenSigner(key);

const claims: TokenClaims = {
  jti: 'audit-1',
  userId: 'u-1',
  domainId: 'd-1',
  projectId: 'p-1',
  roles: ['member', 'reader'],
  methods: ['password'],
  issuedAt: 1_700_000_000,
  expiresAt: 1_700_086_400,
};

/** Flips one base64url character to another valid one. */
const flip = (c: string): string => (c === 'A' ? 'B' : 'A');
const mutateAt = (s: string, i: number): string => s.slice(0, i) + flip(s[i]!) + s.slice(i + 1);
/** A MAC made the way the signer makes it, to build tokens with chosen bodies. */
const macOf = (body: string, k = key): string =>
  createHmac('sha256', k).update(`ims1.${body}`).digest('base64url');

describe('TokenSigner', () => {
  it('round-trips claims', () => {
    const token = signer.sign(claims);
    expect(signer.verify(token)).toEqual(claims);
  });

  it('round-trips unscoped claims', () => {
    const unscoped = { ...claims, projectId: null, roles: [] };
    expect(signer.verify(signer.sign(unscoped))).toEqual(unscoped);
  });

  it('writes ims1.<base64url claims>.<base64url HMAC-SHA256>', () => {
    const token = signer.sign(claims);
    const [prefix, body, mac] = token.split('.');
    expect(prefix).toBe('ims1');
    expect(JSON.parse(Buffer.from(body!, 'base64url').toString('utf8'))).toEqual(claims);
    expect(mac).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(mac).toBe(macOf(body!));
    // Safe in a header: no padding, no + or /.
    expect(token).toMatch(/^[A-Za-z0-9_.-]+$/);
  });

  it('refuses a token whose body was changed', () => {
    const token = signer.sign(claims);
    const [prefix, body, mac] = token.split('.') as [string, string, string];
    expect(signer.verify(`${prefix}.${mutateAt(body, 5)}.${mac}`)).toBeNull();
    // A body with elevated roles, signed with the old MAC.
    const forged = Buffer.from(JSON.stringify({ ...claims, roles: ['admin'] })).toString('base64url');
    expect(signer.verify(`${prefix}.${forged}.${mac}`)).toBeNull();
  });

  it('refuses a token whose signature was changed, truncated or removed', () => {
    const token = signer.sign(claims);
    const [prefix, body, mac] = token.split('.') as [string, string, string];
    expect(signer.verify(`${prefix}.${body}.${mutateAt(mac, 0)}`)).toBeNull();
    expect(signer.verify(`${prefix}.${body}.${mutateAt(mac, mac.length - 1)}`)).toBeNull();
    expect(signer.verify(`${prefix}.${body}.${mac.slice(0, -1)}`)).toBeNull();
    expect(signer.verify(`${prefix}.${body}.`)).toBeNull();
    expect(signer.verify(`${prefix}.${body}`)).toBeNull();
  });

  it('refuses a token signed with another key', () => {
    const other = new TokenSigner(Buffer.from('o'.repeat(32)));
    expect(other.verify(signer.sign(claims))).toBeNull();
    expect(signer.verify(other.sign(claims))).toBeNull();
  });

  it('refuses a wrong or missing prefix', () => {
    const [, body, mac] = signer.sign(claims).split('.') as [string, string, string];
    expect(signer.verify(`ims2.${body}.${mac}`)).toBeNull();
    expect(signer.verify(`IMS1.${body}.${mac}`)).toBeNull();
    expect(signer.verify(`.${body}.${mac}`)).toBeNull();
    // The MAC covers the prefix too: re-signing the body under another prefix does not help.
    expect(signer.verify(`ims2.${body}.${macOf(body)}`)).toBeNull();
  });

  it('refuses tokens with the wrong number of parts', () => {
    const token = signer.sign(claims);
    expect(signer.verify(`${token}.extra`)).toBeNull();
    expect(signer.verify('')).toBeNull();
    expect(signer.verify('gAAAAABkeystone-fernet-token')).toBeNull();
  });

  it('refuses an authentic token whose body is not JSON', () => {
    const body = Buffer.from('not json').toString('base64url');
    expect(signer.verify(`ims1.${body}.${macOf(body)}`)).toBeNull();
  });

  it('leaves expiry to the caller', () => {
    const expired = { ...claims, issuedAt: 1, expiresAt: 2 };
    expect(signer.verify(signer.sign(expired))).toEqual(expired);
  });

  it('checks the MAC of a token it verified before as strictly as the first time', () => {
    const fresh = new TokenSigner(key);
    const token = fresh.sign(claims);
    const [prefix, body, mac] = token.split('.') as [string, string, string];
    expect(fresh.verify(token)).toEqual(claims);
    expect(fresh.verify(token)).toEqual(claims);
    expect(fresh.verify(`${prefix}.${body}.${mutateAt(mac, 0)}`)).toBeNull();
    expect(fresh.verify(`${prefix}.${body}.${mutateAt(mac, mac.length - 1)}`)).toBeNull();
    expect(fresh.verify(`${prefix}.${body}.${mac.slice(0, -1)}`)).toBeNull();
    expect(fresh.verify(`${prefix}.${body}.`)).toBeNull();
    expect(fresh.verify(`ims2.${body}.${mac}`)).toBeNull();
    // Another key does not accept it because this signer did.
    expect(new TokenSigner(Buffer.from('o'.repeat(32))).verify(token)).toBeNull();
  });

  it('hands out claims that cannot be changed (they are shared by the requests of a token)', () => {
    const fresh = new TokenSigner(key);
    const verified = fresh.verify(fresh.sign(claims))!;
    expect(Object.isFrozen(verified)).toBe(true);
    expect(Object.isFrozen(verified.roles)).toBe(true);
    expect(() => (verified.roles as string[]).push('admin')).toThrow(TypeError);
    expect(fresh.verify(fresh.sign(claims))!.roles).toEqual(['member', 'reader']);
  });

  it('still verifies a token after many others were verified', () => {
    const fresh = new TokenSigner(key);
    const first = fresh.sign(claims);
    expect(fresh.verify(first)).toEqual(claims);
    for (let i = 0; i < 5000; i++)
      expect(fresh.verify(fresh.sign({ ...claims, jti: `t-${i}` }))).not.toBeNull();
    expect(fresh.verify(first)).toEqual(claims);
    const [prefix, body, mac] = first.split('.') as [string, string, string];
    expect(fresh.verify(`${prefix}.${body}.${mutateAt(mac, 3)}`)).toBeNull();
  });

  it('makes new keys of 32 random bytes', () => {
    const a = TokenSigner.newKey();
    const b = TokenSigner.newKey();
    expect(Buffer.from(a, 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
    const fromKey = new TokenSigner(Buffer.from(a, 'base64'));
    expect(fromKey.verify(fromKey.sign(claims))).toEqual(claims);
  });
});
