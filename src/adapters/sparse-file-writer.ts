/**
 * Writables that put a byte stream into a local file as a sparse file: every
 * all-zero block is skipped by seeking instead of written, and the file is
 * truncated to the full length at the end. A disk image is mostly holes (a
 * 2 GiB image with 1 GiB of data is typical), and clients and blob stores send
 * holes as zeros; written as data they would cost a full-size write, the disk
 * space of the whole virtual size, and qemu-img later reads and scans every
 * zero of it where it would skip a hole. Readers see the same bytes either way.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** The file system's block size on every Linux file system we run on: the unit a hole can have. */
const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);

const isZero = (b: Buffer): boolean => b.equals(b.length === BLOCK ? ZEROS : ZEROS.subarray(0, b.length));

export interface SparseWriterOptions {
  highWaterMark: number;
  /**
   * Start an fdatasync in the background after this many bytes of data since the last one. The
   * kernel would otherwise keep a whole upload dirty in memory (its background writeback starts
   * at a share of RAM) and the owner's final fsync would wait for all of it at the end; flushed
   * as it comes, the disk works while the stream is still arriving. The owner still syncs at the
   * end: this only makes that sync short.
   */
  flushEvery?: number;
}

/**
 * Writes a stream from offset 0 of a file that is open for writing, sparsely. The handle is the
 * owner's: this stream does not close it, and syncs it only as `flushEvery` asks. Chunks queued
 * together are written together, one `writev` per run of data, so a stream without zeros costs
 * what a plain write stream does.
 */
export class SparseHandleWriter extends Writable {
  protected handle: FileHandle | null;
  #position = 0;
  readonly #flushEvery: number;
  #unflushed = 0;
  #flushing: Promise<void> | null = null;
  #flushError: Error | null = null;
  /** Bytes actually written (the rest are holes). */
  dataBytes = 0;

  constructor(handle: FileHandle | null, options: SparseWriterOptions) {
    super({ highWaterMark: options.highWaterMark });
    this.handle = handle;
    this.#flushEvery = options.flushEvery ?? Infinity;
  }

  override _write(chunk: Buffer, _e: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#writeRuns([chunk]).then(() => done(), done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    this.#writeRuns(chunks.map((c) => c.chunk)).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    // A trailing hole is not a write: the length comes from truncate. A background flush must
    // end first: its failure (an I/O error) is the stream's.
    (async () => {
      await this.#flushing;
      if (this.#flushError) throw this.#flushError;
      await this.handle!.truncate(this.#position);
    })().then(() => done(), done);
  }

  /**
   * Writes the non-zero runs of the chunks (consecutive in the file), each run in one write.
   * Block tests line up with the file's blocks, whatever the chunk boundaries.
   */
  async #writeRuns(chunks: Buffer[]): Promise<void> {
    let run: Buffer[] = [];
    let runAt = 0;
    let runBytes = 0;
    const flush = async () => {
      if (!run.length) return;
      await this.#put(run, runAt, runBytes);
      run = [];
      runBytes = 0;
    };
    const add = (slice: Buffer, at: number) => {
      if (!run.length) runAt = at;
      run.push(slice);
      runBytes += slice.length;
    };
    for (const chunk of chunks) {
      const start = this.#position;
      this.#position += chunk.length;
      let from = -1;
      for (let i = 0; i < chunk.length;) {
        const end = Math.min(chunk.length, i + BLOCK - ((start + i) % BLOCK));
        if (isZero(chunk.subarray(i, end))) {
          if (from >= 0) add(chunk.subarray(from, i), start + from);
          from = -1;
          await flush();
        } else if (from < 0) {
          from = i;
        }
        i = end;
      }
      // Data up to the chunk's end: the run may go on in the next chunk.
      if (from >= 0) add(from === 0 ? chunk : chunk.subarray(from), start + from);
    }
    await flush();
  }

  async #put(buffers: Buffer[], position: number, length: number): Promise<void> {
    let { bytesWritten } = await this.handle!.writev(buffers, position);
    if (bytesWritten < length) {
      // A short writev (a signal, a full disk about to fail): the rest one plain write at a time.
      const rest = Buffer.concat(buffers).subarray(bytesWritten);
      for (let done = 0; done < rest.length;) {
        const r = await this.handle!.write(rest, done, rest.length - done, position + bytesWritten + done);
        done += r.bytesWritten;
      }
      bytesWritten = length;
    }
    this.dataBytes += bytesWritten;
    if (this.#flushError) throw this.#flushError;
    this.#unflushed += bytesWritten;
    if (this.#unflushed >= this.#flushEvery && !this.#flushing) {
      this.#unflushed = 0;
      const handle = this.handle!;
      this.#flushing = handle
        .datasync()
        .catch((err: Error) => {
          this.#flushError = err;
        })
        .finally(() => {
          this.#flushing = null;
        });
    }
  }
}

/** A sparse copy into a new file of its own, which it creates (mode 0600) and closes. */
export class SparseFileWriter extends SparseHandleWriter {
  /** `path` must not exist yet. */
  constructor(private readonly path: string) {
    super(null, { highWaterMark: 4 * 1024 * 1024 });
  }

  override _construct(done: (err?: Error | null) => void): void {
    open(this.path, 'wx', 0o600).then(
      (h) => {
        this.handle = h;
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const h = this.handle;
    this.handle = null;
    if (!h) return done(err);
    h.close().then(
      () => done(err),
      (closeErr: Error) => done(err ?? closeErr),
    );
  }
}
