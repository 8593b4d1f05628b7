import { createReadStream } from 'node:fs';
import {
  inspectReader,
  inspectStream,
  openFileReader,
  type InspectOptions,
  type InspectionResult,
} from '../../src/formats/index.ts';

/** The limit the corpus is inspected with (the 10 GiB sparse image passes it). */
export const CORPUS_LIMIT = 16n * 1024n * 1024n * 1024n;

/** JSON with bigints as strings, for comparing whole verdicts. */
export function serialize(r: InspectionResult): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/** Inspects a file both ways: random access over the stored file, and as a stream of 64 KiB chunks. */
export async function inspectBothWays(
  file: string,
  options: InspectOptions,
): Promise<{ random: InspectionResult; streamed: InspectionResult }> {
  const reader = await openFileReader(file);
  try {
    const random = await inspectReader(reader, options);
    const streamed = await inspectStream(createReadStream(file, { highWaterMark: 64 * 1024 }), options);
    return { random, streamed };
  } finally {
    await reader.close();
  }
}

export function describeViolations(r: InspectionResult): string {
  return r.violations.map((v) => `${v.reason}: ${v.detail}`).join('\n') || '(none)';
}
