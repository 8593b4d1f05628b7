import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export interface ImageDigests {
  /** md5, hex: Glance's `checksum`. */
  md5: string;
  /** sha512, hex: Glance's `os_hash_value` with `os_hash_algo` sha512. */
  sha512: string;
  size: number;
}

/**
 * A pass-through stream that hashes what flows through it and counts it,
 * stopping the flow once `maxBytes` is exceeded.
 */
export class HashingMeter extends Transform {
  private readonly md5: Hash = createHash('md5');
  private readonly sha512: Hash = createHash('sha512');
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onTooLarge: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) return done(this.onTooLarge());
    this.md5.update(chunk);
    this.sha512.update(chunk);
    done(null, chunk);
  }

  digests(): ImageDigests {
    return { md5: this.md5.digest('hex'), sha512: this.sha512.digest('hex'), size: this.bytes };
  }
}
