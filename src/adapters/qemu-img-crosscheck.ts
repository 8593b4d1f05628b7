/**
 * Step 6 of the reference's pipeline: after the inspector accepted a file and
 * `qemu-img info -f <qemuFormat>` ran on it, what qemu saw must agree with
 * what we saw. A disagreement means one of the two parsers was fooled, and we
 * do not guess which: the image is refused. (qemu-img is never the safety
 * check; this is a second opinion that can only add refusals.)
 */
import type { InspectionResult, Violation } from '../formats/index.ts';
import type { QemuImageInfo } from './qemu-img.ts';

export interface CrossCheckOptions {
  /** The same limit the inspector used: checked again against qemu's number. */
  readonly maxVirtualSize: bigint;
}

const VMDK_CREATE_TYPES = new Set(['monolithicSparse', 'streamOptimized']);

/** Violations found by comparing qemu-img's report with the inspector's verdict; empty means they agree. */
export function crossCheckInfo(
  info: QemuImageInfo,
  inspection: InspectionResult,
  options: CrossCheckOptions,
): Violation[] {
  const v: Violation[] = [];
  const add = (reason: Violation['reason'], detail: string) => v.push({ reason, detail });
  const data = info.formatSpecific?.data ?? {};

  if (inspection.qemuFormat === null || info.format !== inspection.qemuFormat) {
    add('format-mismatch', `qemu-img reads ${info.format}, the inspector found ${inspection.format}`);
  }
  if (info.backingFilename !== null || info.backingFormat !== null || 'full-backing-filename' in info.raw) {
    add('backing-file', 'qemu-img reports a backing file');
  }
  if ('data-file' in data || 'data-file-raw' in data)
    add('data-file', 'qemu-img reports an external data file');
  if (info.encrypted || 'encrypt' in data) add('encrypted', 'qemu-img reports encryption');
  if (info.format === 'qcow2' && data['corrupt'] === true) add('corrupt', 'qemu-img reports the corrupt bit');
  if (info.format === 'vmdk') {
    const createType = data['create-type'];
    if (typeof createType !== 'string' || !VMDK_CREATE_TYPES.has(createType)) {
      add('external-extent', `qemu-img reports VMDK create type ${JSON.stringify(createType ?? null)}`);
    }
    const extents = data['extents'];
    const own =
      Array.isArray(extents) &&
      extents.length === 1 &&
      extents.every(
        (e) => e !== null && typeof e === 'object' && !Array.isArray(e) && e['filename'] === info.filename,
      );
    if (!own) add('external-extent', 'qemu-img reports VMDK extents other than the image itself');
  }
  if (info.virtualSize > options.maxVirtualSize) {
    add('too-large', `qemu-img reports a virtual size of ${info.virtualSize} bytes`);
  }
  if (info.virtualSize !== inspection.virtualSize) {
    add(
      'corrupt',
      `qemu-img reports a virtual size of ${info.virtualSize} bytes, the inspector ${inspection.virtualSize}`,
    );
  }
  return v;
}
