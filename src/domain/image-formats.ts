/**
 * The values an image's `disk_format` and `container_format` may take.
 *
 * Glance makes both lists operator-configurable ([image_format] disk_formats /
 * container_formats); these are its shipped defaults, with the disk list
 * extended by the formats Huawei Cloud IMS images use.
 */

/** Glance's default disk formats, then `qed` and Huawei's `zvhd` / `zvhd2`. */
export const DISK_FORMATS = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'qcow2',
  'vdi',
  'iso',
  'ploop',
  'qed',
  'zvhd',
  'zvhd2',
] as const;
export type DiskFormat = (typeof DISK_FORMATS)[number];

/** Glance's default container formats. */
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'] as const;
export type ContainerFormat = (typeof CONTAINER_FORMATS)[number];

export function isDiskFormat(value: string): value is DiskFormat {
  return (DISK_FORMATS as readonly string[]).includes(value);
}

export function isContainerFormat(value: string): value is ContainerFormat {
  return (CONTAINER_FORMATS as readonly string[]).includes(value);
}
