import { randomUUID } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import {
  access,
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rmdir,
  stat,
  unlink,
  utimes,
} from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { assertValidKey, assertValidPrefix, BlobNotFoundError } from './blob-store.ts';
import type { BlobCommit, BlobStore, BlobWriter, ByteRange } from './blob-store.ts';
import { SparseHandleWriter } from '../sparse-file-writer.ts';
import { FileObjectStream } from './file-object-stream.ts';

/** Bytes buffered ahead of the disk while an upload streams in. */
const WRITE_BUFFER_BYTES = 2 * 1024 * 1024;
/** Data written before a background fdatasync: the commit's fsync then waits for at most this much. */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024;

/**
 * BlobStore on a local (or NFS) file system. Committed objects live at `<root>/objects/<key>`;
 * uploads are written to `<root>/tmp/<uuid>` on the same file system, so commit is one atomic rename.
 *
 * A key cannot be both an object and a "directory" of other keys here ("a" and "a/b"), which S3
 * allows; the service's key scheme must not rely on that.
 */
export class FileBlobStore implements BlobStore {
  readonly kind = 'file';
  readonly #root: string;
  readonly #objects: string;
  readonly #tmp: string;

  constructor(rootDir: string) {
    this.#root = rootDir;
    this.#objects = join(rootDir, 'objects');
    this.#tmp = join(rootDir, 'tmp');
  }

