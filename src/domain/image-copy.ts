/**
 * IMS's in-region copy (CopyImageInRegion, ims-api.md 2.9): what a request
 * may ask, which images may be copied, and what the copy is made of.
 */
import { DomainError, fail } from './errors.ts';
import type { Image } from './image.ts';
import type { ImageFields } from './image-rules.ts';
import { ENTERPRISE_PROJECT_DEFAULT, checkEnterpriseProjectId, checkImsName } from './ims-properties.ts';
import type { MemberStatus } from './visibility.ts';

export interface CopyRequest {
  name: string;
  description: string | null;
  enterpriseProjectId: string;
}

const invalid = (why: string, imsCode = 'IMG.0001'): never => {
  throw new DomainError('ValidationFailed', why, { imsCode });
};

/** Checks the body of `POST /v1/cloudimages/{id}/copy`; unknown members are ignored, as IMS does. */
export function parseCopyRequest(body: unknown): CopyRequest {
  if (body === undefined || body === null) return invalid('A request body is required', 'IMG.0007');
  if (typeof body !== 'object' || Array.isArray(body))
    return invalid('The request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const name = checkImsName(b.name);
  let description: string | null = null;
  if (b.description !== undefined && b.description !== null) {
    if (typeof b.description !== 'string')
      return invalid("Invalid value for 'description': must be a string");
    if ([...b.description].length > 1024)
      return invalid("Invalid value for 'description': must be at most 1024 characters", 'IMG.0004');
    if (/[\r\n<>]/.test(b.description))
      return invalid("Invalid value for 'description': must not contain line breaks, '<' or '>'", 'IMG.0054');
    description = b.description;
  }
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
