import os from 'node:os';
import type { Config } from '../config/config.ts';
import type { JobLogger } from '../services/jobs/worker.ts';

// Pino's numeric levels and line shape, so `ims worker` logs read like `ims serve` logs.
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

const serialise = (value: unknown): unknown =>
  value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value;

/** One JSON object per line, for a process that has no Fastify logger. */
export function jsonLogger(
  level: Config['logLevel'],
  write: (line: string) => void = (line) => process.stdout.write(line),
): JobLogger {
  const base = { pid: process.pid, hostname: os.hostname() };
  const at =
    (n: number) =>
    (fields: object, msg: string): void => {
      if (n < LEVELS[level]) return;
      const entries = Object.entries(fields).map(([k, v]) => [k, serialise(v)]);
      write(
        `${JSON.stringify({ level: n, time: Date.now(), ...base, ...Object.fromEntries(entries), msg })}\n`,
      );
    };
  return { info: at(LEVELS.info), warn: at(LEVELS.warn), error: at(LEVELS.error) };
}
