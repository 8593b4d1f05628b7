import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ViolationReason } from '../../src/formats/index.ts';
import {
  BOCHS,
  CLOOP,
  COWD,
  DMG,
  MiB,
  VHDX_FILE_PARAMETERS,
  VHDX_VIRTUAL_DISK_SIZE,
  editDynamicVhd,
  editVhdxHeader,
  fixVhdFooter,
  makeIso,
  pseudoRandom,
  replaceVmdkDescriptor,
  setQcow2Extensions,
  vhdxItem,
  vmdkStreamWithFooter,
  writeAscii,
  writeMbr,
} from './craft.ts';
import { inBatches, mkfifo, qemuImg } from './qemu.ts';

/**
 * The hostile test corpus: one or more files for every category of the
 * format-safety reference (section 8, categories 2-10). Most are images made
 * by qemu-img and then edited byte by byte; some are made by hand where
 * qemu-img cannot make the case, or must not (`create -o data_file=` would
 * create or truncate the host file it names, so data files point into the
 * temp folder or are written into the header by hand).
 */

export interface HostileImage {
  readonly name: string;
  /** Category of the format-safety reference, section 8. */
  readonly category: number;
  readonly file: string;
  readonly declared: string;
  /** Each of these reasons must be among the violations. */
  readonly expect: readonly ViolationReason[];
  readonly maxVirtualSize?: bigint;
}

/** Writes `data` as `name` in `dir` and returns the path. */
async function put(dir: string, name: string, data: Buffer): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, data);
  return file;
}