  async openWriter(key: string): Promise<BlobWriter> {
    assertValidKey(key);
    const tmpPath = await this.#newTempPath();
    const handle = await open(tmpPath, 'wx');
    return new FileBlobWriter(handle, tmpPath, () => this.#place(tmpPath, key));
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    let handle: FileHandle;
    try {
      handle = await open(this.#path(key), 'r');
    } catch (err) {
      if (isMissing(err)) throw new BlobNotFoundError(key);
      throw err;
    }
    try {
      const info = await handle.stat();
      // Opening a directory succeeds on Linux; it is a prefix of other keys, not an object.
      if (!info.isFile()) throw new BlobNotFoundError(key);
      if (range) checkRange(range, info.size);
      return range
        ? new FileObjectStream(handle, range.start, Math.min(range.end + 1, info.size))
        : new FileObjectStream(handle, 0, info.size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    assertValidKey(key);
    try {
      const info = await stat(this.#path(key));
      return info.isFile() ? { size: info.size } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async copy(from: string, to: string): Promise<void> {
    assertValidKey(from);
    assertValidKey(to);
    const tmpPath = await this.#newTempPath();
    try {
      try {
        // FICLONE makes a reflink on btrfs/XFS (instant for multi-GiB images) and falls back to a full copy.
        await copyFile(this.#path(from), tmpPath, constants.COPYFILE_FICLONE);
      } catch (err) {
        if (isMissing(err) || errCode(err) === 'EISDIR') throw new BlobNotFoundError(from);
        throw err;
      }
      await fsync(tmpPath, 'r+');
      await this.#place(tmpPath, to);
    } catch (err) {
      await unlink(tmpPath).catch(() => undefined);
      throw err;
    }
  }

  async linkLocal(key: string, dest: string): Promise<boolean> {
    assertValidKey(key);
    const source = this.#path(key);
    // A directory (a prefix of other keys) is no object; checked first because link() answers a
    // directory with EPERM, as it answers a file system without hard links.
    const info = await lstat(source).catch((err: unknown) => {
      if (isMissing(err)) return null;
      throw err;
    });
    if (!info?.isFile()) throw new BlobNotFoundError(key);
    try {
      await link(source, dest);
      return true;
    } catch (err) {
      if (NO_LINK.has(errCode(err) ?? '')) return false;
      throw err;
    }
  }

  async adoptLocal(key: string, file: string): Promise<BlobCommit | null> {
    assertValidKey(key);
    const tmpPath = await this.#newTempPath();
    try {
      await link(file, tmpPath);
    } catch (err) {
      if (NO_LINK.has(errCode(err) ?? '')) return null;
      throw err;
    }
    // purgeStaleUploads ages a session by its mtime: this one starts now, not when the file was written.
    const now = new Date();
    await utimes(tmpPath, now, now);
    // The bytes may still be only in the page cache (whoever wrote the file did not sync). The file
    // no longer changes, so its sync starts now and the disk works while the caller reads the file
    // (to hash and inspect it); commit() waits for it.
    const synced = fsync(tmpPath, 'r');
    synced.catch(() => {}); // commit() or abort() owns the outcome
    let committing: Promise<{ size: number }> | undefined;
    const discard = () =>
      unlink(tmpPath).catch((err: unknown) => {
        if (errCode(err) !== 'ENOENT') throw err;
      });
    return {
      commit: () =>
        (committing ??= (async () => {
          try {
            await synced;
            const { size } = await stat(tmpPath);
            await this.#place(tmpPath, key);
            return { size };
          } catch (err) {
            await discard();
            throw err;
          }
        })()),
      // A commit that already renamed wins: the object stays, as with openWriter.
      abort: async () => {
        await committing?.catch(() => undefined);
        if (committing) return;
        await synced.catch(() => undefined);
        await discard();
      },
    };
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const path = this.#path(key);
    try {
      await unlink(path);
    } catch (err) {
      // EISDIR: the key only names a directory of other keys, so there is no object to delete.
      if (isMissing(err) || errCode(err) === 'EISDIR') return;
      throw err;
    }
    await this.#pruneEmptyDirs(dirname(path));
  }

  async *list(prefix: string): AsyncGenerator<{ key: string; size: number }> {
    assertValidPrefix(prefix);
    const cut = prefix.lastIndexOf('/') + 1;
    yield* this.#walk(prefix.slice(0, cut), prefix.slice(cut));
  }

  async ping(): Promise<void> {
    await access(this.#root, constants.R_OK | constants.W_OK | constants.X_OK);
  }

  /**
   * Deletes uploads nobody committed or aborted (the client vanished, the process died). Age is
   * taken from the mtime, which every write moves, so a slow upload that is still sending survives.
   * Returns how many were deleted.
   */
  async purgeStaleUploads(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let names: string[];
    try {
      names = await readdir(this.#tmp);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    let purged = 0;
    for (const name of names) {
      const path = join(this.#tmp, name);
      try {
        if ((await stat(path)).mtimeMs < cutoff) {
          await unlink(path);
          purged++;
        }
      } catch (err) {
        // Committed or aborted while we looked: not ours to count.
        if (!isMissing(err)) throw err;
      }
    }
    return purged;
  }

  #path(key: string): string {
    return join(this.#objects, key);
  }

  async #newTempPath(): Promise<string> {
    await mkdir(this.#tmp, { recursive: true });
    return join(this.#tmp, randomUUID());
  }

  /** Moves a complete, fsynced temp file to its key and makes the new name durable. */
  async #place(tmpPath: string, key: string): Promise<void> {
    const dest = this.#path(key);
    const dir = dirname(dest);
    // A concurrent delete() may prune the directory between mkdir and rename; try again.
    for (let attempt = 1; ; attempt++) {
      await mkdir(dir, { recursive: true });
      try {
        await rename(tmpPath, dest);
        break;
      } catch (err) {
        if (errCode(err) !== 'ENOENT' || attempt === 3) throw err;
      }
    }
    await fsync(dir, 'r');
  }

  /** Without this, every deleted image would leave its directories behind forever. */
  async #pruneEmptyDirs(dir: string): Promise<void> {
    for (; dir.startsWith(this.#objects + '/'); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): everything above is in use too
      }
    }
  }

  async *#walk(dirKey: string, namePrefix: string): AsyncGenerator<{ key: string; size: number }> {
    let entries: Dirent[];
    try {
      entries = await readdir(join(this.#objects, dirKey), { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    // Sorting a directory as "name/" puts its subtree exactly where its keys sort, so the
    // listing comes out in key order, as S3 returns it.
    const sortName = (e: Dirent) => (e.isDirectory() ? `${e.name}/` : e.name);
    entries.sort((a, b) => (sortName(a) < sortName(b) ? -1 : 1));
    for (const entry of entries) {
      if (!entry.name.startsWith(namePrefix)) continue;
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        yield* this.#walk(`${key}/`, '');
      } else if (entry.isFile()) {
        const info = await this.stat(key);
        if (info) yield { key, size: info.size };
      }
    }
  }
}

class FileBlobWriter implements BlobWriter {
  readonly stream: SparseHandleWriter;
  readonly #handle: FileHandle;
  readonly #tmpPath: string;
  readonly #place: () => Promise<void>;
  #aborted = false;
  #committing: Promise<{ size: number }> | undefined;
  #discarding: Promise<void> | undefined;

  constructor(handle: FileHandle, tmpPath: string, place: () => Promise<void>) {
    this.#handle = handle;
    this.#tmpPath = tmpPath;
    this.#place = place;
    // The descriptor stays ours (commit() fsyncs it after 'finish'). Disk images are written sparse:
    // their zero blocks become holes. A deep buffer lets the next chunks be hashed while one is
    // written, and be written together (writev), instead of waiting on the disk chunk by chunk.
    this.stream = new SparseHandleWriter(handle, {
      highWaterMark: WRITE_BUFFER_BYTES,
      flushEvery: FLUSH_EVERY_BYTES,
    });
    // A stream error leaves nothing behind even if the caller never calls abort(); if the unlink
    // fails, purgeStaleUploads gets the file later.
    this.stream.on('error', () => {
      this.#discard().catch(() => undefined);
    });
  }

  commit(): Promise<{ size: number }> {
    this.#committing ??= this.#commit();
    return this.#committing;
  }

  async abort(): Promise<void> {
    this.#aborted = true;
    this.stream.destroy();
    // A commit that already renamed wins: the object stays, and aborting is a no-op.
    await this.#committing?.catch(() => undefined);
    await this.#discard();
  }

  async #commit(): Promise<{ size: number }> {
    try {
      if (this.#aborted) throw new Error('upload was aborted');
      if (!this.stream.writableEnded && !this.stream.destroyed) {
        throw new Error('end the upload stream before commit()');
      }
      await finished(this.stream);
      await this.#handle.sync();
      const { size } = await this.#handle.stat();
      await this.#close();
      if (this.#aborted) throw new Error('upload was aborted');
      await this.#place();
      return { size };
    } catch (err) {
      await this.#discard();
      throw err;
    }
  }

  async #close(): Promise<void> {
    this.stream.destroy();
    await this.#handle.close();
  }

  #discard(): Promise<void> {
    this.#discarding ??= (async () => {
      await this.#close().catch(() => undefined);
      try {
        await unlink(this.#tmpPath);
      } catch (err) {
        // Gone already: committed (renamed away) or purged.
        if (errCode(err) !== 'ENOENT') throw err;
      }
    })();
    return this.#discarding;
  }
}

function checkRange({ start, end }: ByteRange, size: number): void {
  // An end past the object is clamped, as HTTP does; a start past it has no bytes to give.
  if (
    !Number.isSafeInteger(start) ||
    !Number.isSafeInteger(end) ||
    start < 0 ||
    end < start ||
    start >= size
  ) {
    throw new RangeError(`byte range ${start}-${end} not satisfiable for an object of ${size} bytes`);
  }
}

async function fsync(path: string, flags: 'r' | 'r+'): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What link() answers where a hard link cannot be made: another file system, or none supported. */
const NO_LINK: ReadonlySet<string> = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

function errCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err ? String(err.code) : undefined;
}

/** ENOTDIR: a parent segment of the key is an object, so the key itself cannot exist. */
function isMissing(err: unknown): boolean {
  const code = errCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
