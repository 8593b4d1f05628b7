import { KiB, MiB } from './bytes.ts';
import { OutOfBounds } from './errors.ts';
import type { Detection } from './types.ts';

/**
 * What an inspection may look at, and why both inspectors agree.
 *
 * A verdict is a pure function of a FileView: the file size, its first
 * HEAD_BYTES (every fixed-position header lives there: VHDX region tables end
 * at 320 KiB, ISO descriptors start at 32 KiB), its last TAIL_BYTES (fixed VHD
 * footer, VMDK stream footer, DMG trailer), and the regions the detectors ask
 * for. Detectors may ask for regions only on the strength of the head, so the
 * streaming inspector knows every region it must keep once it has seen the
 * head, and every such region either lies in the head or is still ahead in
 * the stream. The random-access inspector reads exactly the same bytes. Same
 * view, same verdict: the two cannot disagree, whatever the file.
 *
 * Pointers found in the tail or inside a region are only checked against the
 * file size, never followed (a stream cannot go back for them).
 */
export const HEAD_BYTES = 512 * KiB;
export const TAIL_BYTES = 4 * KiB;
/** Largest single region a detector may ask for. */
export const MAX_REGION_BYTES = MiB;
/** All regions of one file together; requests past it are cut, in detector order. */
export const REGION_BUDGET_BYTES = 4 * MiB;
/** Upper bound on the bytes either inspector holds for one file. */
export const MAX_BUFFERED_BYTES = HEAD_BYTES + TAIL_BYTES + REGION_BUDGET_BYTES;

/** A byte range a detector wants to see. Keys are namespaced by detector (`qcow2:l1`). */
export interface RegionRequest {
  readonly key: string;
  readonly offset: bigint;
  readonly length: number;
}

/** A request after the budget: `granted <= length` bytes will be captured (fewer at end of file). */
export interface GrantedRegion extends RegionRequest {
  readonly granted: number;
}

export interface RegionData {
  readonly offset: bigint;
  /** What the detector asked for. */
  readonly wanted: number;
  /** What the budget allowed. */
  readonly granted: number;
  /** What was there: shorter than `granted` only when the file ends first. */
  readonly data: Buffer;
}

/**
 * Whether the first `end` bytes of a region are at hand: `ok`, `eof` (the file
 * ends first: the structure runs past the end of the file) or `cut` (the cap or
 * budget stopped the capture: the rest is not checked here; qemu-img check
 * covers it).
 */
export function availability(r: RegionData, end: number): 'ok' | 'eof' | 'cut' {
  if (end <= r.data.length) return 'ok';
  return r.data.length < r.granted ? 'eof' : 'cut';
}

/** Runs a plan that parses the head; a head too short to parse needs no regions. */
export function safePlan(plan: () => RegionRequest[]): RegionRequest[] {
  try {
    return plan();
  } catch (err) {
    if (err instanceof OutOfBounds) return [];
    throw err;
  }
}

/** Applies the per-region cap and the shared budget, in request order. */
export function grantRegions(requests: readonly RegionRequest[]): GrantedRegion[] {
  let budget = REGION_BUDGET_BYTES;
  const seen = new Set<string>();
  const out: GrantedRegion[] = [];
  for (const r of requests) {
    if (seen.has(r.key) || r.offset < 0n || !Number.isSafeInteger(r.length) || r.length <= 0) continue;
    seen.add(r.key);
    const length = Math.min(r.length, MAX_REGION_BYTES);
    const granted = Math.min(length, budget);
    budget -= granted;
    out.push({ key: r.key, offset: r.offset, length, granted });
  }
  return out;
}

export class FileView {
  constructor(
    readonly size: bigint,
    /** Bytes [0, min(size, HEAD_BYTES)). */
    readonly head: Buffer,
    /** Bytes [size - tail.length, size), at most TAIL_BYTES. */
    readonly tail: Buffer,
    private readonly regions: ReadonlyMap<string, RegionData>,
  ) {}

  region(key: string): RegionData | undefined {
    return this.regions.get(key);
  }

  /**
   * `length` bytes at `offset` if the view holds all of them (head, tail or a
   * captured region), else null. Null also means "past the end of the file".
   */
  bytes(offset: bigint, length: number): Buffer | null {
    if (offset < 0n || length < 0) return null;
    const end = offset + BigInt(length);
    if (end > this.size) return null;
    if (end <= BigInt(this.head.length)) return this.head.subarray(Number(offset), Number(end));
    const tailStart = this.size - BigInt(this.tail.length);
    if (offset >= tailStart) return this.tail.subarray(Number(offset - tailStart), Number(end - tailStart));
    for (const r of this.regions.values()) {
      const rEnd = r.offset + BigInt(r.data.length);
      if (offset >= r.offset && end <= rEnd) {
        return r.data.subarray(Number(offset - r.offset), Number(end - r.offset));
      }
    }
    return null;
  }
}

/**
 * One detector per format family. `plan` sees only the head; `detect` returns
 * null when the family's signature is absent, and must not throw for any bytes.
 */
export interface Detector {
  readonly name: string;
  plan(head: Buffer): RegionRequest[];
  detect(view: FileView): Detection | null;
}
