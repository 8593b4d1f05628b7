import type { GlanceImage } from '../../../sdk/client.ts';
import type { Column } from '../client/output.ts';
import { humanBytes } from '../client/output.ts';

/** The list columns of images. */
export const IMAGE_COLUMNS: Column<GlanceImage>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'NAME', value: (i) => i.name },
  { header: 'STATUS', value: (i) => i.status },
  { header: 'VISIBILITY', value: (i) => i.visibility },
  { header: 'DISK', value: (i) => i.disk_format },
  { header: 'SIZE', value: (i) => humanBytes(i.size) },
];

/** The fields `image show` lists first; the others follow sorted. */
export const IMAGE_FIELDS = [
  'id',
  'name',
  'status',
  'visibility',
  'owner',
  'disk_format',
  'container_format',
  'size',
  'virtual_size',
  'checksum',
  'tags',
  'created_at',
  'updated_at',
];
