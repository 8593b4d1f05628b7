/**
 * IMS's in-region copy (CopyImageInRegion, ims-api.md 2.9): what a request
 * may ask, which images may be copied, and what the copy is made of.
 */
import { DomainError, fail } from './errors.ts';
import type { Image } from './image.ts';
import type { ImageFields } from './image-rules.ts';
import {
  ENTERPRISE_PROJECT_DEFAULT,
  SERVICE_SET_IMS_PROPERTIES,
  checkEnterpriseProjectId,
  checkImsName,
} from './ims-properties.ts';
import type { MemberStatus } from './visibility.ts';

export interface CopyRequest {
  name: string;
  description: string | null;
  enterpriseProjectId: string;
}

const invalid = (why: string, imsCode = 'IMG.0001'): never => {
  throw new DomainError('ValidationFailed', why, { imsCode });
};

/** A copy's `description`: absent, or at most 1024 characters on one line without markup. */
function checkDescription(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') return invalid("Invalid value for 'description': must be a string");
  if ([...value].length > 1024)
    return invalid("Invalid value for 'description': must be at most 1024 characters", 'IMG.0004');
  if (/[\r\n<>]/.test(value))
    return invalid("Invalid value for 'description': must not contain line breaks, '<' or '>'", 'IMG.0054');
  return value;
}

/** Checks the body of `POST /v1/cloudimages/{id}/copy`; unknown members are ignored, as IMS does. */
export function parseCopyRequest(body: unknown): CopyRequest {
  if (body === undefined || body === null) return invalid('A request body is required', 'IMG.0007');
  if (typeof body !== 'object' || Array.isArray(body))
    return invalid('The request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const name = checkImsName(b.name);
  const description = checkDescription(b.description);
  const enterpriseProjectId =
    b.enterprise_project_id === undefined
      ? ENTERPRISE_PROJECT_DEFAULT
      : checkEnterpriseProjectId(b.enterprise_project_id);
  if (b.cmk_id !== undefined && b.cmk_id !== null && b.cmk_id !== '')
    fail('KmsNotAvailable', 'cmk_id: this deployment has no KMS, so copies cannot be encrypted with a key');
  return { name, description, enterpriseProjectId };
}

/**
 * Whether the caller may copy the image. `membership` is the caller's on
 * another tenant's image (null for the owner's own or a public image).
 */
export function assertCopyable(image: Image, ownImage: boolean, membership: MemberStatus | null): void {
  if (!ownImage && image.visibility === 'shared' && membership !== 'accepted')
    fail(
      'SharedImageNotAccepted',
      `Image ${image.id} is shared with you but not accepted: accept it before copying`,
    );
  if (image.status !== 'active')
    fail('ImageNotActive', `Image ${image.id} is ${image.status}: only active images can be copied`);
  if (isIsoImage(image))
    fail('NotForIsoImage', `Image ${image.id} is an ISO image: ISO images cannot be copied`);
  if (!image.blobId) fail('ImageNotActive', `Image ${image.id} has no data to copy`);
}

function isIsoImage(image: Image): boolean {
  const env = image.properties.virtual_env_type;
  return env === 'IsoImage' || (env === undefined && image.diskFormat === 'iso');
}

/** Properties a copy does not inherit: Glance's import bookkeeping, and what the copy sets itself. */
function inherited(name: string): boolean {
  return !name.startsWith('os_glance_') && name !== '__originalimagename' && name !== '__description';
}

/**
 * The copy: a private image of the caller with the source's formats and IMS
 * properties, pointing back at its source through `__originalimagename`.
 */
export function copyFields(source: Image, owner: string, req: CopyRequest): ImageFields {
  const properties = Object.fromEntries(Object.entries(source.properties).filter(([k]) => inherited(k)));
  properties.__originalimagename = source.id;
  if (req.description !== null) properties.__description = req.description;
  return {
    name: req.name,
    visibility: 'private',
    owner,
    protected: false,
    osHidden: false,
    containerFormat: source.containerFormat,
    diskFormat: source.diskFormat,
    minDisk: source.minDisk,
    minRam: source.minRam,
    tags: [],
    properties,
    enterpriseProjectId: req.enterpriseProjectId,
  };
}

/** What `POST /v1/cloudimages/{id}/cross_region_copy` asks (ims-api.md 2.10). */
export interface CrossRegionCopyRequest {
  name: string;
  description: string | null;
  region: string;
  projectName: string;
  agencyName: string;
}

/** The largest image a cross-region copy takes, as IMS documents it (128 GB). */
export const CROSS_REGION_COPY_MAX_BYTES = 128 * 1024 ** 3;
/** Cross-region copies one project may have queued or running at once. */
export const CROSS_REGION_COPY_CONCURRENCY = 5;

export function parseCrossRegionCopyRequest(body: unknown): CrossRegionCopyRequest {
  if (body === undefined || body === null) return invalid('A request body is required', 'IMG.0007');
  if (typeof body !== 'object' || Array.isArray(body))
    return invalid('The request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const required = (field: string, imsCode = 'IMG.0001'): string => {
    const v = b[field];
    if (typeof v !== 'string' || v === '' || v.length > 255)
      return invalid(`Invalid value for '${field}': a string of 1-255 characters is required`, imsCode);
    return v;
  };
  return {
    name: checkImsName(b.name),
    description: checkDescription(b.description),
    region: required('region'),
    projectName: required('project_name', 'IMG.0145'),
    agencyName: required('agency_name', 'IMG.0179'),
  };
}

/** Only one's own active private data can go to another region, and within IMS's size limit. */
export function assertCrossRegionCopyable(image: Image, ownImage: boolean): void {
  if (!ownImage)
    fail('Forbidden', `Image ${image.id} is not yours: copy a shared image into your project first`);
  assertCopyable(image, true, null);
  if ((image.size ?? 0) > CROSS_REGION_COPY_MAX_BYTES)
    throw new DomainError(
      'ValidationFailed',
      `Image ${image.id} is larger than the ${CROSS_REGION_COPY_MAX_BYTES} bytes a cross-region copy takes`,
      { imsCode: 'IMG.0059' },
    );
}

/**
 * The image the copy makes in the other region, as a Glance create body: the source's
 * formats, properties (those the service sets itself there excepted) and tags, the new name
 * and description, owned by the target project and private.
 */
export function crossRegionImageBody(
  source: Image,
  req: Pick<CrossRegionCopyRequest, 'name' | 'description'>,
  id: string,
  owner: string,
): Record<string, unknown> {
  const properties = Object.fromEntries(
    Object.entries(source.properties).filter(([k]) => inherited(k) && !SERVICE_SET_IMS_PROPERTIES.has(k)),
  );
  const description = req.description ?? source.properties.__description ?? null;
  return {
    ...properties,
    ...(description !== null ? { __description: description } : {}),
    id,
    name: req.name,
    owner,
    visibility: 'private',
    disk_format: source.diskFormat,
    container_format: source.containerFormat,
    min_disk: source.minDisk,
    min_ram: source.minRam,
    tags: source.tags.filter((t) => !t.includes('=')),
  };
}

/**
 * The key/value tags among an image's Glance tags (`key=value`): Glance's create refuses
 * them as simple tags, so a copy made through another region's API sets them one by one.
 */
export function keyValueTagsOf(image: Image): { key: string; value: string }[] {
  return image.tags
    .filter((t) => t.includes('='))
    .map((t) => ({ key: t.slice(0, t.indexOf('=')), value: t.slice(t.indexOf('=') + 1) }));
}
