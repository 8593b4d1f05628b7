import { Transform, type TransformCallback } from 'node:stream';
import { planRegions } from './detectors.ts';
import { FormatInspectionError } from './errors.ts';
import { checkOptions } from './inspector.ts';
import type { InspectOptions, InspectionResult } from './types.ts';
import { judge } from './verdict.ts';
import { FileView, HEAD_BYTES, TAIL_BYTES, type GrantedRegion, type RegionData } from './view.ts';

interface Capture {
  readonly region: GrantedRegion;
  readonly buf: Buffer;
}

/**
 * Inspects an upload as it passes, holding at most MAX_BUFFERED_BYTES: the
 * head (HEAD_BYTES), a rolling tail (TAIL_BYTES), and the regions the
 * detectors plan from the head, captured as the stream reaches them. Feed it
 * every chunk with `update`, then call `finish` when the stream ends cleanly.
 */
export class StreamingInspector {
  readonly #options: InspectOptions;
  readonly #head = Buffer.alloc(HEAD_BYTES);
  #headLength = 0;
  /** Ring buffer of the last TAIL_BYTES: `#tailEnd` is where the next byte goes. */
  readonly #tail = Buffer.alloc(TAIL_BYTES);
  #tailEnd = 0;
  #position = 0n;
  #captures: Capture[] | null = null;
  #result: InspectionResult | null = null;

  constructor(options: InspectOptions) {
    checkOptions(options);
    this.#options = { ...options };
  }

  /** Bytes received so far. */
  get bytesSeen(): bigint {
    return this.#position;
  }

  /** Bytes currently held (never more than MAX_BUFFERED_BYTES). */
  get bufferedBytes(): number {
    const regions = (this.#captures ?? []).reduce((n, c) => n + c.buf.length, 0);
    return this.#head.length + this.#tail.length + regions;
  }

  update(chunk: Uint8Array): void {
    if (this.#result) throw new FormatInspectionError('misuse', 'update() after finish()');
    if (!(chunk instanceof Uint8Array)) throw new FormatInspectionError('misuse', 'chunks must be Buffers');
    const data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (data.length === 0) return;
    let rest = data;
    if (this.#headLength < HEAD_BYTES) {
      const n = Math.min(HEAD_BYTES - this.#headLength, data.length);
      data.copy(this.#head, this.#headLength, 0, n);
      this.#headLength += n;
      rest = data.subarray(n);
      if (this.#headLength === HEAD_BYTES) this.#startCaptures(this.#head);
    }
    if (rest.length && this.#captures)
      this.#capture(this.#position + BigInt(data.length - rest.length), rest);
    this.#keepTail(data);
    this.#position += BigInt(data.length);
  }

  /** The verdict; call once the stream has ended. Later calls return the same result. */
  finish(): InspectionResult {
    if (this.#result) return this.#result;
    const size = this.#position;
    const head = this.#head.subarray(0, this.#headLength);
    if (!this.#captures) this.#startCaptures(head); // a file shorter than the head: everything is in it
    const regions = new Map<string, RegionData>();
    for (const { region, buf } of this.#captures ?? []) {
      const available = region.offset >= size ? 0n : size - region.offset;
      const length = available < BigInt(buf.length) ? Number(available) : buf.length;
      regions.set(region.key, {
        offset: region.offset,
        wanted: region.length,
        granted: region.granted,
        data: buf.subarray(0, length),
      });
    }
    this.#result = judge(new FileView(size, head, this.#tailBytes(), regions), this.#options);
    return this.#result;
  }

  #startCaptures(head: Buffer): void {
    this.#captures = planRegions(head).map((region) => {
      const buf = Buffer.alloc(region.granted);
      // The part of the region that lies in the head is already here.
      if (region.offset < BigInt(head.length)) {
        const start = Number(region.offset);
        head.copy(buf, 0, start, Math.min(head.length, start + region.granted));
      }
      return { region, buf };
    });
  }

  /** Copies the parts of `bytes` (which start at file offset `at`) that fall in a planned region. */
  #capture(at: bigint, bytes: Buffer): void {
    const end = at + BigInt(bytes.length);
    for (const { region, buf } of this.#captures ?? []) {
      const rStart = region.offset;
      const rEnd = region.offset + BigInt(region.granted);
      const from = rStart > at ? rStart : at;
      const to = rEnd < end ? rEnd : end;
      if (from >= to) continue;
      bytes.copy(buf, Number(from - rStart), Number(from - at), Number(to - at));
    }
  }

  #keepTail(data: Buffer): void {
    const bytes = data.length > TAIL_BYTES ? data.subarray(data.length - TAIL_BYTES) : data;
    const first = Math.min(bytes.length, TAIL_BYTES - this.#tailEnd);
    bytes.copy(this.#tail, this.#tailEnd, 0, first);
    bytes.copy(this.#tail, 0, first);
    this.#tailEnd = (this.#tailEnd + bytes.length) % TAIL_BYTES;
  }

  /** The last min(size, TAIL_BYTES) bytes, in order. */
  #tailBytes(): Buffer {
    const kept = this.#position < BigInt(TAIL_BYTES) ? Number(this.#position) : TAIL_BYTES;
    const ordered = Buffer.concat([
      this.#tail.subarray(this.#tailEnd),
      this.#tail.subarray(0, this.#tailEnd),
    ]);
    return ordered.subarray(TAIL_BYTES - kept);
  }
}

/**
 * A pass-through stream for the upload pipeline: bytes flow on unchanged while
 * the inspector watches them. `result()` gives the verdict once the stream has
 * finished (after `pipeline` resolves).
 */
export class InspectionStream extends Transform {
  readonly inspector: StreamingInspector;
  #flushed = false;

  constructor(options: InspectOptions) {
    super();
    this.inspector = new StreamingInspector(options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.inspector.update(chunk);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.inspector.finish();
      this.#flushed = true;
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }

  /** The verdict. Throws FormatInspectionError if the stream has not ended. */
  result(): InspectionResult {
    if (!this.#flushed) {
      throw new FormatInspectionError('misuse', 'the inspection stream has not finished');
    }
    return this.inspector.finish();
  }
}

export function createInspectionStream(options: InspectOptions): InspectionStream {
  return new InspectionStream(options);
}

/** Inspects a whole readable stream (consumes it). Stream errors become FormatInspectionError. */
export async function inspectStream(
  source: AsyncIterable<Uint8Array>,
  options: InspectOptions,
): Promise<InspectionResult> {
  const inspector = new StreamingInspector(options);
  try {
    for await (const chunk of source) inspector.update(chunk);
  } catch (err) {
    if (err instanceof FormatInspectionError) throw err;
    throw new FormatInspectionError('read-failed', 'reading the stream failed', { cause: err });
  }
  return inspector.finish();
}
