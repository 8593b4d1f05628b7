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
const MD5_WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const md5 = createHash('md5');
parentPort.on('message', (msg) => {
  if (msg === 'digest') { parentPort.postMessage({ digest: md5.digest('hex') }); return; }
  md5.update(msg);
  parentPort.postMessage({ done: msg.byteLength });
});
`;

/** Below this much data a thread costs more than it saves. */
const INLINE_LIMIT = 4 * 1024 * 1024;
/** Bytes handed to the worker and not yet hashed; above it the stream waits (bounded memory). */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

class Md5OnWorker {
  private readonly worker = new Worker(MD5_WORKER_SOURCE, { eval: true });
  private inFlight = 0;
  private waiter: (() => void) | null = null;
  private digestWaiter: ((hex: string) => void) | null = null;
  private failure: Error | null = null;

  constructor() {
    this.worker.on('message', (msg: { done?: number; digest?: string }) => {
      if (msg.digest !== undefined) return this.digestWaiter?.(msg.digest);
      this.inFlight -= msg.done ?? 0;
      if (this.inFlight <= MAX_IN_FLIGHT / 2) this.release();
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

  /** Resolves once the worker has room for more. */
  async update(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    this.inFlight += chunk.length;
    // A copy goes to the worker; the original flows on to the store.
    this.worker.postMessage(chunk);
    if (this.inFlight > MAX_IN_FLIGHT) await new Promise<void>((r) => (this.waiter = r));
    if (this.failure) throw this.failure;
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
