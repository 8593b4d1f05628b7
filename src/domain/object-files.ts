/**
 * Images from and to the tenants' object store (ims-api.md 2.2 C, 2.3, 2.4,
 * 2.6, 2.8): what the request bodies may say, the `bucket:object` addresses,
 * the format a file is declared as, and which bucket a project may touch.
 */
import { DomainError, fail } from './errors.ts';
import type { Image } from './image.ts';
import type { ImageFields } from './image-rules.ts';
import { ENTERPRISE_PROJECT_DEFAULT, checkEnterpriseProjectId, checkImsName } from './ims-properties.ts';
import { OS_TYPES } from './os-versions.ts';
import { encodeTag, tagsOfCreateBody, type KeyValueTag } from './tag-rules.ts';

/** A `bucket:object` address in the tenants' object store. */
export interface ObjectAddress {
  bucket: string;
  key: string;
}

/** Which create route a body came to; each has its own required fields and environment type. */
export type FileImageRoute = 'system' | 'data' | 'quick';

export interface FileImageRequest {
  name: string;
  description: string | null;
  source: ObjectAddress;
  /** GB. */
  minDisk: number;
  minRam: number;
  maxRam: number | null;
  osVersion: string | null;
  osType: string | null;
  virtualEnvType: 'FusionCompute' | 'Ironic' | 'DataImage' | 'IsoImage';
  diskFormat: string;
  architecture: 'x86' | 'arm';
  firmware: 'bios' | 'uefi' | null;
  quick: boolean;
  tags: KeyValueTag[];
  enterpriseProjectId: string;
  /** Data-disk images made with this one, from `data_images` (POST /v2/cloudimages/action only). */
  dataImages: FileImageRequest[];
}

/** IMS takes at most three data disks with one system-disk import (ims-api.md 2.2 C). */
export const MAX_DATA_IMAGES = 3;

export interface ExportRequest {
  target: ObjectAddress;
  /** null: the stored format, unchanged (quick export). */
  fileFormat: string | null;
}

const invalid = (why: string, imsCode = 'IMG.0001'): never => {
  throw new DomainError('ValidationFailed', why, { imsCode });
};

/** S3's bucket naming rules (3-63 lower-case letters, digits, '.', '-', starting and ending alphanumeric). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MAX_KEY_BYTES = 1024;

/** Whether a bucket name follows S3's rules (what `ims admin bucket grant` accepts). */
export function isBucketName(name: string): boolean {
  return BUCKET.test(name) && !name.includes('..');
}

/**
 * Parses `bucket:object`. Syntax errors name the field; the codes are IMS's
 * for a bad address (IMG.0017), a missing bucket (IMG.0068), a bad bucket
 * name (IMG.0109) and a bad file name (IMG.0073-0075).
 */
export function parseObjectAddress(field: string, value: unknown): ObjectAddress {
  if (value === undefined || value === null) return invalid(`'${field}' is required`, 'IMG.0001');
  if (typeof value !== 'string') return invalid(`Invalid value for '${field}': must be a string`);
  const colon = value.indexOf(':');
  if (colon < 0) return invalid(`Invalid value for '${field}': must be "bucket:object"`, 'IMG.0017');
  const bucket = value.slice(0, colon);
  const key = value.slice(colon + 1);
  if (bucket === '') return invalid(`Invalid value for '${field}': the bucket name is empty`, 'IMG.0068');
  if (!isBucketName(bucket))
    return invalid(`Invalid value for '${field}': "${bucket}" is not a valid bucket name`, 'IMG.0109');
  if (key === '') return invalid(`Invalid value for '${field}': the object name is empty`, 'IMG.0073');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES)
    return invalid(
      `Invalid value for '${field}': the object name exceeds ${MAX_KEY_BYTES} bytes`,
      'IMG.0074',
    );
  // Control characters are never part of a real file name and confuse logs and listings.
  if (/\p{Cc}/u.test(key) || key.startsWith('/'))
    return invalid(`Invalid value for '${field}': the object name has invalid characters`, 'IMG.0075');
  return { bucket, key };
}

/** A user's file name extension → the disk_format it is declared as (the data must then be that format). */
const EXTENSIONS: Readonly<Record<string, string>> = {
  qcow2: 'qcow2',
  vhd: 'vhd',
  vhdx: 'vhdx',
  vmdk: 'vmdk',
  raw: 'raw',
  img: 'raw',
  qed: 'qed',
  vdi: 'vdi',
  zvhd: 'zvhd',
  zvhd2: 'zvhd2',
  iso: 'iso',
};

