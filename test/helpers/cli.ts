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
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, ...args], {
          env: { ...env, ...options.env },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (c: Buffer) => out.push(c));
        child.stderr.on('data', (c: Buffer) => err.push(c));
        child.on('error', reject);
        child.on('close', (code) => {
          const raw = Buffer.concat(out);
          resolve({ code, raw, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
        });
        child.stdin.on('error', () => {});
        child.stdin.end(options.input ?? '');
      });
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
