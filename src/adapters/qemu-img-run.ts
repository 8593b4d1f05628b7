/**
 * Runs one qemu-img process the way the format-safety reference asks (§4):
 * under `prlimit` (address space, CPU time, no core file), with a minimal
 * environment (`MALLOC_ARENA_MAX=2`, see below), in its own process group so
 * that a wall-clock timeout or an abort kills qemu-img with everything it
 * started, with bounded stdout and only the tail of stderr kept.
 *
 * It never throws: the caller classifies the result (qemu-img.ts).
 */
import { spawn } from 'node:child_process';

export interface RunLimits {
  /** RLIMIT_AS in bytes. */
  readonly addressSpaceBytes: bigint;
  /** RLIMIT_CPU in seconds (all threads together); the kernel sends SIGXCPU, then SIGKILL. */
  readonly cpuSeconds: number;
  /** Wall clock, from spawn to exit. */
  readonly timeoutMs: number;
}

export interface RunSpec {
  readonly qemuImg: string;
  readonly prlimit: string;
  readonly args: readonly string[];
  /** The private work dir: anything qemu-img resolves relative to its cwd stays there. */
  readonly cwd: string;
  readonly limits: RunLimits;
  readonly signal?: AbortSignal | undefined;
  /** Larger stdout kills the process (a hostile image must not make `info` output unbounded). */
  readonly maxStdoutBytes: number;
  /** Called with each stdout chunk as it arrives (progress); the text is then not kept. */
  readonly onStdout?: ((text: string) => void) | undefined;
}

export type RunEnd = 'exit' | 'timeout' | 'aborted' | 'stdout-overflow' | 'spawn-error';

export interface RunResult {
  readonly ended: RunEnd;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  /** The last STDERR_TAIL bytes of stderr. */
  readonly stderrTail: string;
  readonly spawnError?: Error;
}

export const STDERR_TAIL = 8 * 1024;

export function runQemuImg(spec: RunSpec): Promise<RunResult> {
  return new Promise((resolve) => {
    if (spec.signal?.aborted) {
      resolve({ ended: 'aborted', code: null, signal: null, stdout: '', stderrTail: '' });
      return;
    }
    const argv = [
      `--as=${spec.limits.addressSpaceBytes}`,
      `--cpu=${spec.limits.cpuSeconds}`,
      // A process killed by RLIMIT_CPU would otherwise dump up to 2 GiB of core into the work dir.
      '--core=0',
      '--',
      spec.qemuImg,
      ...spec.args,
    ];
    const child = spawn(spec.prlimit, argv, {
      cwd: spec.cwd,
      // Nothing of the service's environment (secrets, proxies, QEMU_* knobs) reaches qemu-img.
      // MALLOC_ARENA_MAX=2: glibc reserves a 64 MiB arena per thread, and under an address-space
      // cap that makes qemu_thread_create fail with EAGAIN (reference §4). LC_ALL=C keeps the
      // messages we match in English.
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', MALLOC_ARENA_MAX: '2' },
      // setsid(): the child leads a new process group, so one kill(-pgid) reaches all of it.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });

    let ended: RunEnd = 'exit';
    let settled = false;
    const out: Buffer[] = [];
    let outBytes = 0;
    let errTail = Buffer.alloc(0);

    const killGroup = (why: RunEnd) => {
      if (ended === 'exit') ended = why;
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => killGroup('timeout'), spec.limits.timeoutMs);
    const onAbort = () => killGroup('aborted');
    spec.signal?.addEventListener('abort', onAbort, { once: true });

    const finish = (r: Omit<RunResult, 'stdout' | 'stderrTail'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      resolve({ ...r, stdout: Buffer.concat(out).toString('utf8'), stderrTail: errTail.toString('utf8') });
    };

    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > spec.maxStdoutBytes) {
        killGroup('stdout-overflow');
        return;
      }
      if (spec.onStdout) spec.onStdout(chunk.toString('latin1'));
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      const joined = Buffer.concat([errTail, chunk]);
      errTail = joined.length > STDERR_TAIL ? joined.subarray(joined.length - STDERR_TAIL) : joined;
    });
    child.on('error', (err) => {
      // Spawn failures (prlimit missing) come here; a started child always ends in 'close'.
      if (child.pid === undefined)
        finish({ ended: 'spawn-error', code: null, signal: null, spawnError: err });
    });
    child.on('close', (code, signal) => finish({ ended, code, signal }));
  });
}