export async function buildHostileCorpus(dir: string): Promise<HostileImage[]> {
  const q = (args: string[]) => qemuImg(args, dir);
  const seed = join(dir, 'seed.raw');
  await writeFile(seed, pseudoRandom(MiB, 21));
  const base: Record<string, string> = {};
  const make = async (name: string, args: string[]) => {
    base[name] = join(dir, name);
    await q(args);
  };
  // Clean images to edit, and the ones qemu-img makes hostile by itself.
  await inBatches(
    [
      () => make('qcow2', ['convert', '-f', 'raw', '-O', 'qcow2', seed, 'qcow2']),
      () => make('qcow', ['convert', '-f', 'raw', '-O', 'qcow', seed, 'qcow']),
      () => make('vmdk', ['convert', '-f', 'raw', '-O', 'vmdk', seed, 'vmdk']),
      () =>
        make('vmdk-stream', [
          'convert',
          '-f',
          'raw',
          '-O',
          'vmdk',
          '-o',
          'subformat=streamOptimized',
          seed,
          'vmdk-stream',
        ]),
      () => make('vhd', ['convert', '-f', 'raw', '-O', 'vpc', seed, 'vhd']),
      () =>
        make('vhd-fixed', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', seed, 'vhd-fixed']),
      () => make('vhdx', ['convert', '-f', 'raw', '-O', 'vhdx', seed, 'vhdx']),
      () => make('vdi', ['convert', '-f', 'raw', '-O', 'vdi', seed, 'vdi']),
      () => make('qed', ['convert', '-f', 'raw', '-O', 'qed', seed, 'qed']),
      () => make('parallels', ['create', '-q', '-f', 'parallels', 'parallels', '1M']),
      () => make('qcow2-big', ['create', '-q', '-f', 'qcow2', 'qcow2-big', '100G']),
      () =>
        make('backing-absolute', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-b',
          '/etc/passwd',
          '-F',
          'raw',
          '-u',
          'backing-absolute',
          '1M',
        ]),
      () =>
        make('backing-relative', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-b',
          'another-tenants-image',
          '-F',
          'qcow2',
          '-u',
          'backing-relative',
          '1M',
        ]),
      () =>
        make('backing-traversal', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-b',
          '../../../../etc/shadow',
          '-F',
          'raw',
          '-u',
          'backing-traversal',
          '1M',
        ]),
      () =>
        make('backing-json', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-b',
          'json:{"driver":"nbd","server":{"type":"inet","host":"127.0.0.1","port":"10809"}}',
          '-F',
          'raw',
          '-u',
          'backing-json',
          '1M',
        ]),
      () =>
        make('backing-url', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-b',
          'http://169.254.169.254/latest/meta-data/',
          '-F',
          'raw',
          '-u',
          'backing-url',
          '1M',
        ]),
      () =>
        make('backing-v2', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-o',
          'compat=0.10',
          '-b',
          '/etc/passwd',
          '-F',
          'raw',
          '-u',
          'backing-v2',
          '1M',
        ]),
      () =>
        make('backing-qcow1', [
          'create',
          '-q',
          '-f',
          'qcow',
          '-b',
          '/etc/passwd',
          '-F',
          'raw',
          '-u',
          'backing-qcow1',
          '1M',
        ]),
      () =>
        make('backing-qed', [
          'create',
          '-q',
          '-f',
          'qed',
          '-b',
          '/etc/passwd',
          '-F',
          'raw',
          '-u',
          'backing-qed',
          '1M',
        ]),
      () =>
        make('data-file-relative', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-o',
          'data_file=tenant-data.raw',
          'data-file-relative',
          '1M',
        ]),
      () =>
        make('data-file-absolute-raw', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '-o',
          `data_file=${join(dir, 'abs-data.raw')},data_file_raw=on`,
          'data-file-absolute-raw',
          '1M',
        ]),
      () =>
        make('vmdk-flat', [
          'create',
          '-q',
          '-f',
          'vmdk',
          '-o',
          'subformat=monolithicFlat',
          'vmdk-flat',
          '1M',
        ]),
      () =>
        make('vmdk-split-sparse', [
          'create',
          '-q',
          '-f',
          'vmdk',
          '-o',
          'subformat=twoGbMaxExtentSparse',
          'vmdk-split-sparse',
          '1M',
        ]),
      () =>
        make('vmdk-split-flat', [
          'create',
          '-q',
          '-f',
          'vmdk',
          '-o',
          'subformat=twoGbMaxExtentFlat',
          'vmdk-split-flat',
          '1M',
        ]),
      () => make('vmdk-parent-base', ['create', '-q', '-f', 'vmdk', 'vmdk-parent-base', '1M']),
      () =>
        make('qcow2-aes', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '--object',
          'secret,id=s0,data=hunter2',
          '-o',
          'encrypt.format=aes,encrypt.key-secret=s0',
          'qcow2-aes',
          '1M',
        ]),
      () =>
        make('qcow-aes', [
          'create',
          '-q',
          '-f',
          'qcow',
          '--object',
          'secret,id=s0,data=hunter2',
          '-o',
          'encrypt.format=aes,encrypt.key-secret=s0',
          'qcow-aes',
          '1M',
        ]),
      // The two LUKS ones benchmark the PBKDF for a few seconds each: run them side by side.
      () =>
        make('qcow2-luks', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '--object',
          'secret,id=s0,data=hunter2',
          '-o',
          'encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10',
          'qcow2-luks',
          '1M',
        ]),
      () =>
        make('luks', [
          'create',
          '-q',
          '-f',
          'luks',
          '--object',
          'secret,id=s0,data=hunter2',
          '-o',
          'key-secret=s0,iter-time=10',
          'luks',
          '1M',
        ]),
    ],
    6,
  );
  await make('vmdk-parent', [
    'create',
    '-q',
    '-f',
    'vmdk',
    '-b',
    'vmdk-parent-base',
    '-F',
    'vmdk',
    'vmdk-parent',
  ]);
  const fifo = join(dir, 'backing.fifo');
  await mkfifo(fifo);
  await make('backing-fifo', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-b',
    fifo,
    '-F',
    'raw',
    '-u',
    'backing-fifo',
    '1M',
  ]);

  const read = async (name: string) => readFile(base[name] as string);
  const out: HostileImage[] = [];
  const add = async (
    name: string,
    category: number,
    data: Buffer | string,
    declared: string,
    expect: ViolationReason[],
    maxVirtualSize?: bigint,
  ) => {
    const file = typeof data === 'string' ? data : await put(dir, `hostile-${name}`, data);
    out.push({ name, category, file, declared, expect, ...(maxVirtualSize ? { maxVirtualSize } : {}) });
  };
  const qcow2 = await read('qcow2');
  const edit = (b: Buffer, f: (d: Buffer) => void) => {
    const d = Buffer.from(b);
    f(d);
    return d;
  };
  const beyond = (b: Buffer) => BigInt(Math.ceil(b.length / 65536) * 65536 + 10 * 65536);

  // 2. Multi-file VMDK variants: the upload is the descriptor, which names other files.
  await add('vmdk-monolithicFlat-descriptor', 2, base['vmdk-flat'] as string, 'vmdk', ['external-extent']);
  await add('vmdk-twoGbMaxExtentSparse-descriptor', 2, base['vmdk-split-sparse'] as string, 'vmdk', [
    'external-extent',
  ]);
  await add('vmdk-twoGbMaxExtentFlat-descriptor', 2, base['vmdk-split-flat'] as string, 'vmdk', [
    'external-extent',
  ]);
  const vmfs =
    '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\n\nRW 2048 VMFS "disk-flat.vmdk"\n';
  await add('vmdk-vmfs-descriptor', 2, Buffer.from(vmfs), 'vmdk', ['external-extent']);

  // 3. Backing files and parents in every format that has them.
  await add('qcow2-backing-absolute', 3, base['backing-absolute'] as string, 'qcow2', ['backing-file']);
  await add('qcow2-backing-relative', 3, base['backing-relative'] as string, 'qcow2', ['backing-file']);
  await add('qcow2-backing-traversal', 3, base['backing-traversal'] as string, 'qcow2', ['backing-file']);
  await add('qcow2-backing-json-spec', 3, base['backing-json'] as string, 'qcow2', ['backing-file']);
  await add('qcow2-backing-url', 3, base['backing-url'] as string, 'qcow2', ['backing-file']);
  await add('qcow2-backing-fifo', 3, base['backing-fifo'] as string, 'qcow2', ['backing-file']);
  await add('qcow2-v2-backing', 3, base['backing-v2'] as string, 'qcow2', ['backing-file']);
  await add('qcow-v1-backing', 3, base['backing-qcow1'] as string, 'qcow2', ['backing-file']);
  await add('qed-backing', 3, base['backing-qed'] as string, 'qed', ['backing-file']);
  const qed = await read('qed');
  await add(
    'qed-backing-feature-bit-only',
    3,
    edit(qed, (d) => d.writeBigUInt64LE(1n, 16)),
    'qed',
    ['backing-file'],
  );
  await add('vmdk-parentFileNameHint', 3, base['vmdk-parent'] as string, 'vmdk', ['backing-file']);
  const vhd = await read('vhd');
  const differencing = editDynamicVhd(Buffer.from(vhd), (footer, dyn) => {
    footer.writeUInt32BE(4, 60);
    pseudoRandom(16, 31).copy(dyn, 40);
    const name = Buffer.from('C:\\tenants\\other\\parent.vhd', 'utf16le').swap16();
    name.copy(dyn, 64);
    dyn.writeUInt32BE(0x57326b75, 576); // 'W2ku' locator
  });
  await add('vhd-differencing', 3, differencing, 'vhd', ['backing-file']);
  const parentOnly = editDynamicVhd(Buffer.from(vhd), (_footer, dyn) => {
    Buffer.from('/etc/passwd', 'utf16le').swap16().copy(dyn, 64);
  });
  await add('vhd-dynamic-with-parent-name', 3, parentOnly, 'vhd', ['backing-file']);
  const vhdx = await read('vhdx');
  await add(
    'vhdx-has-parent-flag',
    3,
    edit(vhdx, (d) => {
      const p = vhdxItem(d, VHDX_FILE_PARAMETERS);
      p.writeUInt32LE(p.readUInt32LE(4) | 2, 4);
    }),
    'vhdx',
    ['backing-file'],
  );
  const vdi = await read('vdi');
  await add(
    'vdi-differencing',
    3,
    edit(vdi, (d) => {
      d.writeUInt32LE(4, 0x4c);
      pseudoRandom(16, 32).copy(d, 0x1a8);
    }),
    'vdi',
    ['backing-file'],
  );

  // 4. External data files.
  await add('qcow2-data-file-relative', 4, base['data-file-relative'] as string, 'qcow2', ['data-file']);
  await add('qcow2-data-file-absolute-raw', 4, base['data-file-absolute-raw'] as string, 'qcow2', [
    'data-file',
  ]);
  await add(
    'qcow2-data-extension-without-bit',
    4,
    setQcow2Extensions(Buffer.from(qcow2), [{ type: 0x44415441, data: Buffer.from('/etc/shadow') }]),
    'qcow2',
    ['data-file'],
  );
  await add(
    'qcow2-data-extension-json-spec',
    4,
    edit(qcow2, (d) => {
      setQcow2Extensions(d, [
        { type: 0x44415441, data: Buffer.from('json:{"driver":"file","filename":"/etc/shadow"}') },
      ]);
      d.writeBigUInt64BE(d.readBigUInt64BE(72) | 4n, 72);
    }),
    'qcow2',
    ['data-file'],
  );
  await add(
    'qcow2-data-file-bit-only',
    4,
    edit(qcow2, (d) => d.writeBigUInt64BE(4n, 72)),
    'qcow2',
    ['data-file'],
  );

  // 5. External extents in VMDK descriptors, standalone and embedded.
  const hostDescriptor = (createType: string, extent: string) =>
    `# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="${createType}"\n\n${extent}\n\nddb.adapterType = "ide"\n`;
  await add(
    'vmdk-descriptor-host-path',
    5,
    Buffer.from(hostDescriptor('monolithicFlat', 'RW 2048 FLAT "/etc/passwd" 0')),
    'vmdk',
    ['external-extent'],
  );
  await add(
    'vmdk-descriptor-json-spec',
    5,
    Buffer.from(hostDescriptor('monolithicFlat', 'RW 2048 FLAT "json:{\\"driver\\":\\"nbd\\"}" 0')),
    'vmdk',
    ['external-extent'],
  );
  const vmdk = await read('vmdk');
  const embed = (text: string) => replaceVmdkDescriptor(Buffer.from(vmdk), text);
  await add(
    'vmdk-embedded-flat-host-path',
    5,
    embed(hostDescriptor('monolithicFlat', 'RW 2048 FLAT "/etc/passwd" 0')),
    'vmdk',
    ['external-extent'],
  );
  await add(
    'vmdk-embedded-sparse-host-path',
    5,
    embed(hostDescriptor('monolithicSparse', 'RW 2048 SPARSE "/etc/passwd"')),
    'vmdk',
    ['external-extent'],
  );
  await add(
    'vmdk-embedded-two-extents',
    5,
    embed(hostDescriptor('monolithicSparse', 'RW 1024 SPARSE "a.vmdk"\nRW 1024 SPARSE "b.vmdk"')),
    'vmdk',
    ['external-extent'],
  );
  await add(
    'vmdk-capacity-zero-reads-descriptor-as-file',
    5,
    edit(embed(hostDescriptor('monolithicFlat', 'RW 2048 FLAT "/etc/passwd" 0')), (d) =>
      d.writeBigUInt64LE(0n, 12),
    ),
    'vmdk',
    ['external-extent'],
  );
  await add(
    'vmdk-embedded-garbage-line',
    5,
    embed(hostDescriptor('monolithicSparse', 'RW 2048 SPARSE "vmdk"\nopen /etc/passwd please')),
    'vmdk',
    ['corrupt'],
  );

  // 6. Format confusion and polyglots.
  await add('qcow2-declared-raw', 6, base.qcow2 as string, 'raw', ['format-mismatch']);
  await add('qcow2-backing-declared-raw', 6, base['backing-absolute'] as string, 'raw', [
    'format-mismatch',
    'backing-file',
  ]);
  await add('vmdk-declared-raw', 6, base.vmdk as string, 'raw', ['format-mismatch']);
  await add('vdi-declared-raw', 6, base.vdi as string, 'raw', ['format-mismatch']);
  await add('vhd-fixed-declared-raw', 6, base['vhd-fixed'] as string, 'raw', ['format-mismatch']);
  await add('qcow2-declared-vmdk', 6, base.qcow2 as string, 'vmdk', ['format-mismatch']);
  await add('random-declared-qcow2', 6, pseudoRandom(MiB, 41), 'qcow2', ['format-mismatch']);
  await add('gzip-of-qcow2-declared-qcow2', 6, gzipSync(qcow2), 'qcow2', ['format-mismatch']);
  await add(
    'raw-with-vmdk-descriptor-declared-raw',
    6,
    Buffer.concat([
      Buffer.from(hostDescriptor('monolithicFlat', 'RW 2048 FLAT "/etc/passwd" 0')),
      pseudoRandom(MiB, 42),
    ]),
    'raw',
    ['format-mismatch', 'external-extent'],
  );
  await add('iso-declared-raw', 6, makeIso(), 'raw', ['format-mismatch']);
  await add('iso-with-qcow2-header', 6, makeIso(64, qcow2.subarray(0, 512)), 'iso', ['format-mismatch']);
  await add(
    'qcow2-with-vdi-signature',
    6,
    edit(qcow2, (d) => d.writeUInt32LE(0xbeda107f, 0x40)),
    'qcow2',
    ['format-mismatch'],
  );
  await add(
    'qcow2-with-mbr',
    6,
    edit(qcow2, (d) => writeMbr(d)),
    'qcow2',
    ['format-mismatch'],
  );
  await add(
    'fixed-vhd-holding-qcow2',
    6,
    edit(await read('vhd-fixed'), (d) => qcow2.copy(d, 0, 0, 4096)),
    'vhd',
    ['format-mismatch'],
  );
  await add('zvhd-holding-qcow2', 6, base.qcow2 as string, 'zvhd', ['format-mismatch']);
  await add('zvhd2-holding-mbr-disk', 6, writeMbr(pseudoRandom(MiB, 43)), 'zvhd2', ['format-mismatch']);
  await add('bochs', 6, BOCHS, 'raw', ['unsupported-feature', 'format-mismatch']);
  await add('cloop', 6, CLOOP, 'raw', ['unsupported-feature', 'format-mismatch']);
  await add('dmg', 6, DMG, 'raw', ['unsupported-feature', 'format-mismatch']);
  await add('parallels', 6, base.parallels as string, 'ploop', ['unsupported-feature']);
  await add('vmdk-cowd', 6, COWD, 'vmdk', ['unsupported-feature']);
  await add('raw-declared-ploop', 6, pseudoRandom(MiB, 44), 'ploop', ['unsupported-feature']);
  await add('raw-declared-unknown-format', 6, pseudoRandom(MiB, 45), 'floppy', ['unknown']);

  // 7. Absurd, overflowing or inconsistent sizes.
  await add('qcow2-100G-over-limit', 7, base['qcow2-big'] as string, 'qcow2', ['too-large']);
  await add('raw-over-limit', 7, pseudoRandom(2 * MiB, 46), 'raw', ['too-large'], BigInt(MiB));
  await add(
    'qcow2-size-2^63',
    7,
    edit(qcow2, (d) => d.writeBigUInt64BE(1n << 63n, 24)),
    'qcow2',
    ['too-large', 'corrupt'],
  );
  await add(
    'qcow2-size-2^64-1',
    7,
    edit(qcow2, (d) => d.writeBigUInt64BE(0xffffffffffffffffn, 24)),
    'qcow2',
    ['too-large'],
  );
  await add(
    'qcow2-huge-l1-size',
    7,
    edit(qcow2, (d) => d.writeUInt32BE(0x7fffffff, 36)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-l1-far-larger-than-size',
    7,
    edit(qcow2, (d) => d.writeUInt32BE(100000, 36)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-huge-refcount-table',
    7,
    edit(qcow2, (d) => d.writeUInt32BE(0xffffff, 56)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-huge-snapshot-count',
    7,
    edit(qcow2, (d) => d.writeUInt32BE(0xffffffff, 60)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'vmdk-capacity-2^62-sectors',
    7,
    edit(vmdk, (d) => d.writeBigUInt64LE(1n << 62n, 12)),
    'vmdk',
    ['too-large'],
  );
  await add(
    'vhd-current-size-2^63',
    7,
    editDynamicVhd(Buffer.from(vhd), (footer) => {
      footer.write('win ', 28, 'latin1');
      footer.writeBigUInt64BE(1n << 63n, 48);
    }),
    'vhd',
    ['too-large'],
  );
  await add(
    'vdi-size-2^60',
    7,
    edit(vdi, (d) => d.writeBigUInt64LE(1n << 60n, 0x170)),
    'vdi',
    ['too-large'],
  );
  await add(
    'qed-size-2^62',
    7,
    edit(qed, (d) => d.writeBigUInt64LE(1n << 62n, 48)),
    'qed',
    ['too-large'],
  );
  await add(
    'vhdx-size-past-64TiB',
    7,
    edit(vhdx, (d) => vhdxItem(d, VHDX_VIRTUAL_DISK_SIZE).writeBigUInt64LE(1n << 50n, 0)),
    'vhdx',
    ['too-large'],
  );

  // 8. Corrupt metadata.
  await add(
    'qcow2-l1-past-eof',
    8,
    edit(qcow2, (d) => d.writeBigUInt64BE(beyond(d), 40)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-refcount-table-past-eof',
    8,
    edit(qcow2, (d) => d.writeBigUInt64BE(beyond(d), 48)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-l2-pointer-past-eof',
    8,
    edit(qcow2, (d) => {
      const l1 = Number(d.readBigUInt64BE(40));
      d.writeBigUInt64BE(beyond(d) | (1n << 63n), l1);
    }),
    'qcow2',
    ['corrupt'],
  );
  const snapshot = join(dir, 'qcow2-snapshot');
  await q(['convert', '-f', 'raw', '-O', 'qcow2', seed, snapshot]);
  await q(['snapshot', '--image-opts', '-c', 's1', `driver=qcow2,file.filename=${snapshot}`]);
  await add(
    'qcow2-snapshot-table-past-eof',
    8,
    edit(await readFile(snapshot), (d) => d.writeBigUInt64BE(beyond(d), 64)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-snapshot-l1-past-eof',
    8,
    edit(await readFile(snapshot), (d) => {
      const table = Number(d.readBigUInt64BE(64));
      d.writeBigUInt64BE(beyond(d), table);
    }),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-corrupt-bit',
    8,
    edit(qcow2, (d) => d.writeBigUInt64BE(2n, 72)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-version-4',
    8,
    edit(qcow2, (d) => d.writeUInt32BE(4, 4)),
    'qcow2',
    ['unsupported-feature'],
  );
  await add(
    'qcow2-unknown-incompatible-bit',
    8,
    edit(qcow2, (d) => d.writeBigUInt64BE(1n << 10n, 72)),
    'qcow2',
    ['unsupported-feature'],
  );
  await add(
    'qcow2-cluster-bits-30',
    8,
    edit(qcow2, (d) => d.writeUInt32BE(30, 20)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'qcow2-compression-bit-without-type',
    8,
    edit(qcow2, (d) => d.writeBigUInt64BE(8n, 72)),
    'qcow2',
    ['corrupt'],
  );
  await add(
    'vhdx-bad-region-signature',
    8,
    edit(vhdx, (d) => writeAscii(d, 192 * 1024, 'regX')),
    'vhdx',
    ['corrupt'],
  );
  await add(
    'vhdx-bad-header-checksums',
    8,
    edit(vhdx, (d) => {
      d[64 * 1024 + 100] = (d[64 * 1024 + 100] as number) ^ 0xff;
      d[128 * 1024 + 100] = (d[128 * 1024 + 100] as number) ^ 0xff;
    }),
    'vhdx',
    ['corrupt'],
  );
  await add(
    'vhdx-log-needs-replay',
    8,
    edit(vhdx, (d) => {
      const guid = pseudoRandom(16, 51);
      editVhdxHeader(d, (h) => guid.copy(h, 48));
      const log = MiB;
      writeAscii(d, log, 'loge');
      d.writeUInt32LE(4096, log + 8);
      guid.copy(d, log + 32);
    }),
    'vhdx',
    ['unsupported-feature'],
  );
  await add(
    'vhdx-block-past-eof',
    8,
    edit(vhdx, (d) => {
      // First BAT entry: fully present, far past the end of the file.
      const rt = 192 * 1024;
      const bat = Number(d.readBigUInt64LE(rt + 16 + 16));
      d.writeBigUInt64LE((BigInt(d.length) * 4n) | 6n, bat);
    }),
    'vhdx',
    ['corrupt'],
  );
  await add(
    'vmdk-descriptor-size-out-of-bounds',
    8,
    edit(vmdk, (d) => d.writeBigUInt64LE(5000n, 36)),
    'vmdk',
    ['corrupt'],
  );
  await add(
    'vmdk-descriptor-not-at-sector-1',
    8,
    edit(vmdk, (d) => d.writeBigUInt64LE(99999n, 28)),
    'vmdk',
    ['unsupported-feature'],
  );
  await add(
    'vmdk-grain-directory-past-eof',
    8,
    edit(vmdk, (d) => d.writeBigUInt64LE(BigInt(d.length), 56)),
    'vmdk',
    ['corrupt'],
  );
  const stream = await read('vmdk-stream');
  await add(
    'vmdk-stream-footer-disagrees',
    8,
    vmdkStreamWithFooter(Buffer.from(stream), (f) => f.writeUInt32LE(2, 4)),
    'vmdk',
    ['corrupt'],
  );
  const withFooter = vmdkStreamWithFooter(Buffer.from(stream));
  await add('vmdk-stream-cut-short', 8, withFooter.subarray(0, withFooter.length - 1024), 'vmdk', [
    'corrupt',
  ]);
  await add(
    'vdi-block-past-eof',
    8,
    edit(vdi, (d) => {
      const bmap = d.readUInt32LE(0x154);
      d.writeUInt32LE(d.readUInt32LE(0x180) - 1, bmap); // a real index, but the file is cut below
    }).subarray(0, vdi.length - MiB / 2),
    'vdi',
    ['corrupt'],
  );
  await add(
    'qed-l1-past-eof',
    8,
    edit(qed, (d) => d.writeBigUInt64LE(beyond(d), 40)),
    'qed',
    ['corrupt'],
  );
  await add(
    'qed-needs-check',
    8,
    edit(qed, (d) => d.writeBigUInt64LE(2n, 16)),
    'qed',
    ['corrupt'],
  );
  await add(
    'qed-unknown-feature',
    8,
    edit(qed, (d) => d.writeBigUInt64LE(1n << 9n, 16)),
    'qed',
    ['unsupported-feature'],
  );
  await add(
    'vhd-bad-checksum',
    8,
    edit(await read('vhd-fixed'), (d) => {
      d[d.length - 512 + 48] = 1;
    }),
    'vhd',
    ['corrupt'],
  );
  const fixed = await read('vhd-fixed');
  await add(
    'vhd-fixed-size-past-data',
    8,
    edit(fixed, (d) => {
      d.writeBigUInt64BE(BigInt(d.length) * 2n, d.length - 512 + 48);
      d.write('win ', d.length - 512 + 28, 'latin1');
      fixVhdFooter(d, d.length - 512);
    }),
    'vhd',
    ['corrupt'],
  );
  await add('iso-volume-larger-than-file', 8, makeIso(64).subarray(0, 48 * 2048), 'iso', ['corrupt']);

  // 9. Truncated files: the magic is there, the header or tables are not. Never raw.
  const truncations: [string, Buffer, string, number[]][] = [
    ['qcow2', qcow2, 'qcow2', [4, 48, 200, 511]],
    ['qcow', await read('qcow'), 'qcow2', [8, 40, 200]],
    ['vmdk', vmdk, 'vmdk', [4, 60, 511, 700]],
    ['vhd-dynamic', vhd, 'vhd', [8, 300, 1500]],
    ['vhdx', vhdx, 'vhdx', [8, 4096, 100000, 300000]],
    ['vdi', vdi, 'vdi', [0x44, 0x100, 0x1d0]],
    ['qed', qed, 'qed', [4, 40, 200]],
    ['luks', await read('luks'), 'raw', [6, 7]],
    ['iso', makeIso(), 'iso', [32774, 33000]],
  ];
  for (const [name, data, declared, lengths] of truncations) {
    for (const n of lengths)
      await add(`${name}-truncated-to-${n}`, 9, data.subarray(0, n), declared, ['corrupt']);
  }
  await add('empty-file', 9, Buffer.alloc(0), 'raw', ['corrupt']);

  // 10. Encryption.
  await add('qcow2-luks', 10, base['qcow2-luks'] as string, 'qcow2', ['encrypted']);
  await add('qcow2-aes', 10, base['qcow2-aes'] as string, 'qcow2', ['encrypted']);
  await add('qcow-v1-aes', 10, base['qcow-aes'] as string, 'qcow2', ['encrypted']);
  await add('luks-container', 10, base.luks as string, 'raw', ['encrypted', 'format-mismatch']);
  return out;
}
