import { roundUp } from './bytes.ts';
import { acceptedFor, isOpaqueFormat } from './declared.ts';
import { DETECTORS } from './detectors.ts';
import type {
  Detection,
  DetectedFormat,
  InspectOptions,
  InspectionResult,
  QemuDriver,
  Violation,
  ViolationReason,
} from './types.ts';
import type { FileView } from './view.ts';

const QEMU_DRIVER: Partial<Record<DetectedFormat, QemuDriver>> = {
  raw: 'raw',
  qcow2: 'qcow2',
  qcow: 'qcow',
  vmdk: 'vmdk',
  vhd: 'vpc',
  vhdx: 'vhdx',
  vdi: 'vdi',
  qed: 'qed',
  // qemu has no ISO driver: it reads an ISO as raw (IMS never converts one).
  iso: 'raw',
};

interface Primary {
  format: DetectedFormat;
  variant: string;
  virtualSize: bigint;
  /** The detections the verdict rests on (their violations and sizes count). */
  basis: Detection[];
  violations: Violation[];
}

const names = (ds: readonly Detection[]) => ds.map((d) => `${d.format} (${d.variant})`).join(', ');

/**
 * Decides what the file is from everything that matched. Containers (qcow2,
 * VMDK, ...) exclude each other. Content signatures may sit inside: an MBR/GPT
 * in a hybrid ISO or in the payload of a fixed VHD (which is a raw disk plus a
 * footer). Any other combination is a polyglot that some reader would take for
 * the other format, so it is refused.
 */
function decide(size: bigint, detections: readonly Detection[]): Primary {
  const containers = detections.filter((d) => d.role === 'container');
  const contents = detections.filter((d) => d.role === 'content');
  const iso = contents.find((d) => d.format === 'iso');
  const table = contents.find((d) => d.format === 'raw');
  const rawSize = roundUp(size, 512n);
  const polyglot = (): Primary => ({
    format: 'unknown',
    variant: 'polyglot',
    virtualSize: detections.reduce(
      (m, d) => (d.virtualSize !== null && d.virtualSize > m ? d.virtualSize : m),
      0n,
    ),
    basis: [...detections],
    violations: [
      { reason: 'format-mismatch', detail: `several formats match the same bytes: ${names(detections)}` },
    ],
  });
  if (containers.length > 1) return polyglot();
  const [container] = containers;
  if (container) {
    const fixedVhd = container.format === 'vhd' && container.variant === 'fixed';
    const stray = contents.filter((d) => !(fixedVhd && d.format === 'raw'));
    if (stray.length) return polyglot();
    return {
      format: container.format,
      variant: container.variant,
      virtualSize: container.virtualSize ?? 0n,
      basis: [container],
      violations: [],
    };
  }
  if (iso) {
    return {
      format: 'iso',
      variant: table ? `${iso.variant}+${table.variant}` : iso.variant,
      virtualSize: rawSize,
      basis: [...contents],
      violations: [],
    };
  }
  return {
    format: 'raw',
    variant: table ? table.variant : 'plain',
    virtualSize: rawSize,
    basis: [...contents],
    violations: [],
  };
}

function sizeViolations(primary: Primary, limit: bigint): Violation[] {
  const claimed = [primary.virtualSize, ...primary.basis.flatMap((d) => d.claimedSizes)];
  const largest = claimed.reduce((m, s) => (s > m ? s : m), 0n);
  if (largest <= limit) return [];
  return [
    {
      reason: 'too-large',
      detail: `${primary.format} image claims a virtual size of ${largest} bytes, above the limit of ${limit}`,
    },
  ];
}

function declaredViolations(
  declared: string,
  primary: Primary,
  detections: readonly Detection[],
): Violation[] {
  const mismatch = (detail: string): Violation[] => [{ reason: 'format-mismatch', detail }];
  if (isOpaqueFormat(declared)) {
    return detections.length
      ? mismatch(`declared ${declared}, but the data is recognisably ${names(detections)}`)
      : [];
  }
  const accepted = acceptedFor(declared);
  if (!accepted) {
    const reason: ViolationReason = declared === 'ploop' ? 'unsupported-feature' : 'unknown';
    return [
      { reason, detail: `disk format ${JSON.stringify(declared.slice(0, 40))} is not accepted by IMS` },
    ];
  }
  if (accepted.includes(primary.format)) return [];
  return mismatch(`declared ${declared}, but the data is ${primary.format} (${primary.variant})`);
}

function dedupe(vs: readonly Violation[]): Violation[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const k = `${v.reason}\0${v.detail}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The verdict on one file. Pure: the same view and options always give the same result. */
export function judge(view: FileView, options: InspectOptions): InspectionResult {
  const detections = DETECTORS.map((d) => d.detect(view)).filter((d): d is Detection => d !== null);
  const primary = decide(view.size, detections);
  const declared = options.declaredFormat ?? null;
  const violations = dedupe([
    ...(view.size === 0n ? [{ reason: 'corrupt' as const, detail: 'the image is empty' }] : []),
    ...primary.violations,
    ...primary.basis.flatMap((d) => d.violations),
    ...sizeViolations(primary, options.maxVirtualSize),
    ...(declared === null ? [] : declaredViolations(declared, primary, detections)),
  ]);
  const ok = violations.length === 0;
  const opaque = declared !== null && isOpaqueFormat(declared) && ok;
  return {
    format: opaque ? declared : primary.format,
    variant: opaque ? 'opaque' : primary.variant,
    virtualSize: opaque ? view.size : primary.virtualSize,
    size: view.size,
    qemuFormat: ok && !opaque ? (QEMU_DRIVER[primary.format] ?? null) : null,
    declaredFormat: declared,
    detections,
    violations,
    ok,
  };
}
