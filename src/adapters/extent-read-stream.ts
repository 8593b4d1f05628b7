import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FileExtent } from './qemu-img.ts';

const CHUNK_BYTES = 1024 * 1024;

/**
 * A file's bytes, read only where it has data: its holes come as zeros from memory. Reading a hole
 * makes the kernel fill page-cache pages with zeros, a GiB of memory for a GiB of hole; hashing a
 * converted raw image (half holes, typically) then cost seconds more than hashing its data.
 * `extents` must cover the file from 0 in order (`qemuMapRaw`); a file that ends sooner fails.
 */
export class ExtentReadStream extends Readable {
  #handle: FileHandle | null = null;
  #extent = 0;
  #offset = 0;
  /** The read in progress, which the handle must outlive. */
  #reading: Promise<unknown> = Promise.resolve();
  /** Handed out as hole chunks; consumers only read chunks, and each stream has its own. */
  readonly #zeros = Buffer.alloc(CHUNK_BYTES);

  constructor(
    private readonly path: string,
    private readonly extents: readonly FileExtent[],
  ) {
    super({ highWaterMark: CHUNK_BYTES });
  }

  override _construct(done: (err?: Error | null) => void): void {
    open(this.path, 'r').then(
      (h) => {
        this.#handle = h;
        done();
      },
      (err: Error) => done(err),
    );
  }

  override _read(): void {
    const extent = this.extents[this.#extent];
    if (!extent) {
      this.push(null);
      return;
    }
    const length = Math.min(CHUNK_BYTES, extent.length - this.#offset);
    const position = extent.start + this.#offset;
    const advance = () => {
      this.#offset += length;
      if (this.#offset >= extent.length) {
        this.#extent++;
        this.#offset = 0;
      }
    };
    if (extent.hole) {
      advance();
      this.push(this.#zeros.subarray(0, length));
      return;
    }
    const chunk = Buffer.allocUnsafeSlow(length);
    this.#reading = this.#handle!.read(chunk, 0, length, position).then(
      ({ bytesRead }) => {
        if (bytesRead !== length) {
          this.destroy(new Error(`${this.path} ended at byte ${position + bytesRead}, before its map's end`));
          return;
        }
        advance();
        this.push(chunk);
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    const h = this.#handle;
    this.#handle = null;
    if (!h) return done(err);
    const close = () =>
      h.close().then(
        () => done(err),
        (closeErr: Error) => done(err ?? closeErr),
      );
    void this.#reading.then(close, close);
  }
}
