import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FormatInspectionError,
  MAX_BUFFERED_BYTES,
  StreamingInspector,
  inspectReader,
  type InspectionResult,
  type RandomAccessReader,
} from '../../src/formats/index.ts';
import { serialize } from './common.ts';
import {
  BOCHS,
  CLOOP,
  COWD,
  DMG,
  MiB,
  makeIso,
  pseudoRandom,
  vmdkStreamWithFooter,
  writeGpt,
  writeMbr,
} from './craft.ts';
import { inBatches, makeTempDir, qemuImg } from './qemu.ts';

/**
 * Fuzzing both inspectors with random and mutated headers of every format.
 * Each input must give a verdict (never an exception: with an in-memory reader
 * not even a FormatInspectionError is expected, and anything else fails the
 * test), the same verdict from both inspectors, within a bounded time and
 * never holding or reading more than MAX_BUFFERED_BYTES.
 *
 * CI runs a bounded number of inputs per property. For a long run:
 *   IMS_FUZZ_RUNS=100000 npx vitest run test/formats/fuzz.test.ts
 * (optionally IMS_FUZZ_SEED=<n> to replay a failure fast-check reported).
 */
const RUNS = Number(process.env.IMS_FUZZ_RUNS ?? 1000);
const SEED = process.env.IMS_FUZZ_SEED === undefined ? undefined : Number(process.env.IMS_FUZZ_SEED);
const PER_INPUT_MS = 5000;
// Long runs need more than the default test timeout.
const TIMEOUT = Math.max(60_000, RUNS * 50);

const dir = await makeTempDir('formats-fuzz');
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Seeds: one small image of every format and sub-format, made by qemu-img or by hand. */
async function buildSeeds(): Promise<Record<string, Buffer>> {
  const raw = join(dir, 'seed.raw');
  const data = Buffer.alloc(MiB);
  pseudoRandom(200_000, 61).copy(data, 4096);
  await writeFile(raw, data);
  const conversions: [string, string, string[]][] = [
    ['qcow2-v2', 'qcow2', ['-o', 'compat=0.10']],
    ['qcow2-v3', 'qcow2', []],
    ['qcow2-extl2', 'qcow2', ['-o', 'extended_l2=on']],
    ['qcow2-zstd', 'qcow2', ['-c', '-o', 'compression_type=zstd']],
    ['qcow', 'qcow', []],
    ['vmdk', 'vmdk', []],
    ['vmdk-stream', 'vmdk', ['-o', 'subformat=streamOptimized']],
    ['vhd', 'vpc', []],
    ['vhd-fixed', 'vpc', ['-o', 'subformat=fixed']],
    ['vhdx', 'vhdx', []],
    ['vdi', 'vdi', []],
    ['qed', 'qed', []],
    ['parallels', 'parallels', []],
  ];
  const seeds: Record<string, Buffer> = {};
  await inBatches(
    conversions.map(([name, driver, options]) => async () => {
      const file = join(dir, name);
      await qemuImg(['convert', '-f', 'raw', '-O', driver, ...options, raw, file]);
      seeds[name] = await readFile(file);
    }),
  );
  await qemuImg([
    'snapshot',
    '--image-opts',
    '-c',
    's1',
    `driver=qcow2,file.filename=${join(dir, 'qcow2-v3')}`,
  ]);
  seeds['qcow2-snapshot'] = await readFile(join(dir, 'qcow2-v3'));
  seeds['vmdk-stream-footer'] = vmdkStreamWithFooter(seeds['vmdk-stream'] as Buffer);
  seeds['vmdk-descriptor'] = Buffer.from(
    '# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "x-flat.vmdk" 0\n',
  );
  seeds.iso = makeIso(32);
  seeds['iso-hybrid'] = makeIso(32, writeMbr(Buffer.alloc(512), 0x17, 0, 64));
  seeds.mbr = writeMbr(pseudoRandom(64 * 1024, 62));
  seeds.gpt = writeGpt(pseudoRandom(64 * 1024, 63));
  seeds.luks = Buffer.concat([Buffer.from('4c554b53babe0001', 'hex'), pseudoRandom(4096, 64)]);
  seeds.bochs = BOCHS;
  seeds.cloop = CLOOP;
  seeds.dmg = DMG;
  seeds.cowd = COWD;
  return seeds;
}

