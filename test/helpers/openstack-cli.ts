/**
 * Running Debian's OpenStack clients (`openstack`, `glance`) as child processes.
 * They are Debian's Python tools and must run with /usr/bin/python3, so they
 * are called by full path with /usr/bin first in PATH, in an environment built
 * from scratch (nothing inherited but PATH) with a temporary HOME.
 */
import { execFile } from 'node:child_process';

export const OPENSTACK = '/usr/bin/openstack';
export const GLANCE = '/usr/bin/glance';
/** One CLI call takes 1-3 s; this only stops a hung client. */
const CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /**
   * Run with standard input closed. Both clients read image data from stdin when
   * it is not a terminal (an empty pipe uploads 0 bytes); glanceclient creates a
   * record without data only when stdin is closed. OSC cannot run with it closed
   * (sys.stdin is None), so by default the child gets an empty pipe.
   */
  closeStdin?: boolean;
}

export function run(
  file: string,
  args: string[],
  env: Record<string, string>,
  options: RunOptions = {},
): Promise<CliResult> {
  const [cmd, argv] = options.closeStdin
    ? ['/bin/sh', ['-c', 'exec "$@" <&-', 'sh', file, ...args]]
    : [file, args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      argv,
      { env, timeout: CLI_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        // A number is the client's exit status; anything else (ENOENT, killed by the timeout) is not an answer.
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')} did not finish: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    child.stdin?.end();
  });
}

/** The output of a call that must succeed; a failure shows what the client said. */
export function ok(r: CliResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return r.stdout;
}

/** The environment both clients get: /usr/bin first, nothing inherited but PATH. */
export function baseEnv(home: string): Record<string, string> {
  return { PATH: `/usr/bin:/bin:${process.env.PATH ?? ''}`, HOME: home, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}

/** Keystone v3 password authentication through the server's own /v3/auth/tokens. */
export function keystoneEnv(
  url: string,
  home: string,
  user: string,
  password: string,
  project: string,
): Record<string, string> {
  return {
    ...baseEnv(home),
    OS_AUTH_URL: `${url}/v3`,
    OS_IDENTITY_API_VERSION: '3',
    OS_USERNAME: user,
    OS_PASSWORD: password,
    OS_PROJECT_NAME: project,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: 'RegionOne',
    OS_INTERFACE: 'public',
  };
}

/** The JSON output (`-f json`) of a call that must succeed. */
export const json = <T>(r: CliResult, what: string): T => JSON.parse(ok(r, what)) as T;

/**
 * glanceclient's `Property | Value` table as a map. Long values wrap onto rows
 * with an empty first column; they continue the previous value.
 */
export function glanceTable(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last: string | null = null;
  for (const cells of tableCells(stdout)) {
    if (cells.length < 2) continue;
    const [key, value] = cells as [string, string];
    if (key === 'Property' && value === 'Value') continue;
    if (key === '' && last !== null) out[last] += value;
    else {
      out[key] = value;
      last = key;
    }
  }
  return out;
}

/** The rows of a glanceclient list table, as arrays of cells (header row left out). */
export function glanceRows(stdout: string): string[][] {
  return tableCells(stdout).slice(1);
}

function tableCells(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}
