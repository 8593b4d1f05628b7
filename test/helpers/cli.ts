import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const BIN = path.resolve(import.meta.dirname, '../../bin/ims.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout as bytes (image data). */
  raw: Buffer;
}

export interface CliRunner {
  home: string;
  configFile: string;
  /** Runs `node bin/ims.js ARGS` (the installed `ims`) with stdin, on pipes (not a TTY). */
  run(
    args: string[],
    options?: { input?: string | Buffer; env?: Record<string, string> },
  ): Promise<CliResult>;
  /** Starts a command; `stderrMatches` resolves once its stderr so far matches (to step along with it). */
  start(
    args: string[],
    options?: { input?: string | Buffer; env?: Record<string, string> },
  ): {
    stderrMatches(re: RegExp): Promise<void>;
    kill(signal: NodeJS.Signals): void;
    done: Promise<CliResult>;
  };
  /** Runs and parses stdout as JSON; fails with the output when the exit code is not 0. */
  json<T = unknown>(
    args: string[],
    options?: { input?: string | Buffer; env?: Record<string, string> },
  ): Promise<T>;
  cleanup(): Promise<void>;
}

/**
 * The CLI in its own HOME and config file, with none of the caller's IMS_* variables, so that
 * a developer's profiles and environment never leak into a test.
 */
export async function cliRunner(baseEnv: Record<string, string> = {}): Promise<CliRunner> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-cli-'));
  const configFile = path.join(home, 'config', 'ims.json');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    IMS_CONFIG: configFile,
    ...baseEnv,
  };
  const runner: CliRunner = {
    home,
    configFile,
    run(args, options = {}) {
      return runner.start(args, options).done;
    },
    start(args, options = {}) {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: { ...env, ...options.env },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      let stderr = '';
      const watchers: { re: RegExp; resolve: () => void }[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString('utf8');
        for (const w of watchers.filter((w) => w.re.test(stderr))) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve();
        }
      });
      const done = new Promise<CliResult>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code) => {
          const raw = Buffer.concat(out);
          resolve({ code, raw, stdout: raw.toString('utf8'), stderr });
        });
      });
      child.stdin.on('error', () => {});
      child.stdin.end(options.input ?? '');
      return {
        done,
        kill: (signal) => child.kill(signal),
        stderrMatches: (re) =>
          re.test(stderr)
            ? Promise.resolve()
            : Promise.race([
                new Promise<void>((resolve) => watchers.push({ re, resolve })),
                done.then((r) => {
                  throw new Error(`exited ${r.code} before stderr matched ${re}: ${r.stderr}`);
                }),
              ]),
      };
    },
    async json(args, options) {
      const r = await runner.run([...args, '--output', 'json'], options);
      if (r.code !== 0) throw new Error(`ims ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    cleanup: () => fs.rm(home, { recursive: true, force: true }),
  };
  return runner;
}

/** Whether text holds what a terminal interprets: a carriage return or an escape sequence. */
export const hasTerminalControl = (text: string): boolean => text.includes('\r') || text.includes('\u001b');

/**
 * Runs an operator command (`ims audit …`, `ims metadefs …`) against a test server's database
 * and data dir, as an operator on that machine would; `env` adds settings (an S3 store, …).
 */
export function runOnServer(
  server: { dataDir: string; config: { databaseUrl: string } },
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: {
        ...(process.env as Record<string, string>),
        ...env,
        IMS_DATA_DIR: server.dataDir,
        IMS_DATABASE_URL: server.config.databaseUrl,
        IMS_LOG_LEVEL: 'silent',
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}
