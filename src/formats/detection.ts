import { OutOfBounds } from './errors.ts';
import type {
  AcceptedFormat,
  Detection,
  DetectionRole,
  RefusedFormat,
  Violation,
  ViolationReason,
} from './types.ts';

/** What a detector learns while it parses; turned into a Detection at the end. */
export class Findings {
  readonly violations: Violation[] = [];
  variant = '';
  virtualSize: bigint | null = null;
  readonly claimedSizes: bigint[] = [];

  add(reason: ViolationReason, detail: string): void {
    this.violations.push({ reason, detail });
  }

  /** Records a size the header claims; every claimed size is checked against the limit. */
  claim(size: bigint): void {
    this.claimedSizes.push(size);
  }
}

/**
 * Runs a detector body once its signature matched. A parser that reads past the
 * bytes it holds stops with OutOfBounds: the header is incomplete, which makes
 * the file corrupt (never raw: the magic was there). Violations found before
 * that point are kept.
 */
export function runDetector(
  format: AcceptedFormat | RefusedFormat,
  role: DetectionRole,
  body: (f: Findings) => void,
): Detection {
  const f = new Findings();
  try {
    body(f);
  } catch (err) {
    if (!(err instanceof OutOfBounds)) throw err;
    f.add('corrupt', `${format} header or metadata is truncated (${err.message})`);
    if (!f.variant) f.variant = 'truncated';
  }
  return {
    format,
    variant: f.variant || 'unknown',
    role,
    virtualSize: f.virtualSize,
    claimedSizes: f.claimedSizes,
    violations: f.violations,
  };
}
