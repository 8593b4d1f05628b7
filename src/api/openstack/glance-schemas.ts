/**
 * JSON-schema documents served at GET /v2/schemas/{image,images,member,members}.
 *
 * Their shape follows what Glance (API v2.16) returns, because clients depend on it:
 * glanceclient caches the image schema, builds warlock models from it (validating
 * values client-side before a PATCH), and reads `is_base` to decide whether a property
 * it has not seen on an image is a base attribute (JSON-patch "replace") or a custom
 * one (JSON-patch "add").
 *
 * - image:   the "raw" form of a permissive schema: base properties, then the common
 *            properties of Glance's default schema-image.json (flagged `is_base: false`),
 *            `additionalProperties: {type: string}` and the self/enclosure/describedby links.
 * - images:  a collection wrapping the full image document, with first/next/schema
 *            properties and first/next/describedby links.
 * - member:  the "minimal" form: name and properties only (no links, no additionalProperties).
 * - members: the minimal collection form: members array plus schema, describedby link only.
 *
 * Every call builds a new object, so callers may mutate what they get.
 */
import { CONTAINER_FORMATS, DISK_FORMATS } from '../../domain/image-formats.ts';

export type JsonSchemaType = 'null' | 'string' | 'integer' | 'number' | 'boolean' | 'array' | 'object';

/** The subset of JSON-schema keywords these documents use. */
export interface PropertySchema {
  type?: JsonSchemaType | JsonSchemaType[];
  readOnly?: boolean;
  writeOnly?: boolean;
  description?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  enum?: (string | null)[];
  items?: PropertySchema | SchemaDocument;
  properties?: Record<string, PropertySchema>;
  additionalProperties?: boolean | PropertySchema;
  required?: string[];
  /** Glance's marker for properties that come from schema-image.json rather than the image model. */
  is_base?: boolean;
}

export interface SchemaLink {
  rel: string;
  href: string;
}

export interface SchemaDocument {
  name: string;
  properties: Record<string, PropertySchema>;
  additionalProperties?: boolean | PropertySchema;
  links?: SchemaLink[];
}

export interface ImageSchemaOptions {
  /** Allowed disk formats (default: DISK_FORMATS). */
  diskFormats?: readonly string[];
  /** Allowed container formats (default: CONTAINER_FORMATS). */
  containerFormats?: readonly string[];
}

/** Glance's UUID pattern (hex digits in either case, dashes required). */
export const UUID_PATTERN =
  '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

/** Image statuses in the order Glance lists them in the schema. */
const SCHEMA_IMAGE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'uploading',
  'importing',
  'pending_delete',
  'deactivated',
];

/** Visibilities in the order Glance lists them in the schema. */
const SCHEMA_VISIBILITIES = ['community', 'public', 'private', 'shared'];

const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'];

function readOnlyString(description: string): PropertySchema {
  return { type: 'string', readOnly: true, description };
}

function nullableEnum(values: readonly string[], description: string): PropertySchema {
  return { type: ['null', 'string'], description, enum: [null, ...values] };
}

/** The attributes every image has, in Glance's order. */
function baseImageProperties(options: ImageSchemaOptions): Record<string, PropertySchema> {
  return {
    id: { type: 'string', description: 'Unique identifier (UUID) of the image', pattern: UUID_PATTERN },
    name: { type: ['null', 'string'], description: 'Human-readable image name', maxLength: 255 },
    status: {
      type: 'string',
      readOnly: true,
      description: 'Lifecycle state of the image',
      enum: [...SCHEMA_IMAGE_STATUSES],
    },
    visibility: {
      type: 'string',
      description: 'Who may see and use the image',
      enum: [...SCHEMA_VISIBILITIES],
    },
    protected: { type: 'boolean', description: 'When true, the image cannot be deleted.' },
    os_hidden: {
      type: 'boolean',
      description: 'When true, the image is left out of default image listings.',
    },
    checksum: {
      type: ['null', 'string'],
      readOnly: true,
      description: 'MD5 digest of the image data.',
      maxLength: 32,
    },
    os_hash_algo: {
      type: ['null', 'string'],
      readOnly: true,
      description: 'Hash algorithm used to compute os_hash_value',
      maxLength: 64,
    },
    os_hash_value: {
      type: ['null', 'string'],
      readOnly: true,
      description: 'Hex digest of the image data, computed with os_hash_algo',
      maxLength: 128,
    },
    owner: { type: ['null', 'string'], description: 'Project that owns the image', maxLength: 255 },
    size: { type: ['null', 'integer'], readOnly: true, description: 'Size of the image data in bytes' },
    virtual_size: {
      type: ['null', 'integer'],
      readOnly: true,
      description: 'Size of the virtual disk in bytes',
    },
    container_format: nullableEnum(
      options.containerFormats ?? CONTAINER_FORMATS,
      'Container format of the image data',
    ),
    disk_format: nullableEnum(options.diskFormats ?? DISK_FORMATS, 'Disk format of the image data'),
    created_at: readOnlyString('When the image was created'),
    updated_at: readOnlyString('When the image was last changed'),
    tags: {
      type: 'array',
      description: 'Free-form strings attached to the image',
      items: { type: 'string', maxLength: 255 },
    },
    direct_url: readOnlyString('Location of the image data in the backing store'),
    min_ram: { type: 'integer', description: 'Minimum RAM (MB) needed to boot the image.' },
    min_disk: { type: 'integer', description: 'Minimum disk size (GB) needed to boot the image.' },
    self: readOnlyString('URL of this image'),
    file: readOnlyString('URL of the image data'),
    stores: readOnlyString(
      'Comma-separated identifiers of the stores holding the image data; only present when multiple stores are enabled.',
    ),
    schema: readOnlyString('URL of the schema describing this image'),
    locations: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          url: { type: 'string', maxLength: 255 },
          metadata: { type: 'object' },
          validation_data: {
            description:
              'Hash values for the image data at this location; they fill in the image when it is queued and must match it otherwise.',
            type: 'object',
            writeOnly: true,
            additionalProperties: false,
            properties: {
              checksum: { type: 'string', minLength: 32, maxLength: 32 },
              os_hash_algo: { type: 'string', maxLength: 64 },
              os_hash_value: { type: 'string', maxLength: 128 },
            },
            required: ['os_hash_algo', 'os_hash_value'],
          },
        },
        required: ['url', 'metadata'],
      },
      description: 'Locations of the image data in backing stores',
    },
  };
}

