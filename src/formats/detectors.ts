import { isoDetector } from './iso.ts';
import { qcowDetector } from './qcow2.ts';
import { qedDetector } from './qed.ts';
import { partitionTableDetector } from './raw.ts';
import { bochsDetector, cloopDetector, dmgDetector, luksDetector, parallelsDetector } from './signatures.ts';
import { vdiDetector } from './vdi.ts';
import { vhdDetector } from './vhd.ts';
import { vhdxDetector } from './vhdx.ts';
import { vmdkDetector } from './vmdk.ts';
import { grantRegions, type Detector, type GrantedRegion } from './view.ts';

/**
 * Every detector, run on every file (a VDI carries its magic at 0x40, a fixed
 * VHD at the end, an ISO at 32 KiB: stopping at the first match would miss
 * polyglots). The order is also the order in which the region budget is
 * handed out.
 */
export const DETECTORS: readonly Detector[] = [
  qcowDetector,
  qedDetector,
  vmdkDetector,
  vhdxDetector,
  vhdDetector,
  vdiDetector,
  luksDetector,
  bochsDetector,
  cloopDetector,
  parallelsDetector,
  dmgDetector,
  isoDetector,
  partitionTableDetector,
];

/** The regions to capture for a file that starts with `head`, after caps and budget. */
export function planRegions(head: Buffer): GrantedRegion[] {
  return grantRegions(DETECTORS.flatMap((d) => d.plan(head)));
}
