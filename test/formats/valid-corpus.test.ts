import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ACCEPTED_FORMATS } from '../../src/formats/index.ts';
import { CORPUS_LIMIT, describeViolations, inspectBothWays, serialize } from './common.ts';
import { buildValidCorpus } from './corpus-valid.ts';
import { convertToRaw, makeTempDir, qemuVirtualSize } from './qemu.ts';

// Every valid format and sub-format, made by qemu-img (or by hand where qemu
// cannot: ISO, partition tables, VMware's stream footer) when this file loads.
const dir = await makeTempDir('formats-valid');
afterAll(() => rm(dir, { recursive: true, force: true }));
const corpus = await buildValidCorpus(dir).catch(async (err: unknown) => {
  await rm(dir, { recursive: true, force: true });
  throw err;
});

describe('valid corpus', () => {
  it('covers every accepted format', () => {
    expect(new Set(corpus.map((c) => c.format))).toEqual(new Set(ACCEPTED_FORMATS));
  });

  it.each(corpus)('accepts $name as $declared ($format/$variant), both inspectors agreeing', async (img) => {
    const { random, streamed } = await inspectBothWays(img.file, {
      maxVirtualSize: CORPUS_LIMIT,
      declaredFormat: img.declared,
    });
    expect(serialize(streamed)).toBe(serialize(random));
    expect(random.ok, describeViolations(random)).toBe(true);
    expect(random.format).toBe(img.format);
    expect(random.variant).toBe(img.variant);
    expect(random.qemuFormat).toBe(img.qemuFormat);
    expect(random.virtualSize).toBe(await qemuVirtualSize(img.file, img.qemuFormat));
  });

  it.each(corpus)('$name converts to raw byte for byte (the corpus is real)', async (img) => {
    const raw = await convertToRaw(img.file, img.qemuFormat, dir);
    expect(raw.length).toBeGreaterThanOrEqual(img.guest.length);
    expect(raw.subarray(0, img.guest.length).equals(img.guest)).toBe(true);
    // Formats that size by geometry (VHD) or round to a sector end in zeros.
    expect(raw.subarray(img.guest.length).every((b) => b === 0)).toBe(true);
  });
});
