import type { Image } from '../../domain/image.ts';
import { imsProperties } from '../../domain/ims-properties.ts';
import { glanceTime } from '../openstack/image-view.ts';

/**
 * An image in IMS's shape: Glance's fields, the `__` properties with IMS's
 * defaults filled in, string-typed flags, `max_ram` as a string, and the
 * enterprise project. Description lives in `__description`. Object.assign, not spread:
 * see glanceImage.
 */
export function imsImage(image: Image): Record<string, unknown> {
  return Object.assign({}, image.properties, imsProperties(image, image.hasMembers ?? false), {
    id: image.id,
    name: image.name ?? '',
    status: image.status,
    visibility: image.visibility,
    owner: image.owner,
    protected: image.protected,
    container_format: image.containerFormat ?? '',
    disk_format: image.diskFormat ?? '',
    min_disk: image.minDisk,
    min_ram: image.minRam,
    max_ram: image.properties.max_ram ?? '',
    enterprise_project_id: image.enterpriseProjectId,
    tags: image.tags,
    checksum: image.checksum,
    size: image.size ?? 0,
    virtual_size: image.virtualSize,
    created_at: glanceTime(image.createdAt),
    updated_at: glanceTime(image.updatedAt),
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  });
}