const seeds = await buildSeeds();
const seedNames = Object.keys(seeds).sort();

const MAGICS: Buffer[] = [
  Buffer.from('514649fb00000003', 'hex'),
  Buffer.from('514649fb00000002', 'hex'),
  Buffer.from('514649fb00000001', 'hex'),
  Buffer.from('QED\0', 'latin1'),
  Buffer.from('KDMV', 'latin1'),
  Buffer.from('COWD', 'latin1'),
  Buffer.from('conectix', 'latin1'),
  Buffer.from('vhdxfile', 'latin1'),
  Buffer.from('7f10dabe', 'hex'),
  Buffer.from('4c554b53babe', 'hex'),
  Buffer.from('CD001', 'latin1'),
  Buffer.from('BEA01', 'latin1'),
  Buffer.from('koly', 'latin1'),
  Buffer.from('regi', 'latin1'),
  Buffer.from('head', 'latin1'),
  Buffer.from('metadata', 'latin1'),
  Buffer.from('cxsparse', 'latin1'),
  Buffer.from('EFI PART', 'latin1'),
  Buffer.from('55aa', 'hex'),
  Buffer.from('# Disk DescriptorFile\nversion=1\n', 'latin1'),
  Buffer.from('parentFileNameHint', 'latin1'),
];

/** Field values that hit edge cases: zero, one, sign bits, all ones, near overflow. */
const INTERESTING = [
  0n,
  1n,
  2n,
  7n,
  8n,
  9n,
  0x1ffn,
  512n,
  4096n,
  65536n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  1n << 53n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
];

/** Offsets where headers keep their fields, per layout; mutations favour them. */
const HOT_RANGES: [number, number][] = [
  [0, 1024],
  [0x40, 0x1d0],
  [512, 10752],
  [32768, 36864],
  [64 * 1024, 64 * 1024 + 128],
  [128 * 1024, 128 * 1024 + 128],
  [192 * 1024, 192 * 1024 + 256],
];

type Edit =
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'field'; at: number; width: 2 | 4 | 8; le: boolean; value: bigint }
  | { kind: 'magic'; at: number; magic: number }
  | { kind: 'fromEnd'; back: number; value: number };

const offset = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(...HOT_RANGES).chain(([a, b]) => fc.integer({ min: a, max: b - 1 })),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 16 * MiB }) },
);

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('byte' as const), at: offset, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({
    kind: fc.constant('field' as const),
    at: offset,
    width: fc.constantFrom(2 as const, 4 as const, 8 as const),
    le: fc.boolean(),
    value: fc.oneof(fc.constantFrom(...INTERESTING), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  }),
  fc.record({
    kind: fc.constant('magic' as const),
    at: fc.oneof(fc.constantFrom(0, 0x40, 512, 32769, 65536, 131072, 196608), offset),
    magic: fc.integer({ min: 0, max: MAGICS.length - 1 }),
  }),
  fc.record({
    kind: fc.constant('fromEnd' as const),
    back: fc.integer({ min: 1, max: 2048 }),
    value: fc.integer({ min: 0, max: 255 }),
  }),
);

function apply(base: Buffer, edits: Edit[], cut: number | null): Buffer {
  const d = Buffer.from(base);
  for (const e of edits) {
    if (e.kind === 'byte' && e.at < d.length) d[e.at] = e.value;
    if (e.kind === 'fromEnd' && e.back <= d.length) d[d.length - e.back] = e.value;
    if (e.kind === 'magic') (MAGICS[e.magic] as Buffer).copy(d, e.at);
    if (e.kind === 'field' && e.at + e.width <= d.length) {
      const v = e.value & ((1n << BigInt(e.width * 8)) - 1n);
      if (e.width === 8 && e.le) d.writeBigUInt64LE(v, e.at);
      else if (e.width === 8) d.writeBigUInt64BE(v, e.at);
      else if (e.width === 4 && e.le) d.writeUInt32LE(Number(v), e.at);
      else if (e.width === 4) d.writeUInt32BE(Number(v), e.at);
      else if (e.le) d.writeUInt16LE(Number(v), e.at);
      else d.writeUInt16BE(Number(v), e.at);
    }
  }
  return cut === null ? d : d.subarray(0, Math.min(cut, d.length));
}

