import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The master key that seals stored secrets: IMS_MASTER_KEY when set (every node
 * of a scaled-out deployment must share it), otherwise a key file created once
 * in the data dir, readable by the service's user only.
 */
export async function loadMasterKey(configured: Buffer | undefined, dataDir: string): Promise<Buffer> {
  if (configured) return configured;
  const file = path.join(dataDir, 'master.key');
  try {
    return decodeKey((await readFile(file, 'utf8')).trim(), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    // 'wx': if another process created it first, theirs wins and is read below.
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return decodeKey((await readFile(file, 'utf8')).trim(), file);
  }
}

/** A 32-byte key written as base64 or as 64 hex digits. */
export function decodeKey(text: string, origin: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32)
    throw new Error(`${origin}: the master key must be 32 bytes (base64 or 64 hex digits)`);
  return key;
}