/** The disk_format a file declares by its extension (IMS names formats so); IMG.0057 when none fits. */
export function declaredFormatOf(key: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(key)?.[1]?.toLowerCase();
  const format = ext ? EXTENSIONS[ext] : undefined;
  if (!format)
    return invalid(
      `The file "${key}" does not name a supported format: its extension must be one of ` +
        `${Object.keys(EXTENSIONS)
          .map((e) => `.${e}`)
          .join(', ')}`,
      'IMG.0057',
    );
  return format;
}

/** Keys that ask for an image from a server, a volume or a backup: not available here. */
const COMPUTE_SOURCES = ['instance_id', 'volume_id', 'backup_id'] as const;

/** Refuses the create variants that need a compute service, with one documented error. */
export function assertFileSource(b: Record<string, unknown>): void {
  const asked = COMPUTE_SOURCES.find((k) => b[k] !== undefined && b[k] !== null);
  const dataFromServer = b.data_images !== undefined && b.image_url === undefined;
  if (asked || dataFromServer)
    fail(
      'SourceNotAvailable',
      `Creating an image from a ${asked ? asked.replace('_id', '') : 'server data disk'}: ` +
        'source type not available in this deployment (it has no compute or block storage service); ' +
        'import a file from the object store with image_url instead',
    );
}

function objectBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return invalid('A request body is required', 'IMG.0007');
  if (typeof body !== 'object' || Array.isArray(body))
    return invalid('The request body must be a JSON object');
  return body as Record<string, unknown>;
}