let unexpectedInspectionErrors = 0;

/** A reader that counts what is asked of it. */
function countingReader(buf: Buffer): RandomAccessReader & { bytesRead: number } {
  const r = {
    size: BigInt(buf.length),
    bytesRead: 0,
    read: async (o: bigint, n: number) => {
      r.bytesRead += n;
      return buf.subarray(Number(o), Number(o) + n);
    },
  };
  return r;
}

/**
 * Inspects `data` both ways. Anything thrown that is not a
 * FormatInspectionError fails the test (vitest reports it); a
 * FormatInspectionError is counted, and the count must stay zero.
 */
async function check(data: Buffer, chunk: number, declaredFormat?: string): Promise<void> {
  const options = { maxVirtualSize: 1n << 40n, ...(declaredFormat ? { declaredFormat } : {}) };
  const started = performance.now();
  let random: InspectionResult;
  let streamed: InspectionResult;
  const reader = countingReader(data);
  const streaming = new StreamingInspector(options);
  let peak = 0;
  try {
    random = await inspectReader(reader, options);
    // Random chunk boundaries, but at most ~4000 chunks per file (one-byte chunks have their own test).
    const step = Math.max(chunk, Math.ceil(data.length / 4000));
    for (let o = 0; o < data.length; o += step) {
      streaming.update(data.subarray(o, o + step));
      peak = Math.max(peak, streaming.bufferedBytes);
    }
    streamed = streaming.finish();
  } catch (err) {
    if (!(err instanceof FormatInspectionError)) throw err;
    unexpectedInspectionErrors++;
    return;
  }
  expect(performance.now() - started).toBeLessThan(PER_INPUT_MS);
  expect(reader.bytesRead).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
  expect(peak).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
  expect(serialize(streamed)).toBe(serialize(random));
  expect(random.ok).toBe(random.violations.length === 0);
  // Only the opaque pass-through formats are acceptable without a qemu driver.
  if (random.ok) expect(random.qemuFormat !== null || random.variant === 'opaque').toBe(true);
}

const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };

describe('fuzzing the inspectors', () => {
  it(
    'survives mutated headers of every format',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...seedNames),
          fc.array(edit, { minLength: 1, maxLength: 8 }),
          fc.option(fc.integer({ min: 0, max: 16 * MiB }), { freq: 4 }),
          fc.integer({ min: 1, max: 200_000 }),
          async (name, edits, cut, chunk) => {
            await check(apply(seeds[name] as Buffer, edits, cut), chunk);
          },
        ),
        params,
      );
      expect(unexpectedInspectionErrors).toBe(0);
    },
    TIMEOUT,
  );

  it(
    'survives random bytes behind every magic, declared as anything',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: MAGICS.length - 1 }),
          fc.constantFrom(0, 0x40, 32769),
          fc.uint8Array({ maxLength: 40_000 }),
          fc.integer({ min: 1, max: 8192 }),
          fc.constantFrom(
            'raw',
            'qcow2',
            'vmdk',
            'vhd',
            'vhdx',
            'vdi',
            'qed',
            'iso',
            'zvhd',
            'ploop',
            'nonsense',
          ),
          async (magic, at, body, chunk, declared) => {
            const data = Buffer.alloc(Math.max(body.length, at + 40));
            Buffer.from(body).copy(data);
            (MAGICS[magic] as Buffer).copy(data, at);
            await check(data, chunk, declared);
          },
        ),
        params,
      );
      expect(unexpectedInspectionErrors).toBe(0);
    },
    TIMEOUT,
  );

  it('keeps verdicts identical for one-byte chunks', async () => {
    for (const name of ['qcow2-v3', 'vmdk', 'vhd', 'iso-hybrid', 'luks']) {
      await check((seeds[name] as Buffer).subarray(0, 600_000), 1);
    }
  });
});
