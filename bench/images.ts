/**
 * The disk images the benchmarks convert, import and inspect, made with qemu-img (and qemu-io) in
 * the bench's temp dir, and the one way the benches run a command.
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

const MiB = 1024 * 1024;

/** Runs a command to the end; resolves with its stdout, rejects with its exit code and stderr. */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${code}: ${err}`))));
  });
}

/** A sparse raw image of `size` bytes with `data` bytes of random data in 64 MiB runs spread evenly. */
export async function makeRawSource(file: string, size: number, data: number): Promise<void> {
  const fh = await fs.open(file, 'w');
  try {
    await fh.truncate(size);
    const runLen = 64 * MiB;
    const runs = Math.floor(data / runLen);
    const stride = Math.floor(size / runs / MiB) * MiB;
    const buf = Buffer.alloc(runLen);
    for (let i = 0; i < runs; i++) {
      randomFillSync(buf);
      await fh.write(buf, 0, runLen, i * stride);
    }
  } finally {
    await fh.close();
  }
}

/** The same guest disk twice in `dir`: `src.raw` (makeRawSource) and `src.qcow2` converted from it. */
export async function makeSources(
  dir: string,
  size: number,
  data: number,
): Promise<{ raw: string; qcow2: string }> {
  const sources = { raw: path.join(dir, 'src.raw'), qcow2: path.join(dir, 'src.qcow2') };
  await makeRawSource(sources.raw, size, data);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', sources.raw, sources.qcow2]);
  return sources;
}

/** An empty qcow2 of `sizeGib` GiB, then qemu-io's `writes` (e.g. `write -P 0x5a 0 1M`) into it. */
export async function makeQcow2(file: string, sizeGib: number, writes: string[]): Promise<void> {
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, `${sizeGib}G`]);
  await run('qemu-io', ['-f', 'qcow2', ...writes.flatMap((w) => ['-c', w]), file]);
}
