import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * qemu-img for building the test corpus (scripts/system-deps.sh installs
 * qemu-utils). Only the tests run it; the inspector never does.
 */
const run = promisify(execFile);

/**
 * Runs qemu-img. Creating a LUKS container or a LUKS-encrypted qcow2
 * benchmarks the PBKDF and now and then fails with "Unable to get accurate CPU
 * usage" (format-safety reference, section 6): retried.
 */
export async function qemuImg(args: string[], cwd?: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { stdout } = await run('qemu-img', args, { cwd, maxBuffer: 16 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? '');
      if (attempt < 5 && stderr.includes('Unable to get accurate CPU usage')) continue;
      throw new Error(`qemu-img ${args.join(' ')} failed: ${stderr}`, { cause: err });
    }
  }
}

export async function qemuIo(file: string, format: string, command: string): Promise<void> {
  await run('qemu-io', ['-f', format, '-c', command, file]);
}

/** `qemu-img info -f <fmt> --output=json`: the virtual size qemu reports. */
export async function qemuVirtualSize(file: string, format: string): Promise<bigint> {
  const info = JSON.parse(await qemuImg(['info', '-f', format, '--output=json', file])) as {
    'virtual-size': number;
  };
  return BigInt(info['virtual-size']);
}

/** Converts to raw with both formats explicit and returns the guest bytes. */
export async function convertToRaw(file: string, format: string, dir: string): Promise<Buffer> {
  const out = join(dir, `converted-${Math.random().toString(36).slice(2)}.raw`);
  await qemuImg(['convert', '-f', format, '-O', 'raw', file, out]);
  try {
    return await readFile(out);
  } finally {
    await rm(out, { force: true });
  }
}

/** A named pipe: anything that opened it for reading would block, which makes a test hang. */
export async function mkfifo(path: string): Promise<void> {
  await run('mkfifo', [path]);
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `ims-${prefix}-`));
}

/** Runs async jobs with at most `limit` in flight (the machine has two cores). */
export async function inBatches<T>(jobs: (() => Promise<T>)[], limit = 4): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await (jobs[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}
