/**
 * The only error the format inspector throws. Everything wrong with the *bytes*
 * of an image is reported as a violation in the result, never thrown; this
 * error is for the inspector's surroundings: a reader that fails or returns
 * fewer bytes than it promised, or an API used out of order.
 */
export type FormatInspectionErrorCode = 'read-failed' | 'short-read' | 'misuse' | 'bounds';

export class FormatInspectionError extends Error {
  constructor(
    readonly code: FormatInspectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FormatInspectionError';
  }
}

/**
 * Thrown by the bounds-checked byte readers when a parser reaches past the
 * bytes it holds. Each detector turns it into a "truncated" violation for its
 * own format; it only escapes if a detector forgets to, and then it is still a
 * FormatInspectionError.
 */
export class OutOfBounds extends FormatInspectionError {
  constructor(offset: number, length: number, available: number) {
    super('bounds', `read of ${length} bytes at ${offset} is outside the ${available} bytes held`);
    this.name = 'OutOfBounds';
  }
}
