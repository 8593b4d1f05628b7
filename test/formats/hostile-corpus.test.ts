import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { CORPUS_LIMIT, describeViolations, inspectBothWays, serialize } from './common.ts';
import { buildHostileCorpus } from './corpus-hostile.ts';
import { makeTempDir } from './qemu.ts';

// Every hostile category of the format-safety reference (section 8, 2-10),
// made when this file loads. One case names a FIFO as its backing file: an
// inspector that opened it would block here for ever.
const dir = await makeTempDir('formats-hostile');
afterAll(() => rm(dir, { recursive: true, force: true }));
const corpus = await buildHostileCorpus(dir).catch(async (err: unknown) => {
  await rm(dir, { recursive: true, force: true });
  throw err;
});

describe('hostile corpus', () => {
  it('covers every hostile category of the reference', () => {
    expect([...new Set(corpus.map((c) => c.category))].sort((a, b) => a - b)).toEqual([
      2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  });

  it.each(corpus)('refuses $name (category $category) as $expect, both inspectors agreeing', async (img) => {
    const { random, streamed } = await inspectBothWays(img.file, {
      maxVirtualSize: img.maxVirtualSize ?? CORPUS_LIMIT,
      declaredFormat: img.declared,
    });
    expect(serialize(streamed)).toBe(serialize(random));
    expect(random.ok).toBe(false);
    expect(random.qemuFormat).toBeNull();
    const reasons = new Set(random.violations.map((v) => v.reason));
    for (const reason of img.expect) expect(reasons.has(reason), describeViolations(random)).toBe(true);
  });

  it('never calls a truncated image raw', async () => {
    for (const img of corpus.filter((c) => c.category === 9 && c.name !== 'empty-file')) {
      const { random } = await inspectBothWays(img.file, { maxVirtualSize: CORPUS_LIMIT });
      expect(random.format, img.name).not.toBe('raw');
    }
  });
});
