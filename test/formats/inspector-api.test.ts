import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FormatInspectionError,
  MAX_BUFFERED_BYTES,
  StreamingInspector,
  bufferReader,
  createInspectionStream,
  inspectDeclared,
  inspectReader,
  inspectStream,
  rangeReader,
  type RandomAccessReader,
} from '../../src/formats/index.ts';
import { serialize } from './common.ts';
import { MiB, makeIso, pseudoRandom, writeMbr } from './craft.ts';
import { makeTempDir, qemuImg } from './qemu.ts';

const LIMIT = 1n << 40n;
const dir = await makeTempDir('formats-api');
afterAll(() => rm(dir, { recursive: true, force: true }));
await qemuImg(['create', '-q', '-f', 'qcow2', join(dir, 'v3.qcow2'), '64M']);
await qemuImg(['create', '-q', '-f', 'qcow', join(dir, 'v1.qcow'), '64M']);
const qcow2 = await readFile(join(dir, 'v3.qcow2'));
const qcow1 = await readFile(join(dir, 'v1.qcow'));

describe('streaming inspection in an upload pipeline', () => {
  it('passes every byte through unchanged and gives the verdict at the end', async () => {
    const data = Buffer.concat([qcow2, pseudoRandom(3 * MiB, 1)]);
    const inspection = createInspectionStream({ maxVirtualSize: LIMIT, declaredFormat: 'qcow2' });
    const received: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        received.push(chunk);
        cb();
      },
    });
    const chunks = Array.from({ length: Math.ceil(data.length / 7777) }, (_, i) =>
      data.subarray(i * 7777, (i + 1) * 7777),
    );
    await pipeline(Readable.from(chunks), inspection, sink);
    expect(Buffer.concat(received).equals(data)).toBe(true);
    const result = inspection.result();
    expect(result.format).toBe('qcow2');
    expect(result.size).toBe(BigInt(data.length));
    expect(result.virtualSize).toBe(64n * 1024n * 1024n);
    expect(serialize(result)).toBe(
      serialize(await inspectReader(bufferReader(data), { maxVirtualSize: LIMIT, declaredFormat: 'qcow2' })),
    );
  });

  it('refuses to give a verdict before the stream has ended', () => {
    const inspection = createInspectionStream({ maxVirtualSize: LIMIT });
    inspection.write(qcow2.subarray(0, 100));
    expect(() => inspection.result()).toThrow(FormatInspectionError);
    inspection.destroy();
  });

  it('refuses more bytes after finish()', () => {
    const inspector = new StreamingInspector({ maxVirtualSize: LIMIT });
    inspector.update(qcow2);
    inspector.finish();
    expect(() => inspector.update(Buffer.from('x'))).toThrow(FormatInspectionError);
  });

  it('turns a failing source into a FormatInspectionError', async () => {
    async function* failing() {
      yield qcow2.subarray(0, 512);
      throw new Error('connection reset');
    }
    await expect(inspectStream(failing(), { maxVirtualSize: LIMIT })).rejects.toMatchObject({
      name: 'FormatInspectionError',
      code: 'read-failed',
    });
  });
});

