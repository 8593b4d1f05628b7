import { Transform } from 'node:stream';
import { humanBytes } from './output.ts';

/** auto: a bar on a terminal, plain lines otherwise. */
export type ProgressMode = 'auto' | 'bar' | 'plain' | 'none';
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'bar', 'plain', 'none'];

export interface ProgressOptions {
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  label: string;
  /** Bytes expected (null: unknown), or 100 for a percentage. */
  total: number | null;
  unit?: 'bytes' | 'percent';
  mode?: ProgressMode;
  /** Plain mode: at most one line per interval. */
  intervalMs?: number;
  now?: () => number;
}

const BAR_REDRAW_MS = 100;
const RATE_WINDOW_MS = 5_000;

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/**
 * Progress of a transfer or a job, on stderr. On a terminal: one bar redrawn in place
 * (bytes, rate, ETA). Elsewhere (logs, CI): a plain line at most every interval and a
 * final one, never a carriage return or an escape sequence.
 */
export class Progress {
  private readonly mode: Exclude<ProgressMode, 'auto'>;
  private readonly now: () => number;
  private readonly started: number;
  private readonly samples: { t: number; v: number }[] = [];
  private value = 0;
  private lastDraw = -Infinity;
  private closed = false;

  constructor(private readonly o: ProgressOptions) {
    const mode = o.mode ?? 'auto';
    this.mode = mode === 'auto' ? (o.stream.isTTY ? 'bar' : 'plain') : mode;
    this.now = o.now ?? Date.now;
    this.started = this.now();
    this.samples.push({ t: this.started, v: 0 });
  }

  add(n: number): void {
    this.set(this.value + n);
  }

  set(value: number): void {
    if (this.closed) return;
    this.value = value;
    const t = this.now();
    this.samples.push({ t, v: value });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
    const every = this.mode === 'bar' ? BAR_REDRAW_MS : (this.o.intervalMs ?? 5_000);
    if (t - this.lastDraw >= every) {
      this.lastDraw = t;
      this.draw(false);
    }
  }

  /** The final line: totals and average rate. */
  finish(summary?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.mode === 'none') return;
    if (this.mode === 'bar') this.draw(true);
    const seconds = Math.max((this.now() - this.started) / 1000, 0.001);
    const text =
      summary ??
      (this.o.unit === 'percent'
        ? `${this.o.label}: done in ${seconds.toFixed(1)} s`
        : `${this.o.label}: ${humanBytes(this.value)} in ${seconds.toFixed(1)} s (${humanBytes(this.value / seconds)}/s)`);
    this.write(this.mode === 'bar' ? `\n${text}\n` : `${text}\n`);
  }

  /** Ends the bar line so that an error message starts on its own line. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.mode === 'bar' && this.lastDraw > -Infinity) this.write('\n');
  }

  private rate(): number {
    const first = this.samples[0]!;
    const last = this.samples[this.samples.length - 1]!;
    const dt = (last.t - first.t) / 1000;
    return dt > 0 ? (last.v - first.v) / dt : 0;
  }

  private describe(): { amount: string; percent: number | null; rate: string; eta: string } {
    const { total } = this.o;
    const percent = total ? Math.min(100, (this.value / total) * 100) : null;
    const rate = this.rate();
    const remaining = total === null ? NaN : (total - this.value) / rate;
    if (this.o.unit === 'percent') {
      return { amount: '', percent: this.value, rate: '', eta: rate > 0 ? clock(remaining) : '--:--' };
    }
    return {
      amount: total === null ? humanBytes(this.value) : `${humanBytes(this.value)} / ${humanBytes(total)}`,
      percent,
      rate: `${humanBytes(rate)}/s`,
      eta: rate > 0 ? clock(remaining) : '--:--',
    };
  }

  private draw(final: boolean): void {
    if (this.mode === 'none') return;
    const d = this.describe();
    const pct = d.percent === null ? '' : `${d.percent.toFixed(d.percent < 100 ? 1 : 0)}%`;
    const eta = this.o.total === null || d.percent === 100 || final ? '' : `ETA ${d.eta}`;
    const parts = [pct, d.amount, d.rate, eta].filter(Boolean);
    if (this.mode === 'plain') {
      this.write(`${this.o.label}: ${parts.join(', ')}\n`);
      return;
    }
    const width = Math.max(10, Math.min(30, (this.o.stream.columns ?? 80) - 60));
    const filled = d.percent === null ? 0 : Math.round((d.percent / 100) * width);
    const bar = d.percent === null ? '' : `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] `;
    // \r and "erase to end of line": only ever written to a terminal.
    this.write(`\r${this.o.label} ${bar}${parts.join('  ')}\x1b[K`);
  }

  private write(text: string): void {
    this.o.stream.write(text);
  }
}

/** A pass-through stream that reports the bytes flowing through it. */
export function meter(progress: Progress): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      progress.add(chunk.length);
      done(null, chunk);
    },
  });
}
