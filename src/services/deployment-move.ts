/**
 * `ims migrate --to-database … --to-store …`: moves a stopped deployment to another
 * database (SQLite ⇄ PostgreSQL) and another store (files ⇄ S3). Objects go first,
 * each hashed on the way and checked against its blob row (md5 and sha512), so the
 * database written last never names an object that is missing or different; then
 * every row, in one transaction; then every blob row is checked against the new store.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config/config.ts';
import { copyDatabase } from '../adapters/db/copy-database.ts';
import { migrate, openDatabase, type Db } from '../adapters/db/database.ts';
import { s3StoreFactory } from '../adapters/storage/create-blob-store.ts';
import type { BlobStore } from '../adapters/storage/blob-store.ts';
import { createStoreRegistry, type StoreRegistry } from '../adapters/storage/store-registry.ts';
import { decodeKey, loadMasterKey } from '../adapters/identity/master-key.ts';

export interface MoveReport {
  objects: number;
  bytes: number;
  /** Blob rows whose object was checked by md5 and sha512 while copied. */
  verifiedBlobs: number;
  tables: number;
  rows: number;
}

class Digest extends Transform {
  readonly md5 = createHash('md5');
  readonly sha512 = createHash('sha512');
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, done: TransformCallback): void {
    this.md5.update(chunk);
    this.sha512.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

const storeOf = async (config: Config): Promise<StoreRegistry> =>
  createStoreRegistry(config.stores, config.dataDir, config.s3 ? { s3: s3StoreFactory(config.s3) } : {});

/** Where a store's bytes are: the same place on both sides means there is nothing to copy. */
function location(config: Config): string {
  const spec = config.stores[0]!;
  if (spec.driver === 's3' && config.s3) {
    return `s3:${config.s3.endpoint ?? ''}/${config.s3.bucket}/${config.s3.keyPrefix}`;
  }
  return `${spec.driver}:${path.resolve(config.dataDir)}`;
}

export async function moveDeployment(
  source: Config,
  target: Config,
  log: (line: string) => void,
): Promise<MoveReport> {
  if (source.stores.length !== 1 || target.stores.length !== 1) {
    throw new Error('ims migrate moves deployments with one store; IMS_STORES names several');
  }
  const sameDb =
    source.databaseUrl === target.databaseUrl &&
    (source.databaseUrl !== '' || path.resolve(source.dataDir) === path.resolve(target.dataDir));
  if (sameDb) throw new Error('the target database is the source database');
  const copyObjects = location(source) !== location(target);

  await carryMasterKey(source, target);
  const from = openDatabase(source.databaseUrl, source.dataDir);
  let to: Db | null = null;
  try {
    await migrate(from);
    to = openDatabase(target.databaseUrl, target.dataDir);
    await migrate(to);
    const srcStores = await storeOf(source);
    const dstStores = await storeOf(target);
    const srcName = srcStores.defaultName;
    const dstName = dstStores.defaultName;

    const blobs = await from.kysely
      .selectFrom('blobs')
      .select(['store_key', 'size', 'checksum', 'os_hash_value', 'store'])
      .execute();
    const byKey = new Map(blobs.map((b) => [b.store_key, b]));
    let objects = 0;
    let bytes = 0;
    let verifiedBlobs = 0;
    if (copyObjects) {
      const src = srcStores.default;
      const dst = dstStores.default;
      for await (const { key } of src.list('')) {
        const digest = await copyObject(src, dst, key, byKey.get(key));
        if (byKey.has(key)) verifiedBlobs++;
        objects++;
        bytes += digest;
        if (objects % 100 === 0) log(`copied ${objects} objects (${bytes} bytes)`);
      }
      log(`copied ${objects} objects (${bytes} bytes), ${verifiedBlobs} checked against their hashes`);
    }

    // Rows name their store; the one store may have another name on the target.
    const { tables, rows } = await copyDatabase(from, to, (_table, row) =>
      'store' in row && row.store === srcName ? { ...row, store: dstName } : row,
    );
    log(`copied ${rows} rows of ${tables} tables`);

    // Every image's data is where the new database says, at its size.
    const dst = dstStores.default;
    for (const b of blobs) {
      const info = await dst.stat(b.store_key);
      if (!info || info.size !== Number(b.size)) {
        throw new Error(
          `object ${b.store_key} is ${info ? `${info.size} bytes` : 'missing'} in the target store`,
        );
      }
    }
    return { objects, bytes, verifiedBlobs, tables, rows };
  } finally {
    await to?.close();
    await from.close();
  }
}

/** Streams one object across, hashing it; refuses it when it is a blob whose hashes differ. */
async function copyObject(
  src: BlobStore,
  dst: BlobStore,
  key: string,
  blob: { size: number; checksum: string; os_hash_value: string } | undefined,
): Promise<number> {
  const digest = new Digest();
  const writer = await dst.openWriter(key);
  try {
    await pipeline(await src.read(key), digest, writer.stream);
    if (blob) {
      const md5 = digest.md5.digest('hex');
      const sha512 = digest.sha512.digest('hex');
      if (digest.bytes !== Number(blob.size) || md5 !== blob.checksum || sha512 !== blob.os_hash_value) {
        throw new Error(`object ${key} does not match its blob row (size, md5 or sha512): nothing written`);
      }
    }
    await writer.commit();
    return digest.bytes;
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
}

/**
 * Secrets and the audit chain are sealed with the master key: the target must use the
 * same one. With IMS_MASTER_KEY set both sides share it; otherwise the key file moves.
 */
async function carryMasterKey(source: Config, target: Config): Promise<void> {
  if (target.masterKey) {
    const key = await loadMasterKey(source.masterKey, source.dataDir);
    if (!key.equals(target.masterKey)) throw new Error('IMS_MASTER_KEY differs from the source master key');
    return;
  }
  const key = await loadMasterKey(source.masterKey, source.dataDir);
  const file = path.join(target.dataDir, 'master.key');
  try {
    const existing = decodeKey((await readFile(file, 'utf8')).trim(), file);
    if (!existing.equals(key)) throw new Error(`${file} holds another master key than the source's`);
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(target.dataDir, { recursive: true });
  await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
}
