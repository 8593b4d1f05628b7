import type { DetectedFormat } from './types.ts';

/**
 * Which detected formats satisfy a declared disk_format.
 *
 * - raw, and Glance's ami/aki/ari (raw machine, kernel and ramdisk images),
 *   accept only raw; an MBR/GPT disk is raw.
 * - qcow2 also accepts legacy qcow v1 (Glance has no `qcow` disk format); it
 *   must then be converted with `-f qcow`, which `qemuFormat` says.
 * - iso accepts only an ISO; an ISO declared as anything else is refused, as
 *   in Glance (it is stored as an ISO, never converted).
 * - zvhd/zvhd2 are closed formats stored as opaque pass-through: acceptable
 *   only when no detector recognises anything in the file.
 * - Every other declared name (ploop, unknown strings) is refused.
 */
const ACCEPTS: Readonly<Record<string, readonly DetectedFormat[]>> = {
  raw: ['raw'],
  ami: ['raw'],
  aki: ['raw'],
  ari: ['raw'],
  qcow2: ['qcow2', 'qcow'],
  vmdk: ['vmdk'],
  vhd: ['vhd'],
  vhdx: ['vhdx'],
  vdi: ['vdi'],
  qed: ['qed'],
  iso: ['iso'],
};

export const OPAQUE_FORMATS = ['zvhd', 'zvhd2'] as const;
export type OpaqueFormat = (typeof OPAQUE_FORMATS)[number];

export function isOpaqueFormat(declared: string): declared is OpaqueFormat {
  return (OPAQUE_FORMATS as readonly string[]).includes(declared);
}

/** The detected formats a declared disk_format accepts, or null when IMS does not accept that name at all. */
export function acceptedFor(declared: string): readonly DetectedFormat[] | null {
  return Object.hasOwn(ACCEPTS, declared) ? (ACCEPTS[declared] ?? null) : null;
}