describe('random-access inspection', () => {
  it('wraps reader failures and short reads in FormatInspectionError', async () => {
    const failing: RandomAccessReader = { size: 4096n, read: () => Promise.reject(new Error('EIO')) };
    await expect(inspectReader(failing, { maxVirtualSize: LIMIT })).rejects.toMatchObject({
      code: 'read-failed',
    });
    const short: RandomAccessReader = { size: 4096n, read: async () => Buffer.alloc(10) };
    await expect(inspectReader(short, { maxVirtualSize: LIMIT })).rejects.toMatchObject({
      code: 'short-read',
    });
  });

  it('rejects bad options with FormatInspectionError', async () => {
    const options = { maxVirtualSize: 5 } as unknown as { maxVirtualSize: bigint };
    await expect(inspectReader(bufferReader(qcow2), options)).rejects.toBeInstanceOf(FormatInspectionError);
    expect(() => new StreamingInspector(options)).toThrow(FormatInspectionError);
  });

  it('reads stores that serve byte ranges as streams', async () => {
    const reader = rangeReader(BigInt(qcow2.length), async (start, end) =>
      Readable.from([
        qcow2.subarray(start, Math.min(end + 1, start + 100)),
        qcow2.subarray(start + 100, end + 1),
      ]),
    );
    const result = await inspectReader(reader, { maxVirtualSize: LIMIT });
    expect(result.format).toBe('qcow2');
    expect(result.ok).toBe(true);
  });

  it('reads a bounded amount whatever the headers claim (1 TiB file, 32 MiB L1 and 8 MiB refcount table)', async () => {
    const header = Buffer.from(qcow2.subarray(0, 512));
    header.writeBigUInt64BE(1n << 40n, 24); // 1 TiB virtual size: 2048 L1 entries needed
    header.writeUInt32BE(4 * 1024 * 1024, 36); // l1_size: 4 Mi entries (qemu's maximum)
    header.writeBigUInt64BE(BigInt(MiB), 40);
    header.writeBigUInt64BE(64n * BigInt(MiB), 48);
    header.writeUInt32BE(128, 56); // refcount table: 128 clusters = 8 MiB
    header.writeUInt32BE(65536, 60); // snapshots
    header.writeBigUInt64BE(128n * BigInt(MiB), 64);
    let bytesRead = 0;
    const huge: RandomAccessReader = {
      size: 1n << 40n,
      async read(offset, length) {
        bytesRead += length;
        const b = Buffer.alloc(length);
        if (offset < 512n) header.copy(b, 0, Number(offset));
        return b;
      },
    };
    const result = await inspectReader(huge, { maxVirtualSize: 1n << 41n });
    expect(result.format).toBe('qcow2');
    expect(bytesRead).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);

    const inspector = new StreamingInspector({ maxVirtualSize: 1n << 41n });
    inspector.update(header);
    const zeros = Buffer.alloc(MiB);
    for (let i = 0; i < 200; i++) inspector.update(zeros);
    expect(inspector.bufferedBytes).toBeLessThanOrEqual(MAX_BUFFERED_BYTES);
    expect(inspector.finish().format).toBe('qcow2');
  });
});

describe('declared formats', () => {
  const raw = pseudoRandom(MiB, 3);
  const check = (declared: string, data: Buffer) =>
    inspectDeclared(declared, bufferReader(data), { maxVirtualSize: LIMIT });
  const reasons = async (declared: string, data: Buffer) =>
    (await check(declared, data)).violations.map((v) => v.reason);

  it('takes raw for raw and for Glance ami/aki/ari, and nothing else', async () => {
    for (const declared of ['raw', 'ami', 'aki', 'ari']) expect(await reasons(declared, raw)).toEqual([]);
    for (const declared of ['qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi', 'qed', 'iso']) {
      expect(await reasons(declared, raw)).toEqual(['format-mismatch']);
    }
  });

  it('takes an MBR disk as raw, and an ISO only as iso', async () => {
    expect((await check('raw', writeMbr(Buffer.from(raw)))).variant).toBe('mbr');
    expect(await reasons('iso', makeIso())).toEqual([]);
    expect(await reasons('raw', makeIso())).toEqual(['format-mismatch']);
  });

  it('takes qcow v1 as qcow2 and says to convert it with -f qcow', async () => {
    const result = await check('qcow2', qcow1);
    expect(result.ok).toBe(true);
    expect(result.format).toBe('qcow');
    expect(result.qemuFormat).toBe('qcow');
    expect((await check('qcow2', qcow2)).qemuFormat).toBe('qcow2');
  });

  it('takes zvhd/zvhd2 as opaque pass-through only when no signature matches', async () => {
    const result = await check('zvhd2', raw);
    expect(result).toMatchObject({ ok: true, format: 'zvhd2', variant: 'opaque', qemuFormat: null });
    expect(result.virtualSize).toBe(BigInt(raw.length));
    expect(await reasons('zvhd', qcow2)).toEqual(['format-mismatch']);
    expect(await reasons('zvhd', writeMbr(Buffer.from(raw)))).toEqual(['format-mismatch']);
    expect(await reasons('zvhd', makeIso())).toEqual(['format-mismatch']);
  });

  it('refuses ploop and names it does not know', async () => {
    expect(await reasons('ploop', raw)).toEqual(['unsupported-feature']);
    expect(await reasons('floppy', raw)).toEqual(['unknown']);
  });

  it('only detects when no format is declared', async () => {
    const result = await inspectReader(bufferReader(qcow2), { maxVirtualSize: LIMIT });
    expect(result).toMatchObject({ ok: true, format: 'qcow2', declaredFormat: null });
  });
});
