import type { Clock } from './clock.ts';

/**
 * Counts authentication failures per source (an address) and says when a
 * source must wait. The in-process implementation below counts what this
 * process saw; a deployment of several nodes can put a shared one behind the
 * same two methods.
 */
export interface FailureLimiter {
  /** Seconds the source must wait before trying again; 0 when it may try now. */
  retryAfter(source: string): number;
  /** Counts one failure of the source. */
  recordFailure(source: string): void;
}

interface Window {
  startedAt: number;
  failures: number;
}

/** A fixed window per source: after `failures` failures, the source waits for the window's end. */
export class InProcessFailureLimiter implements FailureLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limit: { failures: number; windowSeconds: number },
    private readonly clock: Clock,
    /** Sources remembered at most; the oldest are forgotten first (a flood cannot grow memory). */
    private readonly maxSources = 100_000,
  ) {}

  retryAfter(source: string): number {
    const w = this.current(source);
    if (!w || w.failures < this.limit.failures) return 0;
    const endsAt = w.startedAt + this.limit.windowSeconds * 1000;
    return Math.max(1, Math.ceil((endsAt - this.clock.now().getTime()) / 1000));
  }

  recordFailure(source: string): void {
    const w = this.current(source);
    if (w) {
      w.failures++;
      return;
    }
    if (this.windows.size >= this.maxSources) {
      const oldest = this.windows.keys().next();
      if (!oldest.done) this.windows.delete(oldest.value);
    }
    this.windows.set(source, { startedAt: this.clock.now().getTime(), failures: 1 });
  }

  private current(source: string): Window | undefined {
    const w = this.windows.get(source);
    if (w && this.clock.now().getTime() - w.startedAt >= this.limit.windowSeconds * 1000) {
      this.windows.delete(source);
      return undefined;
    }
    return w;
  }
}
