import { describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/adapters/identity/aksk-signature.ts';
import { akskSigner, sdkDate } from '../../src/cli/client/aksk-signer.ts';

const now = new Date('2026-11-28T10:00:00.000Z');

function signed(method: string, url: string, body: Uint8Array | 'stream', contentType?: string) {
  const headers = new Headers(contentType ? { 'content-type': contentType } : {});
  const u = new URL(url);
  akskSigner('AKTEST', 'secret-key', 'proj-1', () => now)({ method, url: u, headers, body });
  const received: Record<string, string> = { host: u.host };
  headers.forEach((v, k) => (received[k] = v));
  return { u, received };
}

describe('CLI AK/SK signer', () => {
  it('formats X-Sdk-Date as the SDK does', () => {
    expect(sdkDate(now)).toBe('20261128T100000Z');
  });

  it('signs what the server verifies: JSON bodies hashed, streams unsigned, queries canonicalised', () => {
    const body = new TextEncoder().encode('{"name":"x"}');
    for (const [method, url, b, type] of [
      ['POST', 'http://127.0.0.1:9292/v2/images', body, 'application/json'],
      ['GET', 'http://127.0.0.1:9292/v2/images?tag=b&tag=a&name=in%3A%22x%22', new Uint8Array(), undefined],
      ['PUT', 'http://127.0.0.1:9292/v2/images/abc/file', 'stream', 'application/octet-stream'],
    ] as const) {
      const { u, received } = signed(method, url, b, type);
      expect(received.authorization).toMatch(/^SDK-HMAC-SHA256 Access=AKTEST, SignedHeaders=host;x-sdk-date/);
      expect(received['x-project-id']).toBe('proj-1');
      const verdict = verifySignature({
        method,
        rawPath: u.pathname,
        rawQuery: u.search.slice(1),
        headers: received,
        body: b === 'stream' ? 'unsigned' : Buffer.from(b),
        secretKey: 'secret-key',
        now,
      });
      expect(verdict, `${method} ${url}`).toEqual({ ok: true });
    }
  });

  it('a changed body or a wrong secret does not verify', () => {
    const { u, received } = signed(
      'POST',
      'http://h/v2/images',
      new TextEncoder().encode('{}'),
      'application/json',
    );
    const base = { method: 'POST', rawPath: u.pathname, rawQuery: '', headers: received, now };
    expect(verifySignature({ ...base, body: Buffer.from('{"a":1}'), secretKey: 'secret-key' }).ok).toBe(
      false,
    );
    expect(verifySignature({ ...base, body: Buffer.from('{}'), secretKey: 'other' }).ok).toBe(false);
  });
});
