import type { Readable } from 'node:stream';
import { renderDetails, renderTable, type Column, type OutputFormat } from './output.ts';
import { Progress, type ProgressMode, type ProgressOptions } from './progress.ts';
import { openSession, type Session } from './session.ts';

export interface IO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: Readable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export interface Globals {
  profile?: string | undefined;
  endpoint?: string | undefined;
  output: OutputFormat;
  progress: ProgressMode;
}

/** What a command gets: the global options, the streams, a lazily opened session, printers. */
export class CommandContext {
  private session?: Promise<Session>;

  constructor(
    readonly globals: Globals,
    readonly io: IO,
  ) {}

  get json(): boolean {
    return this.globals.output === 'json';
  }

  /** The profile's client (opened once; password profiles renew their token here). */
  open(): Promise<Session> {
    this.session ??= openSession(
      { profile: this.globals.profile, endpoint: this.globals.endpoint },
      this.io.env,
    );
    return this.session;
  }

  /** JSON: the value as is. Table: the rows under these columns. */
  printList<T>(rows: readonly T[], columns: readonly Column<T>[]): void {
    this.io.stdout.write(this.json ? `${JSON.stringify(rows, null, 2)}\n` : renderTable(rows, columns));
  }

  /** JSON: the object as is. Table: one FIELD/VALUE line per property. */
  printRecord(record: Record<string, unknown>, first: readonly string[] = []): void {
    this.io.stdout.write(this.json ? `${JSON.stringify(record, null, 2)}\n` : renderDetails(record, first));
  }

  /** A confirmation for people (table mode, on stdout); JSON mode prints `value` instead when given. */
  done(message: string, value?: unknown): void {
    if (this.json) {
      if (value !== undefined) this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    } else this.io.stdout.write(`${message}\n`);
  }

  /** A note on stderr (never mixed into JSON on stdout). */
  note(message: string): void {
    this.io.stderr.write(`${message}\n`);
  }

  progress(options: Omit<ProgressOptions, 'stream' | 'mode' | 'intervalMs'>): Progress {
    const seconds = Number(this.io.env.IMS_PROGRESS_INTERVAL);
    return new Progress({
      ...options,
      stream: this.io.stderr,
      mode: this.globals.progress,
      ...(seconds > 0 ? { intervalMs: seconds * 1000 } : {}),
    });
  }
}
