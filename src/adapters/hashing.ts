import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';

export interface ImageDigests {
  /** md5, hex: Glance's `checksum`. */
  md5: string;
  /** sha512, hex: Glance's `os_hash_value` with `os_hash_algo` sha512. */
  sha512: string;
  size: number;
}

// Neither md5 nor sha512 parallelises within one stream, so a large upload hashes md5 on a worker
// thread while this thread does sha512: the data path then runs at the speed of the slower hash,
// not their sum. sha512 stays here, on the bytes this thread has just received and still holds in
// cache: with both hashes on workers the upload was no faster here and cost 1.5 s more CPU per GiB
// (and a thread's 9 MB of RSS), which on a 2-core machine is CPU the rest of the upload lacks.
// The bytes reach the worker through one shared ring buffer rather than as messages: a message
// copies each chunk (with the whole buffer a chunk is a slice of) into fresh memory that waits for
// the worker's garbage collector, which made a 4 GiB upload's RSS grow by tens of MB.
const HASH_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hash = createHash(workerData.algorithm);
let ring = null;
parentPort.on('message', (msg) => {
  if (msg === 'digest') { parentPort.postMessage({ digest: hash.digest('hex') }); return; }
  if (msg.ring) { ring = Buffer.from(msg.ring); return; }
  hash.update(ring.subarray(msg.at, msg.at + msg.length));
  parentPort.postMessage({ done: msg.cost });
});
`;

/** Below this much data a thread costs more than it saves. */
const INLINE_LIMIT = 4 * 1024 * 1024;
/** The ring's size: bytes handed to the workers and not yet hashed by both; when full the stream waits. */
const RING_BYTES = 4 * 1024 * 1024;
/**
 * Bytes copied into the ring before the workers are told of them: a message per socket chunk
 * (64 KiB) is 8x the messages, each waking both threads.
 */
const POST_BYTES = 512 * 1024;

/** Hashes on worker threads, one per algorithm, all reading the same ring (a span is free once all are past it). */
class HashWorkers {
  private readonly workers: Worker[];
  private readonly ring = Buffer.from(new SharedArrayBuffer(RING_BYTES));
  /** Where the next piece goes. */
  private head = 0;
  /** Ring bytes handed out in all, and what each worker has released of them. */
  private posted = 0;
  private readonly released: number[];
  /** Copied into the ring, not yet posted: a contiguous span, and what it holds of the ring. */
  private span = { at: 0, length: 0, cost: 0 };
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(readonly algorithms: readonly string[]) {
    this.released = algorithms.map(() => 0);
    this.workers = algorithms.map((algorithm, i) => {
      const worker = new Worker(HASH_WORKER_SOURCE, { eval: true, workerData: { algorithm } });
      worker.postMessage({ ring: this.ring.buffer });
      worker.on('message', (msg: { done?: number }) => {
        if (msg.done === undefined) return;
        this.released[i]! += msg.done;
        this.wake();
      });
      worker.on('error', (err) => {
        this.failure = err;
        this.wake();
      });
      return worker;
    });
  }

  private get inFlight(): number {
    return this.posted + this.span.cost - Math.min(...this.released);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /**
   * Copies the chunk into the ring (it may then be reused or passed on). Returns a promise only
   * when it had to wait for the workers to free room, so the common case allocates nothing.
   */
  update(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    for (let at = 0; at < chunk.length; at += RING_BYTES / 2) {
      if (!this.tryPut(chunk.subarray(at, at + RING_BYTES / 2))) return this.putSlowly(chunk, at);
    }
    return undefined;
  }

  private async putSlowly(chunk: Buffer, from: number): Promise<void> {
    for (let at = from; at < chunk.length; at += RING_BYTES / 2) {
      const piece = chunk.subarray(at, at + RING_BYTES / 2);
      while (!this.tryPut(piece)) {
        // The workers are told of everything copied so far, or they would never free the room we wait for.
        this.post();
        // Then wait for half the ring, not for one piece: the spans posted stay large.
        while (!this.failure && this.inFlight > RING_BYTES / 2)
          await new Promise<void>((r) => (this.waiter = r));
        if (this.failure) throw this.failure;
      }
    }
  }

  /** Copies the piece in when there is room for it; false when the workers must free some first. */
  private tryPut(piece: Buffer): boolean {
    // A piece never wraps: when it does not fit before the end, it starts over at 0 and the
    // skipped tail counts as in flight until the workers are past it.
    let at = this.head;
    let cost = piece.length;
    if (at + piece.length > RING_BYTES) {
      cost += RING_BYTES - at;
      at = 0;
    }
    if (this.inFlight + cost > RING_BYTES) return false;
    // A span is contiguous: one that would wrap is posted first.
    if (at !== this.head) this.post();
    piece.copy(this.ring, at);
    if (this.span.length === 0) this.span.at = at;
    this.span.length += piece.length;
    this.span.cost += cost;
    this.head = at + piece.length;
    if (this.span.length >= POST_BYTES) this.post();
    return true;
  }

  private post(): void {
    const { at, length, cost } = this.span;
    if (cost === 0) return;
    for (const w of this.workers) w.postMessage({ at, length, cost });
    this.posted += cost;
    this.span = { at: this.head, length: 0, cost: 0 };
  }

  /** Each algorithm's digest, hex, in the order given; the workers end. */
  async digests(): Promise<string[]> {
    this.post();
    const hexes = await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<string>((resolve, reject) => {
            const onMessage = (msg: { digest?: string }) => {
              if (msg.digest === undefined) return;
              worker.off('message', onMessage);
              resolve(msg.digest);
            };
            worker.on('message', onMessage);
            worker.once('error', reject);
            worker.postMessage('digest');
          }),
      ),
    );
    await this.close();
    return hexes;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * A pass-through stream that hashes what flows through it and counts it,
 * stopping the flow once `maxBytes` is exceeded.
 */
export class HashingMeter extends Transform {
  private workers: HashWorkers | null = null;
  private readonly sha512 = createHash('sha512');
  /** Small uploads never need the workers: their chunks wait here and are hashed at the end. */
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
    if (this.workers) {
      this.sha512.update(chunk);
      const waiting = this.workers.update(chunk);
      if (!waiting) return done(null, chunk);
      waiting.then(() => done(null, chunk), done);
      return;
    }
    this.pending.push(chunk);
    if (this.bytes <= INLINE_LIMIT) return done(null, chunk);
    const workers = (this.workers = new HashWorkers(['md5']));
    for (const c of this.pending) this.sha512.update(c);
    const replay = this.pending;
    this.pending = [];
    replay
      .reduce<Promise<void>>((p, c) => p.then(() => workers.update(c)), Promise.resolve())
      .then(() => done(null, chunk), done);
  }

  override _flush(done: TransformCallback): void {
    const hexes = this.workers
      ? this.workers.digests().then(([m]) => [m, this.sha512.digest('hex')])
      : Promise.resolve(inlineDigests(this.pending));
    hexes.then(([md5, sha512]) => {
      this.pending = [];
      this.result = { md5: md5!, sha512: sha512!, size: this.bytes };
      done();
    }, done);
  }

  override _destroy(err: Error | null, done: (error?: Error | null) => void): void {
    this.pending = [];
    const closing = this.workers?.close() ?? Promise.resolve();
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

function inlineDigests(chunks: Buffer[]): string[] {
  return ['md5', 'sha512'].map((algorithm) => {
    const hash = createHash(algorithm);
    for (const c of chunks) hash.update(c);
    return hash.digest('hex');
  });
}
