import { Bytes, KiB, MiB, ceilDiv, roundUp } from './bytes.ts';
import { runDetector } from './detection.ts';
import { safePlan, type Detector } from './view.ts';

/**
 * VirtualBox VDI, LE. The 64-byte banner at 0 is free text; the real magic is
 * 0xBEDA107F at 0x40, so a VDI can carry another format's magic at 0 (every
 * detector runs on every file for that reason). Checks follow qemu's vdi_open
 * (7.2) plus the parent links of the reference: undo/diff images and a
 * non-zero link or parent UUID are backing files.
 */
const SIGNATURE = 0xbeda107f;
const VERSION_1_1 = 0x00010001;
const TYPE_DYNAMIC = 1;
const TYPE_STATIC = 2;
const TYPE_UNDO = 3;
const TYPE_DIFF = 4;
const BLOCK_SIZE = MiB; // the only block size qemu supports
const BLOCKS_MAX = 0x3fffffff;
const UNALLOCATED = 0xffffffff;
const ZERO_BLOCK = 0xfffffffe;
const TABLE_CAP = 512 * KiB;
const HEADER_END = 0x1c8;

function isVdi(head: Buffer): boolean {
  return head.length >= 0x44 && head.readUInt32LE(0x40) === SIGNATURE;
}

export const vdiDetector: Detector = {
  name: 'vdi',
  plan(head) {
    if (!isVdi(head)) return [];
    return safePlan(() => {
      const b = new Bytes(head);
      const blocks = b.u32le(0x180);
      if (blocks === 0 || blocks > BLOCKS_MAX) return [];
      return [{ key: 'vdi:bmap', offset: BigInt(b.u32le(0x154)), length: Math.min(blocks * 4, TABLE_CAP) }];
    });
  },
  detect(view) {
    if (!isVdi(view.head)) return null;
    return runDetector('vdi', 'container', (f) => {
      const b = new Bytes(view.head);
      b.slice(0, HEADER_END);
      const type = b.u32le(0x4c);
      f.variant = ['', 'dynamic', 'static', 'undo', 'differencing'][type] || `type-${type}`;
      const diskSize = b.u64le(0x170);
      // qemu rounds an odd size up to a whole sector ('VBoxManage convertfromraw' makes them).
      f.virtualSize = roundUp(diskSize, 512n);
      f.claim(f.virtualSize);
      if (type === TYPE_UNDO || type === TYPE_DIFF) {
        f.add('backing-file', `VDI ${type === TYPE_UNDO ? 'undo' : 'differencing'} image has a parent`);
      } else if (type !== TYPE_DYNAMIC && type !== TYPE_STATIC) {
        f.add('unsupported-feature', `VDI image type ${type} is unknown`);
      }
      if (!b.isZero(0x1a8, 16)) f.add('backing-file', 'VDI image links to a parent image (link UUID set)');
      if (!b.isZero(0x1b8, 16)) f.add('backing-file', 'VDI image has a parent UUID');
      const version = b.u32le(0x44);
      if (version !== VERSION_1_1) f.add('unsupported-feature', `VDI version 0x${version.toString(16)}`);
      const bmapOffset = b.u32le(0x154);
      const dataOffset = b.u32le(0x158);
      const blockSize = b.u32le(0x178);
      const blocks = b.u32le(0x180);
      const allocated = b.u32le(0x184);
      if (b.u32le(0x168) !== 512) return f.add('corrupt', 'VDI sector size is not 512');
      if (bmapOffset % 512 !== 0 || dataOffset % 512 !== 0 || bmapOffset < 0x200) {
        return f.add('corrupt', 'VDI block map or data offset is misaligned');
      }
      if (blockSize !== BLOCK_SIZE)
        return f.add('unsupported-feature', `VDI block size ${blockSize} is unsupported`);
      if (b.u32le(0x17c) !== 0) return f.add('unsupported-feature', 'VDI blocks carry extra data');
      if (blocks > BLOCKS_MAX) return f.add('corrupt', `VDI has ${blocks} blocks`);
      // The block map is blocks × 4 bytes that qemu allocates: tie it to the virtual size.
      if (BigInt(blocks) !== ceilDiv(diskSize, BigInt(BLOCK_SIZE))) {
        return f.add('corrupt', 'VDI block count does not match its virtual size');
      }
      if (allocated > blocks) return f.add('corrupt', 'VDI claims more allocated blocks than it has');
      const bmapEnd = BigInt(bmapOffset) + BigInt(blocks) * 4n;
      if (bmapEnd > BigInt(dataOffset) || bmapEnd > view.size) {
        return f.add('corrupt', 'VDI block map overlaps the data or lies past the end of the file');
      }
      const dataEnd = (index: number) => BigInt(dataOffset) + BigInt(index + 1) * BigInt(BLOCK_SIZE);
      if (allocated > 0 && dataEnd(allocated - 1) > view.size) {
        return f.add('corrupt', 'VDI allocated blocks lie past the end of the file');
      }
      const r = view.region('vdi:bmap');
      if (!r) return;
      const count = Math.min(blocks, Math.floor(r.data.length / 4));
      for (let i = 0; i < count; i++) {
        const e = r.data.readUInt32LE(i * 4);
        if (e === UNALLOCATED || e === ZERO_BLOCK) continue;
        if (e >= blocks || dataEnd(e) > view.size) {
          return f.add('corrupt', `VDI block map entry ${i} points outside the image`);
        }
      }
    });
  },
};
