import { Bytes, isPowerOfTwo, roundUp } from './bytes.ts';
import { runDetector } from './detection.ts';
import type { Detector } from './view.ts';

/**
 * ISO 9660 and UDF. The first 32 KiB are a free system area (where hybrid ISOs
 * keep an MBR/GPT); volume descriptors follow in 2048-byte sectors, each with a
 * type byte, a 5-byte identifier and version 1. qemu has no ISO driver and
 * reads one as raw, so the virtual size is the file size (rounded to a sector);
 * the volume size from the primary descriptor must fit in the file.
 */
const DESCRIPTORS_START = 32768;
const SECTOR = 2048;
/** Descriptors we walk before giving up on finding the one we need (all inside the head). */
const MAX_DESCRIPTORS = 64;
const UDF_IDS = ['BEA01', 'NSR02', 'NSR03', 'TEA01', 'BOOT2', 'CD001', 'CDW02'];

export const isoDetector: Detector = {
  name: 'iso',
  plan: () => [],
  detect(view) {
    const first = view.head.toString('latin1', DESCRIPTORS_START + 1, DESCRIPTORS_START + 6);
    const iso9660 = first === 'CD001';
    if (!iso9660 && first !== 'BEA01') return null;
    return runDetector('iso', 'content', (f) => {
      f.virtualSize = roundUp(view.size, 512n);
      f.claim(f.virtualSize);
      const b = new Bytes(view.head);
      if (!iso9660) {
        // UDF volume recognition sequence: BEA01, then NSR02/NSR03, then TEA01.
        f.variant = 'udf';
        for (let i = 1; i < MAX_DESCRIPTORS; i++) {
          const id = b.latin1(DESCRIPTORS_START + i * SECTOR + 1, 5);
          if (id === 'NSR02' || id === 'NSR03') return;
          if (!UDF_IDS.includes(id)) break;
        }
        f.add('corrupt', 'UDF volume recognition sequence has no NSR descriptor');
        return;
      }
      f.variant = 'iso9660';
      for (let i = 0; i < MAX_DESCRIPTORS; i++) {
        const at = DESCRIPTORS_START + i * SECTOR;
        b.slice(at, SECTOR); // the whole descriptor must be present
        const type = b.u8(at);
        const id = b.latin1(at + 1, 5);
        if (id !== 'CD001') break;
        if (b.u8(at + 6) !== 1) {
          f.add('corrupt', `ISO 9660 descriptor ${i} has version ${b.u8(at + 6)}`);
          return;
        }
        if (type === 255) break; // set terminator
        if (type !== 1) continue;
        // Primary volume descriptor: both-endian fields must agree with themselves.
        const blocks = b.u32le(at + 80);
        const blockSize = b.u16le(at + 128);
        if (blocks !== b.u32be(at + 84) || blockSize !== b.u16be(at + 130)) {
          f.add('corrupt', 'ISO 9660 primary volume descriptor has inconsistent both-endian fields');
          return;
        }
        if (!isPowerOfTwo(blockSize) || blockSize < 512 || blockSize > 2048) {
          f.add('corrupt', `ISO 9660 logical block size ${blockSize} is invalid`);
          return;
        }
        const volume = BigInt(blocks) * BigInt(blockSize);
        if (volume > view.size) {
          f.add('corrupt', `ISO 9660 volume is ${volume} bytes but the file has only ${view.size}`);
        }
        return;
      }
      f.add('corrupt', 'ISO 9660 volume has no primary volume descriptor');
    });
  },
};
