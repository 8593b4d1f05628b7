/**
 * At most N conversions at a time. A conversion keeps one or two cores busy
 * (qemu-img's coroutines plus its I/O threads) and up to its 2 GiB address
 * space cap, so a worker that claims many jobs at once must not start them all
 * together. FIFO, so a large backlog is served in claim order.
 */
import os from 'node:os';

/** Half the CPUs, at least one: leaves room for the API, hashing and uploads on the same machine. */
export function defaultConversionConcurrency(): number {
  return Math.max(1, Math.floor(os.availableParallelism() / 2));
}

export class ConversionGate {
  private running = 0;
  private readonly queue: Array<{ grant: () => void }> = [];
  private max: number;

  constructor(limit: number = defaultConversionConcurrency()) {
    this.max = ConversionGate.check(limit);
  }

  private static check(limit: number): number {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError('conversion limit must be an integer ≥ 1');
    return limit;
  }

  get limit(): number {
    return this.max;
  }

  /** Changes N (e.g. from configuration at start-up); waiting callers start at once if the new N allows. */
  set limit(limit: number) {
    this.max = ConversionGate.check(limit);
    this.pump();
  }

  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Waits for a slot and returns its release function (idempotent). Rejects
   * with the signal's reason if `signal` aborts first; the place in the queue
   * is then given up.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.running++;
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.running--;
            this.pump();
          });
        },
      };
      const onAbort = () => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(entry);
      this.pump();
    });
  }

  /** Runs `fn` in a slot. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private pump(): void {
    while (this.running < this.max && this.queue.length > 0) this.queue.shift()?.grant();
  }
}
