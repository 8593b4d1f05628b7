import type { ImageStatus } from './image-status.ts';
import { SERVICE_SET_IMS_PROPERTIES } from './ims-properties.ts';

export const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** One image as every layer sees it; the API families render it in their own shapes. */
export interface Image {
  id: string;
  name: string | null;
  status: ImageStatus;
  visibility: Visibility;
  owner: string;
  protected: boolean;
  osHidden: boolean;
  containerFormat: string | null;
  diskFormat: string | null;
  size: number | null;
  virtualSize: number | null;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  minDisk: number;
  minRam: number;
  createdAt: string;
  updatedAt: string;
  /** Stored bytes, shared between copies; null until data is committed. */
  blobId: string | null;
  tags: string[];
  /** Custom properties (Glance "extra properties"), always strings. */
  properties: Record<string, string>;
  /** Names of the stores holding the data (Glance multi-store `stores`); empty without data. */
  stores: string[];
  /** IMS enterprise project: "0" (the default one) or a UUID. */
  enterpriseProjectId: string;
  /** Whether the image has members; set only by reads that asked for it (IMS views). */
  hasMembers?: boolean;
}

/** Limits that Glance enforces by default and clients expect. */
export const IMAGE_LIMITS = {
  maxTags: 128,
  maxTagLength: 255,
  maxProperties: 128,
  maxPropertyKeyLength: 255,
  maxPropertyValueLength: 65535,
  maxNameLength: 255,
  maxInt32: 2 ** 31 - 1,
} as const;

/** Attributes every image has as named fields (Glance's base properties). */
export const BASE_ATTRIBUTES = [
  'id',
  'name',
  'status',
  'visibility',
  'owner',
  'protected',
  'os_hidden',
  'container_format',
  'disk_format',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'min_disk',
  'min_ram',
  'created_at',
  'updated_at',
  'tags',
  // A column of its own (IMS): settable on create and patch in both dialects.
  'enterprise_project_id',
] as const;

/** Set only by the service; clients that try get a 403. */
export const READ_ONLY_ATTRIBUTES = new Set<string>([
  'id',
  'status',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'created_at',
  'updated_at',
  'direct_url',
  'self',
  'file',
  'schema',
  'stores',
]);

/** Names the Glance API reserves; never stored as custom properties. */
export const RESERVED_ATTRIBUTES = new Set<string>(['location', 'locations', 'deleted', 'deleted_at']);

export type PropertyAccess = 'base' | 'read-only' | 'reserved' | 'custom';

/** Decides how a client-supplied attribute name may be used. */
export function classifyAttribute(name: string): PropertyAccess {
  if (RESERVED_ATTRIBUTES.has(name) || name.startsWith('os_glance')) return 'reserved';
  if (READ_ONLY_ATTRIBUTES.has(name)) return 'read-only';
  if (SERVICE_SET_IMS_PROPERTIES.has(name) || name.startsWith('__system__')) return 'read-only';
  if ((BASE_ATTRIBUTES as readonly string[]).includes(name)) return 'base';
  return 'custom';
}
