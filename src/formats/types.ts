/**
 * Types shared by the detectors and the two inspectors (random access and
 * streaming). See README.md in this folder for what is accepted and why.
 */

/** Why an image is refused. One class per kind of danger, so callers can map them to messages. */
export const VIOLATION_REASONS = [
  'backing-file',
  'data-file',
  'external-extent',
  'format-mismatch',
  'too-large',
  'corrupt',
  'encrypted',
  'unsupported-feature',
  'unknown',
] as const;
export type ViolationReason = (typeof VIOLATION_REASONS)[number];

export interface Violation {
  readonly reason: ViolationReason;
  /** Human-readable; safe to show to the uploader (it only quotes the image's own bytes, escaped). */
  readonly detail: string;
}

/** Formats IMS accepts (after their safety checks). `qcow` is legacy qcow v1. */
export const ACCEPTED_FORMATS = ['raw', 'qcow2', 'qcow', 'vmdk', 'vhd', 'vhdx', 'vdi', 'qed', 'iso'] as const;
export type AcceptedFormat = (typeof ACCEPTED_FORMATS)[number];

/** Formats qemu could read that IMS recognises only to refuse them. */
export const REFUSED_FORMATS = ['luks', 'bochs', 'cloop', 'dmg', 'parallels'] as const;
export type RefusedFormat = (typeof REFUSED_FORMATS)[number];

/** `unknown`: several formats claim the same bytes (a polyglot), so none can be trusted. */
export type DetectedFormat = AcceptedFormat | RefusedFormat | 'unknown';

/** The qemu block driver to pass as `-f` (note `vpc` for VHD). */
export type QemuDriver = 'raw' | 'qcow2' | 'qcow' | 'vmdk' | 'vpc' | 'vhdx' | 'vdi' | 'qed';

/**
 * `container`: a disk format that wraps the guest data (qcow2, VMDK, ...).
 * `content`: a signature of the guest data itself (MBR/GPT partition table,
 * ISO 9660 volume), which may legitimately sit inside a raw disk, a fixed VHD,
 * or (MBR/GPT) the system area of an ISO.
 */
export type DetectionRole = 'container' | 'content';

/** What one detector found. A file may produce several (that is how polyglots are caught). */
export interface Detection {
  readonly format: AcceptedFormat | RefusedFormat;
  /** Sub-format, e.g. `v3`, `monolithicSparse`, `dynamic`, `gpt`, `hybrid`. */
  readonly variant: string;
  readonly role: DetectionRole;
  /** The size qemu would report, when the header gives one. */
  readonly virtualSize: bigint | null;
  /** Every size the header claims (e.g. both VHD sizing rules); all are checked against the limit. */
  readonly claimedSizes: readonly bigint[];
  readonly violations: readonly Violation[];
}

export interface InspectionResult {
  /**
   * What the bytes are. For an accepted zvhd/zvhd2 upload this is the declared
   * name (those formats are opaque: nothing else matched).
   */
  readonly format: DetectedFormat | 'zvhd' | 'zvhd2';
  readonly variant: string;
  /**
   * Virtual disk size in bytes as qemu-img would report it. For raw and ISO
   * that is the file size rounded up to a 512-byte sector. For zvhd/zvhd2 the
   * size is unknown and this is the file size. 0n when a refused file gives none.
   */
  readonly virtualSize: bigint;
  /** Length of the inspected file or stream in bytes. */
  readonly size: bigint;
  /** The `-f` for qemu-img, or null when qemu-img must not open the file (refused, zvhd). */
  readonly qemuFormat: QemuDriver | null;
  /** The declared disk_format that was checked, if any. */
  readonly declaredFormat: string | null;
  /** Every detector that matched, in detector order. */
  readonly detections: readonly Detection[];
  /** Empty means acceptable. */
  readonly violations: readonly Violation[];
  readonly ok: boolean;
}

export interface InspectOptions {
  /** Largest virtual size accepted, in bytes; a larger one is a `too-large` violation. */
  readonly maxVirtualSize: bigint;
  /** The disk_format the uploader declared; when given, detected ≠ declared is a `format-mismatch`. */
  readonly declaredFormat?: string;
}

/**
 * A stored file, read by offset. `read` resolves to exactly `length` bytes when
 * `offset + length <= size`; the inspector never asks past `size`.
 */
export interface RandomAccessReader {
  readonly size: bigint;
  read(offset: bigint, length: number): Promise<Buffer>;
}
