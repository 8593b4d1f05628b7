import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DetectedFormat, QemuDriver } from '../../src/formats/index.ts';
import { makeIso, pseudoRandom, sourceDisk, vmdkStreamWithFooter, writeGpt, writeMbr } from './craft.ts';
import { inBatches, qemuImg, qemuIo } from './qemu.ts';

/**
 * The valid test corpus, generated at test setup into a temp folder (no committed
 * binaries): qemu-img makes every valid format and sub-format it can, and the
 * hostile files are qemu-made images edited byte by byte (or hand-made where
 * qemu-img cannot make the case, or must not: `create -o data_file=` would
 * truncate the host file it names).
 */

export interface ValidImage {
  readonly name: string;
  readonly file: string;
  readonly declared: string;
  readonly format: DetectedFormat;
  readonly variant: string;
  readonly qemuFormat: QemuDriver;
  /** The guest data: the converted raw image must start with it and be zero after it. */
  readonly guest: Buffer;
}

export async function buildValidCorpus(dir: string): Promise<ValidImage[]> {
  const src = sourceDisk();
  const files = {
    src: join(dir, 'source.raw'),
    mbr: join(dir, 'mbr.raw'),
    gpt: join(dir, 'gpt.raw'),
    odd: join(dir, 'odd.raw'),
    iso: join(dir, 'plain.iso'),
    hybrid: join(dir, 'hybrid.iso'),
  };
  const mbr = writeMbr(Buffer.from(src));
  const gpt = writeGpt(Buffer.from(src));
  const odd = pseudoRandom(1000, 11);
  const iso = makeIso();
  const hybrid = makeIso(64, writeMbr(pseudoRandom(512, 12), 0x17, 0, 128));
  await Promise.all([
    writeFile(files.src, src),
    writeFile(files.mbr, mbr),
    writeFile(files.gpt, gpt),
    writeFile(files.odd, odd),
    writeFile(files.iso, iso),
    writeFile(files.hybrid, hybrid),
  ]);
  const out: ValidImage[] = [
    {
      name: 'raw',
      file: files.src,
      declared: 'raw',
      format: 'raw',
      variant: 'plain',
      qemuFormat: 'raw',
      guest: src,
    },
    {
      name: 'raw-mbr',
      file: files.mbr,
      declared: 'raw',
      format: 'raw',
      variant: 'mbr',
      qemuFormat: 'raw',
      guest: mbr,
    },
    {
      name: 'raw-gpt',
      file: files.gpt,
      declared: 'raw',
      format: 'raw',
      variant: 'gpt',
      qemuFormat: 'raw',
      guest: gpt,
    },
    {
      name: 'raw-odd-size',
      file: files.odd,
      declared: 'raw',
      format: 'raw',
      variant: 'plain',
      qemuFormat: 'raw',
      guest: odd,
    },
    {
      name: 'ami-raw',
      file: files.src,
      declared: 'ami',
      format: 'raw',
      variant: 'plain',
      qemuFormat: 'raw',
      guest: src,
    },
    {
      name: 'iso',
      file: files.iso,
      declared: 'iso',
      format: 'iso',
      variant: 'iso9660',
      qemuFormat: 'raw',
      guest: iso,
    },
    {
      name: 'iso-hybrid-mbr',
      file: files.hybrid,
      declared: 'iso',
      format: 'iso',
      variant: 'iso9660+mbr',
      qemuFormat: 'raw',
      guest: hybrid,
    },
  ];

  type Conv = [
    name: string,
    driver: QemuDriver,
    options: string[],
    format: DetectedFormat,
    variant: string,
    from?: 'mbr',
  ];
  const conversions: Conv[] = [
    ['qcow2-v2', 'qcow2', ['-o', 'compat=0.10'], 'qcow2', 'v2'],
    ['qcow2-v3', 'qcow2', ['-o', 'compat=1.1'], 'qcow2', 'v3'],
    ['qcow2-zlib-compressed', 'qcow2', ['-c'], 'qcow2', 'v3'],
    ['qcow2-zstd-compressed', 'qcow2', ['-c', '-o', 'compression_type=zstd'], 'qcow2', 'v3'],
    ['qcow2-extended-l2', 'qcow2', ['-o', 'extended_l2=on'], 'qcow2', 'v3'],
    ['qcow2-512-byte-clusters', 'qcow2', ['-o', 'cluster_size=512'], 'qcow2', 'v3'],
    ['qcow2-lazy-refcounts', 'qcow2', ['-o', 'lazy_refcounts=on'], 'qcow2', 'v3'],
    ['qcow-v1', 'qcow', [], 'qcow', 'v1'],
    ['vmdk-monolithicSparse', 'vmdk', [], 'vmdk', 'monolithicSparse'],
    ['vmdk-streamOptimized', 'vmdk', ['-o', 'subformat=streamOptimized'], 'vmdk', 'streamOptimized'],
    ['vhd-dynamic-chs', 'vpc', [], 'vhd', 'dynamic'],
    ['vhd-dynamic-current-size', 'vpc', ['-o', 'force_size=on'], 'vhd', 'dynamic'],
    ['vhd-fixed', 'vpc', ['-o', 'subformat=fixed'], 'vhd', 'fixed'],
    ['vhd-fixed-holding-mbr', 'vpc', ['-o', 'subformat=fixed'], 'vhd', 'fixed', 'mbr'],
    ['vhdx-dynamic', 'vhdx', [], 'vhdx', 'dynamic'],
    ['vhdx-fixed', 'vhdx', ['-o', 'subformat=fixed'], 'vhdx', 'fixed'],
    ['vdi-dynamic', 'vdi', [], 'vdi', 'dynamic'],
    ['vdi-static', 'vdi', ['-o', 'static=on'], 'vdi', 'static'],
    ['qed', 'qed', [], 'qed', 'qed'],
  ];
  const declaredFor = (f: DetectedFormat) => (f === 'qcow' ? 'qcow2' : f);
  await inBatches(
    conversions.map(([name, driver, options, format, variant, from]) => async () => {
      const file = join(dir, `${name}.img`);
      await qemuImg(['convert', '-f', 'raw', '-O', driver, ...options, from ? files.mbr : files.src, file]);
      out.push({
        name,
        file,
        declared: declaredFor(format),
        format,
        variant,
        qemuFormat: driver,
        guest: from ? mbr : src,
      });
    }),
  );

  // Internal snapshot whose data differs from the active layer; persistent bitmap (autoclear bit).
  const snap = join(dir, 'qcow2-snapshot.img');
  await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', files.src, snap]);
  await qemuImg(['snapshot', '--image-opts', '-c', 'before', `driver=qcow2,file.filename=${snap}`]);
  await qemuIo(snap, 'qcow2', 'write -P 0xab 0 64k');
  const active = Buffer.from(src);
  active.fill(0xab, 0, 65536);
  out.push({
    name: 'qcow2-internal-snapshot',
    file: snap,
    declared: 'qcow2',
    format: 'qcow2',
    variant: 'v3',
    qemuFormat: 'qcow2',
    guest: active,
  });
  const bitmap = join(dir, 'qcow2-bitmap.img');
  await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', files.src, bitmap]);
  await qemuImg(['bitmap', '-f', 'qcow2', '--add', bitmap, 'dirty0']);
  out.push({
    name: 'qcow2-persistent-bitmap',
    file: bitmap,
    declared: 'qcow2',
    format: 'qcow2',
    variant: 'v3',
    qemuFormat: 'qcow2',
    guest: src,
  });

  // An unknown *compatible* feature bit may be ignored by definition: accepted.
  const compat = join(dir, 'qcow2-unknown-compatible-bit.img');
  const c = await readFile(join(dir, 'qcow2-v3.img'));
  c.writeBigUInt64BE(c.readBigUInt64BE(80) | (1n << 40n), 80);
  await writeFile(compat, c);
  out.push({
    name: 'qcow2-unknown-compatible-bit',
    file: compat,
    declared: 'qcow2',
    format: 'qcow2',
    variant: 'v3',
    qemuFormat: 'qcow2',
    guest: src,
  });

  // VMware's stream layout (grain directory in a footer), which qemu-img does not write.
  const footer = join(dir, 'vmdk-stream-footer.img');
  await writeFile(footer, vmdkStreamWithFooter(await readFile(join(dir, 'vmdk-streamOptimized.img'))));
  out.push({
    name: 'vmdk-streamOptimized-footer',
    file: footer,
    declared: 'vmdk',
    format: 'vmdk',
    variant: 'streamOptimized',
    qemuFormat: 'vmdk',
    guest: src,
  });
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
