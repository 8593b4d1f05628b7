import { hkdfSync } from 'node:crypto';

/**
 * A key for one purpose derived from the master key (HKDF-SHA256), so that no
 * two uses share key material and the master key itself signs nothing.
 */
export function deriveKey(masterKey: Buffer, purpose: 'audit-chain'): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), `ims:${purpose}:v1`, 32));
}