function optionalString(b: Record<string, unknown>, field: string): string | null {
  const v = b[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') return invalid(`Invalid value for '${field}': must be a string`);
  return v;
}

function optionalBool(b: Record<string, unknown>, field: string): boolean {
  const v = b[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') return invalid(`Invalid value for '${field}': must be a boolean`);
  return v;
}

function intIn(
  b: Record<string, unknown>,
  field: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  const v = b[field];
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (v === undefined || v === null) return invalid(`'${field}' is required`);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    return invalid(`Invalid value for '${field}': must be an integer from ${min} to ${max}`, 'IMG.0055');
  return v;
}

function checkDescription(b: Record<string, unknown>): string | null {
  const d = optionalString(b, 'description');
  if (d === null) return null;
  if ([...d].length > 1024)
    return invalid("Invalid value for 'description': at most 1024 characters", 'IMG.0004');
  if (/[\r\n<>]/.test(d))
    return invalid("Invalid value for 'description': no line breaks, '<' or '>'", 'IMG.0054');
  return d;
}

/** `type` per route: system images (ECS/FusionCompute, BMS/Ironic, IsoImage), data images (DataImage). */
function envTypeOf(route: FileImageRoute, type: string | null): FileImageRequest['virtualEnvType'] {
  switch (type ?? (route === 'data' ? 'DataImage' : 'ECS')) {
    case 'ECS':
    case 'FusionCompute':
      if (route === 'data') break;
      return 'FusionCompute';
    case 'BMS':
    case 'Ironic':
      if (route === 'data') break;
      return 'Ironic';
    case 'IsoImage':
      if (route !== 'system') break;
      return 'IsoImage';
    case 'DataImage':
      if (route === 'system') break;
      return 'DataImage';
  }
  return invalid(`Invalid value for 'type': "${type}" is not allowed on this route`, 'IMG.0024');
}

/**
 * Checks the body of an image-from-file request: `POST /v2/cloudimages/action`
 * (system), `/v1/cloudimages/dataimages/action` (data) or
 * `/v2/cloudimages/quickimport/action` (quick, system or data by `type`).
 */
export function parseFileImageRequest(route: FileImageRoute, body: unknown): FileImageRequest {
  const b = objectBody(body);
  assertFileSource(b);
  const name = checkImsName(b.name);
  const source = parseObjectAddress('image_url', b.image_url);
  const virtualEnvType = envTypeOf(route, optionalString(b, 'type'));
  const data = virtualEnvType === 'DataImage';
  const minDisk = intIn(b, 'min_disk', 1, data ? 2048 : 1024);
  const quick = route === 'quick' || optionalBool(b, 'is_quick_import');
  const osVersion = optionalString(b, 'os_version');
  if (osVersion === null && !data && (quick || virtualEnvType === 'IsoImage'))
    invalid(`'os_version' is required for ${quick ? 'a quick import' : 'an ISO image'}`, 'IMG.0056');
  const osType = optionalString(b, 'os_type');
  if (osType !== null && !(OS_TYPES as readonly string[]).includes(osType))
    invalid(`Invalid value for 'os_type': must be one of ${OS_TYPES.join(', ')}`, 'IMG.0122');
  const architecture = optionalString(b, 'architecture') ?? 'x86';
  if (architecture !== 'x86' && architecture !== 'arm')
    invalid("Invalid value for 'architecture': must be x86 or arm", 'IMG.0212');
  const firmware = optionalString(b, 'hw_firmware_type');
  if (firmware !== null && firmware !== 'bios' && firmware !== 'uefi')
    invalid("Invalid value for 'hw_firmware_type': must be bios or uefi", 'IMG.0141');
  if (optionalString(b, 'cmk_id'))
    fail('KmsNotAvailable', 'cmk_id: this deployment has no KMS, so images cannot be encrypted with a key');
  optionalBool(b, 'is_config');
  const diskFormat = declaredFormatOf(source.key);
  if (virtualEnvType === 'IsoImage' && diskFormat !== 'iso')
    invalid(`An ISO image needs an .iso file, got "${source.key}"`, 'IMG.0057');
  if (virtualEnvType !== 'IsoImage' && diskFormat === 'iso')
    invalid('An .iso file makes an ISO image: send "type": "IsoImage"', 'IMG.0057');
  if (quick && diskFormat !== 'raw' && diskFormat !== 'zvhd2')
    invalid(`A quick import takes RAW or ZVHD2 files only, got ${diskFormat}`, 'IMG.0057');
  const maxRamValue =
    b.max_ram === undefined || b.max_ram === null ? null : intIn(b, 'max_ram', 0, 2 ** 31 - 1);
  return {
    name,
    description: checkDescription(b),
    source,
    minDisk,
    minRam: intIn(b, 'min_ram', 0, 2 ** 31 - 1, 0),
    maxRam: maxRamValue,
    osVersion,
    osType,
    virtualEnvType,
    diskFormat,
    architecture: architecture as 'x86' | 'arm',
    firmware: (firmware as 'bios' | 'uefi' | null) ?? (architecture === 'arm' ? 'uefi' : null),
    quick,
    tags: tagsOfCreateBody(b),
    enterpriseProjectId:
      b.enterprise_project_id === undefined
        ? ENTERPRISE_PROJECT_DEFAULT
        : checkEnterpriseProjectId(b.enterprise_project_id),
    dataImages: parseDataImages(route, b),
  };
}

/**
 * The `data_images` of a system-disk import: each entry is a data-disk image
 * from its own file (`name`, `image_url`, `min_disk` 1..2048, `description`,
 * `is_quick_import`, `tags`/`image_tags`), in the request's enterprise project.
 * An error names the entry it is about.
 */
function parseDataImages(route: FileImageRoute, b: Record<string, unknown>): FileImageRequest[] {
  const list = b.data_images;
  if (list === undefined || list === null) return [];
  if (route !== 'system')
    invalid("'data_images' is accepted only with a system-disk image (POST /v2/cloudimages/action)");
  if (!Array.isArray(list)) return invalid("Invalid value for 'data_images': must be an array");
  if (list.length > MAX_DATA_IMAGES)
    invalid(`Invalid value for 'data_images': at most ${MAX_DATA_IMAGES} data disks per import`);
  return list.map((entry: unknown, i) => {
    const where = `data_images[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      return invalid(`Invalid value for '${where}': must be an object`);
    const e = entry as Record<string, unknown>;
    if (e.type !== undefined && e.type !== 'DataImage')
      invalid(`Invalid value for '${where}.type': a data disk is "DataImage"`, 'IMG.0024');
    try {
      return parseFileImageRequest('data', {
        ...e,
        type: 'DataImage',
        enterprise_project_id: b.enterprise_project_id,
      });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      throw new DomainError(err.code, `${where}: ${err.message}`, err.details);
    }
  });
}

/**
 * The new image: private, queued until its job has the data. `__data_origin`
 * names the user's file (`file,bucket:object`); nothing says where IMS keeps the bytes.
 */
export function fileImageFields(req: FileImageRequest, owner: string): ImageFields {
  const properties: Record<string, string> = {
    virtual_env_type: req.virtualEnvType,
    __data_origin: `file,${req.source.bucket}:${req.source.key}`,
    __root_origin: 'file',
    __isregistered: 'true',
  };
  if (req.osVersion !== null) properties.__os_version = req.osVersion;
  // A data disk names no OS version, only the OS family of the server it served (`os_type`);
  // with a version the catalogue decides the family.
  else if (req.osType !== null) properties.__os_type = req.osType;
  if (req.description !== null) properties.__description = req.description;
  if (req.firmware !== null) properties.hw_firmware_type = req.firmware;
  if (req.architecture === 'arm') properties.__support_arm = 'true';
  if (req.maxRam !== null) properties.max_ram = String(req.maxRam);
  return {
    name: req.name,
    visibility: 'private',
    owner,
    protected: false,
    osHidden: false,
    containerFormat: 'bare',
    diskFormat: req.diskFormat,
    minDisk: req.minDisk,
    minRam: req.minRam,
    tags: req.tags.map(encodeTag),
    properties,
    enterpriseProjectId: req.enterpriseProjectId,
  };
}

/** The body of `PUT /v1/cloudimages/{id}/upload`. */
export function parseRegisterRequest(body: unknown): ObjectAddress {
  return parseObjectAddress('image_url', objectBody(body).image_url);
}

/** Formats an export may be asked in (IMS: qcow2, vhd, zvhd, vmdk; IMS also names raw for quick export). */
const EXPORT_FORMATS = ['qcow2', 'vhd', 'zvhd', 'vmdk'] as const;

/** The body of `POST /v1/cloudimages/{id}/file`. */
export function parseExportRequest(body: unknown): ExportRequest {
  const b = objectBody(body);
  const target = parseObjectAddress('bucket_url', b.bucket_url);
  const quick = optionalBool(b, 'is_quick_export');
  const fileFormat = optionalString(b, 'file_format');
  if (quick && fileFormat !== null)
    invalid("'file_format' must be absent when 'is_quick_export' is true (the stored format is exported)");
  if (!quick && fileFormat === null) invalid("'file_format' is required unless 'is_quick_export' is true");
  if (fileFormat !== null && !(EXPORT_FORMATS as readonly string[]).includes(fileFormat))
    invalid(`Invalid value for 'file_format': must be one of ${EXPORT_FORMATS.join(', ')}`, 'IMG.0072');
  return { target, fileFormat };
}

/** IMS's export rules (2.8): active, not public, not ISO, and IMS's size limit for a normal export. */
export function assertExportable(image: Image, req: ExportRequest): void {
  if (image.visibility === 'public')
    invalid(`Image ${image.id} is public: public images cannot be exported`, 'IMG.0077');
  if (image.status !== 'active' || !image.blobId)
    fail('ImageNotActive', `Image ${image.id} is ${image.status}: only active images can be exported`);
  const env = image.properties.virtual_env_type;
  if (env === 'IsoImage' || image.diskFormat === 'iso')
    fail('NotForIsoImage', `Image ${image.id} is an ISO image: ISO images cannot be exported`);
  const stored = image.diskFormat ?? '';
  const closed = (f: string) => f === 'zvhd' || f === 'zvhd2';
  if (req.fileFormat !== null && req.fileFormat !== stored && (closed(req.fileFormat) || closed(stored)))
    invalid(
      `Export of a ${stored} image as ${req.fileFormat}: format not supported by this deployment ` +
        '(zvhd and zvhd2 are closed formats qemu-img cannot convert)',
      'IMG.0072',
    );
  if (req.fileFormat !== null && (image.size ?? 0) >= 128 * 1024 ** 3)
    invalid(`Image ${image.id} is 128 GB or larger: only a quick export can export it`, 'IMG.0160');
}

/**
 * Whether a project may use the bucket. The image store's own buckets are
 * refused even when granted: an operator's mistake must not let a tenant read
 * or overwrite every image's bytes. The answer does not say which case applies.
 */
export function assertBucketUsable(
  bucket: string,
  granted: boolean,
  imageStoreBuckets: readonly string[],
): void {
  if (!granted || imageStoreBuckets.includes(bucket))
    fail('BucketNotGranted', `Bucket ${bucket} is not granted to this project`);
}
