import { Bytes, hasMagic, isPowerOfTwo, ceilDiv } from './bytes.ts';
import { runDetector, type Findings } from './detection.ts';
import { safePlan, type Detector, type FileView } from './view.ts';

/**
 * VHD (qemu driver `vpc`), BE. A 512-byte footer at the end of the file;
 * dynamic and differencing disks also keep a copy at offset 0 and a 1024-byte
 * dynamic header at `data_offset`. qemu cannot probe a fixed VHD (its only
 * signature is at the end), so the tail is always checked.
 *
 * The virtual size follows qemu 7.2's vpc_open: the CHS geometry for creator
 * apps `vpc `, `qemu` and any it does not know, `current_size` for `win `,
 * `qem2`, `d2v `, `CTXS`, `tap\0` or when the geometry is the maximum. Both
 * numbers are checked against the limit (newer qemu picks the other one more
 * often).
 */
const COOKIE = 'conectix';
const DYN_COOKIE = 'cxsparse';
const TYPE_FIXED = 2;
const TYPE_DYNAMIC = 3;
const TYPE_DIFFERENCING = 4;
const MAX_GEOMETRY = 65535n * 16n * 255n;
const MAX_SECTORS = 0xff000000n; // qemu's 2040 GiB limit
const CURRENT_SIZE_CREATORS = ['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0'];

/** Ones' complement of the byte sum, with the 4-byte checksum field at `at` counted as zero. */
export function vhdChecksum(buf: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) if (i < at || i >= at + 4) sum += buf[i] as number;
  return ~sum >>> 0;
}

function headCopy(head: Buffer): boolean {
  return hasMagic(head, 0, COOKIE);
}

function tailFooter(view: FileView): Buffer | null {
  if (view.size < 512n) return null;
  const t = view.bytes(view.size - 512n, 512);
  return t && hasMagic(t, 0, COOKIE) ? t : null;
}

/** qemu's visible size and every size the footer claims. */
function sizes(footer: Bytes): { qemu: bigint; chs: bigint; current: bigint } {
  const creator = footer.latin1(28, 4);
  const current = footer.u64be(48);
  const sectors = BigInt(footer.u16be(56)) * BigInt(footer.u8(58)) * BigInt(footer.u8(59));
  const useChs = !CURRENT_SIZE_CREATORS.includes(creator) && sectors !== MAX_GEOMETRY;
  return { qemu: useChs ? sectors * 512n : (current / 512n) * 512n, chs: sectors * 512n, current };
}

function checkDynamicHeader(view: FileView, virtualSize: bigint, f: Findings): void {
  const r = view.region('vhd:dynamic');
  if (!r || r.data.length < 1024) return f.add('corrupt', 'VHD dynamic header is missing or truncated');
  const d = new Bytes(r.data);
  if (d.latin1(0, 8) !== DYN_COOKIE) return f.add('corrupt', 'VHD dynamic header has a bad cookie');
  if (vhdChecksum(d.slice(0, 1024), 36) !== d.u32be(36)) {
    return f.add('corrupt', 'VHD dynamic header checksum is wrong');
  }
  // Any trace of a parent: qemu would open the disk as dynamic and quietly drop the parent's data.
  if (!d.isZero(40, 16)) f.add('backing-file', 'VHD names a parent disk (parent UUID)');
  if (!d.isZero(64, 512)) {
    const name = Buffer.from(d.slice(64, 512)).swap16().toString('utf16le').replace(/\0+$/, '');
    f.add('backing-file', `VHD names a parent disk ${JSON.stringify(name.slice(0, 200))}`);
  }
  for (let i = 0; i < 8; i++) {
    if (d.u32be(576 + i * 24) !== 0) {
      f.add('backing-file', `VHD has a parent locator (entry ${i})`);
      break;
    }
  }
  const batOffset = d.u64be(16);
  const entries = d.u32be(28);
  const blockSize = d.u32be(32);
  if (!isPowerOfTwo(blockSize) || blockSize < 512) {
    return f.add('corrupt', `VHD block size ${blockSize} is invalid`);
  }
  const block = BigInt(blockSize);
  const needed = ceilDiv(virtualSize, block);
  if (needed > 0xffffffffn || BigInt(entries) < needed) {
    return f.add('corrupt', 'VHD block table is too small for the virtual size');
  }
  // The table is entries × 4 bytes that qemu allocates: tie it to the virtual size.
  if (BigInt(entries) > needed * 2n + 1n) {
    return f.add('corrupt', 'VHD block table is far larger than the virtual size needs');
  }
  if (batOffset + BigInt(entries) * 4n > view.size - 512n) {
    return f.add('corrupt', 'VHD block table lies past the end of the file');
  }
}

export const vhdDetector: Detector = {
  name: 'vhd',
  plan(head) {
    if (!headCopy(head)) return [];
    return safePlan(() => {
      const b = new Bytes(head);
      const type = b.u32be(60);
      if (type !== TYPE_DYNAMIC && type !== TYPE_DIFFERENCING) return [];
      return [{ key: 'vhd:dynamic', offset: b.u64be(16), length: 1024 }];
    });
  },
  detect(view) {
    const atHead = headCopy(view.head);
    const atTail = tailFooter(view);
    if (!atHead && !atTail) return null;
    return runDetector('vhd', 'container', (f) => {
      const footerBuf = atHead ? new Bytes(view.head).slice(0, 512) : (atTail as Buffer);
      const footer = new Bytes(footerBuf);
      const type = footer.u32be(60);
      f.variant = ['', '', 'fixed', 'dynamic', 'differencing'][type] || `type-${type}`;
      if (vhdChecksum(footerBuf, 64) !== footer.u32be(64)) f.add('corrupt', 'VHD footer checksum is wrong');
      const s = sizes(footer);
      f.virtualSize = s.qemu;
      // The maximum geometry is qemu's marker for "use current_size", not a size claim.
      if (s.chs !== MAX_GEOMETRY * 512n) f.claim(s.chs);
      f.claim(s.current);
      if (s.qemu / 512n > MAX_SECTORS) f.add('too-large', 'VHD is larger than the 2040 GiB qemu supports');
      if (type === TYPE_DIFFERENCING) f.add('backing-file', 'VHD is a differencing disk (it has a parent)');
      else if (type !== TYPE_FIXED && type !== TYPE_DYNAMIC) {
        return f.add('unsupported-feature', `VHD disk type ${type} is not supported`);
      }
      if (atHead) {
        // Dynamic layout: footer copy at 0 and at the end, identical.
        if (type === TYPE_FIXED) return f.add('corrupt', 'fixed VHD has a footer copy at offset 0');
        if (!atTail || !atTail.equals(footerBuf)) {
          return f.add(
            'corrupt',
            'VHD footer at the end of the file is missing or differs from the copy at 0',
          );
        }
        return checkDynamicHeader(view, s.qemu, f);
      }
      if (type !== TYPE_FIXED) return f.add('corrupt', 'dynamic VHD lacks its footer copy at offset 0');
      const data = view.size - 512n;
      if (s.qemu > data || s.current > data) {
        f.add(
          'corrupt',
          `fixed VHD claims ${s.qemu > s.current ? s.qemu : s.current} bytes but holds ${data}`,
        );
      }
    });
  },
};
