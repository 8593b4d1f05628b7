/** How long a job waits before it is tried again. */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 5_000, maxMs: 10 * 60_000 };

/**
 * Delay after the `attempt`-th run failed: doubling from baseMs up to maxMs,
 * then "equal jitter" (half fixed, half random) so that jobs that failed
 * together, say when a peer was down, do not all come back at once.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
