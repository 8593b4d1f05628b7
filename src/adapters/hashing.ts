import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';

export interface ImageDigests {
  /** md5, hex: Glance's `checksum`. */
  md5: string;
  /** sha512, hex: Glance's `os_hash_value` with `os_hash_algo` sha512. */
  sha512: string;
  size: number;
}

// md5 is slower than sha512 and neither parallelises within one stream, so a
// large upload hashes md5 on a worker thread while this thread does sha512:
// the data path then runs at the speed of the slower hash, not their sum.
// The bytes reach the worker through one shared ring buffer rather than as
// messages: a message copies each chunk (with the whole buffer a chunk is a
// slice of) into fresh memory that waits for the worker's garbage collector,
// which made a 4 GiB upload's RSS grow by tens of MB.
const MD5_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const md5 = createHash('md5');
let ring = null;
parentPort.on('message', (msg) => {
  if (msg === 'digest') { parentPort.postMessage({ digest: md5.digest('hex') }); return; }
  if (msg.ring) { ring = Buffer.from(msg.ring); return; }
  md5.update(ring.subarray(msg.at, msg.at + msg.length));
  parentPort.postMessage({ done: msg.cost });
});
`;

/** Below this much data a thread costs more than it saves. */
const INLINE_LIMIT = 4 * 1024 * 1024;
/** The ring's size: bytes handed to the worker and not yet hashed; when full the stream waits. */
const RING_BYTES = 4 * 1024 * 1024;

class Md5OnWorker {
  private readonly worker = new Worker(MD5_WORKER_SOURCE, { eval: true });
  private readonly ring = Buffer.from(new SharedArrayBuffer(RING_BYTES));
  /** Where the next piece goes, and the bytes of the ring the worker has not released yet. */
  private head = 0;
  private inFlight = 0;
  private waiter: (() => void) | null = null;
  private digestWaiter: ((hex: string) => void) | null = null;
  private failure: Error | null = null;

  constructor() {
    this.worker.postMessage({ ring: this.ring.buffer });
    this.worker.on('message', (msg: { done?: number; digest?: string }) => {
      if (msg.digest !== undefined) return this.digestWaiter?.(msg.digest);
      this.inFlight -= msg.done ?? 0;
      this.release();
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      this.release();
    });
  }

  private release(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Resolves once the chunk is in the ring (it may then be reused or passed on). */
  async update(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; at += RING_BYTES / 2) {
      await this.put(chunk.subarray(at, Math.min(chunk.length, at + RING_BYTES / 2)));
    }
  }

  private async put(piece: Buffer): Promise<void> {
    // A piece never wraps: when it does not fit before the end, it starts over at 0 and the
    // skipped tail counts as in flight until the worker is past it.
    let at = this.head;
    let cost = piece.length;
    if (at + piece.length > RING_BYTES) {
      cost += RING_BYTES - at;
      at = 0;
    }
    while (this.inFlight + cost > RING_BYTES) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.waiter = r));
    }
    if (this.failure) throw this.failure;
    piece.copy(this.ring, at);
    this.head = at + piece.length;
    this.inFlight += cost;
    this.worker.postMessage({ at, length: piece.length, cost });
  }

  async digest(): Promise<string> {
    const hex = await new Promise<string>((resolve, reject) => {
      this.digestWaiter = resolve;
      this.worker.once('error', reject);
      this.worker.postMessage('digest');
    });
    await this.close();
    return hex;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * A pass-through stream that hashes what flows through it and counts it,
 * stopping the flow once `maxBytes` is exceeded.
 */
export class HashingMeter extends Transform {
  private readonly sha512: Hash = createHash('sha512');
  private md5Worker: Md5OnWorker | null = null;
  /** Small uploads never need the worker: their chunks wait here and are hashed at the end. */
  private pending: Buffer[] = [];
  private bytes = 0;
  private result: ImageDigests | null = null;

  constructor(
    private readonly maxBytes: number,
    private readonly onTooLarge: () => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) return done(this.onTooLarge());
    this.sha512.update(chunk);
    if (this.md5Worker) {
      this.md5Worker.update(chunk).then(() => done(null, chunk), done);
      return;
    }
    this.pending.push(chunk);
    if (this.bytes <= INLINE_LIMIT) return done(null, chunk);
    const worker = (this.md5Worker = new Md5OnWorker());
    const replay = this.pending;
    this.pending = [];
    replay
      .reduce((p, c) => p.then(() => worker.update(c)), Promise.resolve())
      .then(() => done(null, chunk), done);
  }

  override _flush(done: TransformCallback): void {
    const md5 = this.md5Worker ? this.md5Worker.digest() : Promise.resolve(inlineMd5(this.pending));
    md5.then((hex) => {
      this.pending = [];
      this.result = { md5: hex, sha512: this.sha512.digest('hex'), size: this.bytes };
      done();
    }, done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.pending = [];
    const closing = this.md5Worker?.close() ?? Promise.resolve();
    closing.then(
      () => done(err),
      () => done(err),
    );
  }

  /** The digests, once the stream has ended. */
  digests(): ImageDigests {
    if (!this.result) throw new Error('digests are known only after the stream has ended');
    return this.result;
  }
}

function inlineMd5(chunks: Buffer[]): string {
  const md5 = createHash('md5');
  for (const c of chunks) md5.update(c);
  return md5.digest('hex');
}
