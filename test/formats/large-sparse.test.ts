import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { inspectReader, openFileReader } from '../../src/formats/index.ts';
import { makeTempDir, qemuImg, qemuIo } from './qemu.ts';

// Inspecting a 10 GiB sparse qcow2 (tiny on disk) with the random-access
// inspector. The time is printed, not asserted: this is a benchmark figure
// (target in the issue: under 50 ms), and a timed assertion would be flaky
// on a busy CI machine.
const dir = await makeTempDir('formats-large');
afterAll(() => rm(dir, { recursive: true, force: true }));

it('inspects a 10 GiB sparse qcow2 and prints the time', async () => {
  const file = join(dir, 'sparse-10g.qcow2');
  await qemuImg(['create', '-q', '-f', 'qcow2', file, '10G']);
  // A little data at both ends so the L1 table has live entries.
  await qemuIo(file, 'qcow2', 'write -P 0x5a 0 1M');
  await qemuIo(file, 'qcow2', 'write -P 0xa5 10239M 1M');
  const reader = await openFileReader(file);
  try {
    await inspectReader(reader, { maxVirtualSize: 16n << 30n }); // warm-up (module load, JIT)
    const times: number[] = [];
    let result;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      result = await inspectReader(reader, { maxVirtualSize: 16n << 30n, declaredFormat: 'qcow2' });
      times.push(performance.now() - started);
    }
    expect(result?.ok).toBe(true);
    expect(result?.virtualSize).toBe(10n << 30n);
    times.sort((a, b) => a - b);
    console.log(
      `[formats] 10 GiB sparse qcow2 (${reader.size} bytes on disk): random-access inspection ` +
        `median ${times[2]?.toFixed(2)} ms, min ${times[0]?.toFixed(2)} ms, max ${times[4]?.toFixed(2)} ms`,
    );
  } finally {
    await reader.close();
  }
});
