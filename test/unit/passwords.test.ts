import { scrypt } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';

import { generatePassword, hashPassword, verifyPassword } from '../../src/adapters/identity/passwords.ts';

// Each hash or verify at the real cost (scrypt N=2^15) takes tens of milliseconds or
// more, so the file hashes once and uses cheap parameters where cost does not matter.
const PASSWORD = 'caf\u00e9 horse battery';
let stored: string;
beforeAll(async () => {
  stored = await hashPassword(PASSWORD);
});

/** A stored hash as an older release with cheaper parameters might have written it. */
async function cheapHash(password: string): Promise<string> {
  const salt = Buffer.from('0123456789abcdef');
  const key = await new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, 32, { N: 1024, r: 8, p: 1 }, (err, k) => (err ? reject(err) : resolve(k))),
  );
  return ['scrypt', 1024, 8, 1, salt.toString('base64'), key.toString('base64')].join('$');
}

describe('passwords', () => {
  it('verifies the right password', async () => {
    expect(await verifyPassword(PASSWORD, stored)).toBe(true);
  });

  it('refuses a wrong password', async () => {
    expect(await verifyPassword(`${PASSWORD}!`, stored)).toBe(false);
  });

  it('treats canonically equivalent Unicode forms as the same password', async () => {
    expect(await verifyPassword('cafe\u0301 horse battery', stored)).toBe(true);
  });

  it('stores scrypt$N$r$p$salt$hash with a 16-byte salt and a 32-byte key', () => {
    const parts = stored.split('$');
    expect(parts).toHaveLength(6);
    const [scheme, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
    expect({ scheme, n, r, p }).toEqual({ scheme: 'scrypt', n: String(2 ** 15), r: '8', p: '1' });
    expect(Buffer.from(salt, 'base64')).toHaveLength(16);
    expect(Buffer.from(hash, 'base64')).toHaveLength(32);
    expect(stored).not.toContain('horse');
  });

  it('salts every hash', async () => {
    const again = await hashPassword(PASSWORD);
    expect(again).not.toBe(stored);
    expect(again.split('$').slice(0, 4)).toEqual(stored.split('$').slice(0, 4));
  });

  it('reads the cost parameters from the stored string', async () => {
    const cheap = await cheapHash('pw');
    expect(await verifyPassword('pw', cheap)).toBe(true);
    expect(await verifyPassword('px', cheap)).toBe(false);
  });

  it('refuses stored values of another scheme or shape', async () => {
    const cheap = await cheapHash('pw');
    expect(await verifyPassword('pw', cheap.replace(/^scrypt/, 'bcrypt'))).toBe(false);
    expect(await verifyPassword('pw', 'pw')).toBe(false);
    expect(await verifyPassword('pw', '')).toBe(false);
    expect(await verifyPassword('pw', 'scrypt$1024$8$1$$')).toBe(false);
    // A truncated hash has the wrong length: no match, no exception.
    expect(await verifyPassword('pw', cheap.slice(0, -8))).toBe(false);
  });

  it('generates 24-character passwords without look-alike characters', () => {
    const a = generatePassword();
    expect(a).toMatch(/^[A-Za-z2-9]{24}$/);
    expect(a).not.toMatch(/[01IOl]/);
    expect(generatePassword()).not.toBe(a);
  });
});
