import { hasMagic } from './bytes.ts';
import type { Detection } from './types.ts';
import type { Detector, FileView } from './view.ts';

/**
 * Partition tables. Raw has no signature of its own (it is what remains when
 * nothing else matches); an MBR or GPT only tells that the raw disk is
 * partitioned. The match matters for two rules: a partition table may share a
 * file with an ISO (hybrid boot ISO) or a fixed VHD (its payload is a raw
 * disk), and with nothing else.
 */

/** Boot sectors of a partition (FAT, NTFS, exFAT) also end in 55 AA; they are not partition tables. */
function isFilesystemBootSector(s: Buffer): boolean {
  const at = (o: number, text: string) => s.toString('latin1', o, o + text.length) === text;
  return at(3, 'NTFS    ') || at(3, 'EXFAT   ') || at(54, 'FAT') || at(82, 'FAT32');
}

export function partitionTable(head: Buffer): 'mbr' | 'gpt' | null {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return null;
  let used = 0;
  let protective = false;
  for (let i = 0; i < 4; i++) {
    const e = 446 + i * 16;
    const boot = head[e] as number;
    if (boot !== 0x00 && boot !== 0x80) return null;
    const type = head[e + 4] as number;
    if (type !== 0) used++;
    if (type === 0xee && head.readUInt32LE(e + 8) === 1) protective = true;
  }
  if (used === 0 || isFilesystemBootSector(head)) return null;
  // GPT header at LBA 1: offset 512 for 512-byte sectors, 4096 for 4K-sector disks.
  if (protective && (hasMagic(head, 512, 'EFI PART') || hasMagic(head, 4096, 'EFI PART'))) return 'gpt';
  return 'mbr';
}

export const partitionTableDetector: Detector = {
  name: 'partition-table',
  plan: () => [],
  detect(view: FileView): Detection | null {
    const kind = partitionTable(view.head);
    if (!kind) return null;
    return {
      format: 'raw',
      variant: kind,
      role: 'content',
      virtualSize: null,
      claimedSizes: [],
      violations: [],
    };
  },
};
