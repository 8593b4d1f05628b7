import { planRegions } from './detectors.ts';
import { FormatInspectionError } from './errors.ts';
import type { InspectOptions, InspectionResult, RandomAccessReader } from './types.ts';
import { judge } from './verdict.ts';
import { FileView, HEAD_BYTES, TAIL_BYTES, type RegionData } from './view.ts';

/**
 * Random-access inspection of a stored file: reads the head, the tail and the
 * regions the detectors plan (at most MAX_BUFFERED_BYTES in all, whatever the
 * headers say), then judges. Gives exactly the verdict the streaming inspector
 * gives for the same bytes (see view.ts).
 */
export async function inspectReader(
  reader: RandomAccessReader,
  options: InspectOptions,
): Promise<InspectionResult> {
  checkOptions(options);
  const size = reader.size;
  if (typeof size !== 'bigint' || size < 0n) {
    throw new FormatInspectionError('misuse', 'reader.size must be a non-negative bigint');
  }
  const headLength = size < BigInt(HEAD_BYTES) ? Number(size) : HEAD_BYTES;
  const head = await readExact(reader, 0n, headLength);
  const tailLength = size < BigInt(TAIL_BYTES) ? Number(size) : TAIL_BYTES;
  const tail = await readExact(reader, size - BigInt(tailLength), tailLength);
  const regions = new Map<string, RegionData>();
  for (const g of planRegions(head)) {
    const available = g.offset >= size ? 0 : Number(minBig(BigInt(g.granted), size - g.offset));
    const end = g.offset + BigInt(available);
    // Regions inside the head are already in memory.
    const data =
      available === 0
        ? Buffer.alloc(0)
        : end <= BigInt(head.length)
          ? Buffer.from(head.subarray(Number(g.offset), Number(end)))
          : await readExact(reader, g.offset, available);
    regions.set(g.key, { offset: g.offset, wanted: g.length, granted: g.granted, data });
  }
  return judge(new FileView(size, head, tail, regions), options);
}

/** "Is this acceptable as disk_format `declaredFormat`?" on a stored file. */
export function inspectDeclared(
  declaredFormat: string,
  reader: RandomAccessReader,
  options: Omit<InspectOptions, 'declaredFormat'>,
): Promise<InspectionResult> {
  return inspectReader(reader, { ...options, declaredFormat });
}

export function checkOptions(options: InspectOptions): void {
  if (typeof options?.maxVirtualSize !== 'bigint' || options.maxVirtualSize < 0n) {
    throw new FormatInspectionError('misuse', 'maxVirtualSize must be a non-negative bigint');
  }
  if (options.declaredFormat !== undefined && typeof options.declaredFormat !== 'string') {
    throw new FormatInspectionError('misuse', 'declaredFormat must be a string');
  }
}

const minBig = (a: bigint, b: bigint) => (a < b ? a : b);

async function readExact(reader: RandomAccessReader, offset: bigint, length: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  let data: unknown;
  try {
    data = await reader.read(offset, length);
  } catch (err) {
    throw new FormatInspectionError('read-failed', `reading ${length} bytes at ${offset} failed`, {
      cause: err,
    });
  }
  if (!Buffer.isBuffer(data) || data.length < length) {
    throw new FormatInspectionError('short-read', `reader returned fewer than ${length} bytes at ${offset}`);
  }
  return data.length === length ? data : data.subarray(0, length);
}
