import {
  canonicalRequest,
  computeSignature,
  sha256Hex,
  SIGNING_ALGORITHM,
  stringToSign,
  UNSIGNED_PAYLOAD,
} from '../../adapters/identity/aksk-signature.ts';
import type { OutgoingRequest } from '../../../sdk/client.ts';

/** `YYYYMMDDTHHMMSSZ`, the X-Sdk-Date format. */
export function sdkDate(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * Signs a request as the Huawei SDK does (SDK-HMAC-SHA256), with the canonical-request code
 * the server verifies with. Streamed bodies are signed as UNSIGNED-PAYLOAD.
 */
export function akskSigner(accessKey: string, secretKey: string, projectId?: string, now = () => new Date()) {
  return (request: OutgoingRequest): void => {
    const { headers, url } = request;
    const date = sdkDate(now());
    headers.set('x-sdk-date', date);
    if (projectId) headers.set('x-project-id', projectId);
    let payloadHash: string;
    if (request.body === 'stream') {
      headers.set('x-sdk-content-sha256', UNSIGNED_PAYLOAD);
      payloadHash = UNSIGNED_PAYLOAD;
    } else payloadHash = sha256Hex(Buffer.from(request.body));
    // fetch sends Host from the URL; it is signed with that value.
    const all: Record<string, string> = { host: url.host };
    headers.forEach((value, name) => (all[name] = value));
    const signedHeaders = ['host', 'x-sdk-date', 'content-type', 'x-project-id'].filter((h) => h in all);
    const canonical = canonicalRequest({
      method: request.method,
      rawPath: url.pathname,
      rawQuery: url.search.replace(/^\?/, ''),
      headers: all,
      signedHeaders,
      payloadHash,
    });
    if (canonical === null) throw new TypeError(`cannot sign ${url.pathname}: bad percent-encoding`);
    const signature = computeSignature(secretKey, stringToSign(date, canonical));
    headers.set(
      'authorization',
      `${SIGNING_ALGORITHM} Access=${accessKey}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`,
    );
  };
}
