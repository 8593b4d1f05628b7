/**
 * A Writable that puts a byte stream into a new local file as a sparse file:
 * every all-zero block is skipped by seeking instead of written, and the file is
 * truncated to the full length at the end. A disk image is mostly holes (a
 * 2 GiB image with 1 GiB of data is typical), and a blob store streams holes
 * as zeros; written as data they would cost a full-size write and the disk
 * space of the whole virtual size. Readers see the same bytes either way.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** The file system's block size on every Linux file system we run on: the unit a hole can have. */
const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);

const isZero = (b: Buffer): boolean => b.equals(b.length === BLOCK ? ZEROS : ZEROS.subarray(0, b.length));

export class SparseFileWriter extends Writable {
  #handle: FileHandle | null = null;
  #position = 0;
  /** Bytes actually written (the rest are holes). */
  dataBytes = 0;

  /** `path` must not exist yet: it is created with mode 0600. */
  constructor(private readonly path: string) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  override _construct(done: (err?: Error | null) => void): void {
    open(this.path, 'wx', 0o600).then(
      (h) => {
        this.#handle = h;
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _write(chunk: Buffer, _e: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#writeRuns(chunk).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    // A trailing hole is not a write: the length comes from truncate.
    this.#handle!.truncate(this.#position).then(() => done(), done);
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const h = this.#handle;
    this.#handle = null;
    if (!h) return done(err);
    h.close().then(
      () => done(err),
      (closeErr: Error) => done(err ?? closeErr),
    );
  }

  /** Writes the non-zero runs of `chunk`, each block aligned to the file's blocks, in one write per run. */
  async #writeRuns(chunk: Buffer): Promise<void> {
    const start = this.#position;
    this.#position += chunk.length;
    let runStart = -1;
    // The first block ends at the next absolute block boundary, so holes line up with the file's blocks.
    for (let i = 0; i < chunk.length;) {
      const end = Math.min(chunk.length, i + BLOCK - ((start + i) % BLOCK));
      if (isZero(chunk.subarray(i, end))) {
        if (runStart >= 0) await this.#put(chunk, runStart, i, start);
        runStart = -1;
      } else if (runStart < 0) {
        runStart = i;
      }
      i = end;
    }
    if (runStart >= 0) await this.#put(chunk, runStart, chunk.length, start);
  }

  async #put(chunk: Buffer, from: number, to: number, chunkStart: number): Promise<void> {
    let done = from;
    while (done < to) {
      const { bytesWritten } = await this.#handle!.write(chunk, done, to - done, chunkStart + done);
      done += bytesWritten;
    }
    this.dataBytes += to - from;
  }
}