/**
 * The common properties Glance ships in its default etc/schema-image.json. They are
 * stored as ordinary (string) extra properties, so they carry `is_base: false`.
 */
function commonImageProperties(): Record<string, PropertySchema> {
  return {
    kernel_id: {
      type: ['null', 'string'],
      pattern: UUID_PATTERN,
      description: 'ID of the kernel image to boot an AMI-style image with.',
      is_base: false,
    },
    ramdisk_id: {
      type: ['null', 'string'],
      pattern: UUID_PATTERN,
      description: 'ID of the ramdisk image to boot an AMI-style image with.',
      is_base: false,
    },
    instance_uuid: {
      type: 'string',
      description: 'Instance this image was taken from (informational only).',
      is_base: false,
    },
    architecture: {
      description: 'CPU architecture the image needs, e.g. x86_64 or aarch64',
      type: 'string',
      is_base: false,
    },
    os_distro: {
      description: 'Operating system distribution, e.g. ubuntu or centos',
      type: 'string',
      is_base: false,
    },
    os_version: {
      description: 'Operating system version, as the distributor names it.',
      type: 'string',
      is_base: false,
    },
    description: {
      description: 'Free-text description of the image.',
      type: 'string',
      is_base: false,
    },
    cinder_encryption_key_id: {
      description: 'Key-manager ID of the key Cinder uses for volumes created from this image',
      type: 'string',
      is_base: false,
    },
    cinder_encryption_key_deletion_policy: {
      description:
        "When the key named by 'cinder_encryption_key_id' is deleted; if absent, the key is never deleted",
      type: 'string',
      enum: ['on_image_deletion', 'do_not_delete'],
      is_base: false,
    },
  };
}

function imageLinks(): SchemaLink[] {
  return [
    { rel: 'self', href: '{self}' },
    { rel: 'enclosure', href: '{file}' },
    { rel: 'describedby', href: '{schema}' },
  ];
}

/** GET /v2/schemas/image */
export function imageSchema(options: ImageSchemaOptions = {}): SchemaDocument {
  return {
    name: 'image',
    properties: { ...baseImageProperties(options), ...commonImageProperties() },
    additionalProperties: { type: 'string' },
    links: imageLinks(),
  };
}

/** GET /v2/schemas/images */
export function imagesSchema(options: ImageSchemaOptions = {}): SchemaDocument {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema(options) },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

/** GET /v2/schemas/member */
export function memberSchema(): SchemaDocument {
  return {
    name: 'member',
    properties: {
      member_id: { type: 'string', description: 'Project the image is shared with' },
      image_id: { type: 'string', description: 'ID of the shared image', pattern: UUID_PATTERN },
      created_at: { type: 'string', description: 'When the membership was created' },
      updated_at: { type: 'string', description: 'When the membership was last changed' },
      status: {
        type: 'string',
        description: "The member's answer to the share",
        enum: [...MEMBER_STATUSES],
      },
      schema: { readOnly: true, type: 'string' },
    },
  };
}

/** GET /v2/schemas/members */
export function membersSchema(): SchemaDocument {
  return {
    name: 'members',
    properties: {
      members: { type: 'array', items: memberSchema() },
      schema: { type: 'string' },
    },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}
