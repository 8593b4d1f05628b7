import { fail } from './errors.ts';
import { SHARE_LIMITS } from './sharing.ts';

/**
 * Image quotas of a project: how many images it may own and how many bytes of
 * image data (Glance's `image_count_total` and `image_size_total`). Deleted
 * images do not count; shared-in images count for their owner only. `null`
 * means unlimited.
 */
export interface QuotaLimits {
  images: number | null;
  bytes: number | null;
}

export interface QuotaUsage {
  images: number;
  bytes: number;
}

/** What an operator stored for a project: null keeps the default, -1 is unlimited. */
export interface StoredQuota {
  maxImages: number | null;
  maxBytes: number | null;
}

export const UNLIMITED = -1;
export const MiB = 1024 * 1024;

/** The range an operator may set, as `GET /v1/cloudimages/quota` reports it (`min`, `max`). */
export const QUOTA_BOUNDS = {
  image: { min: 0, max: 1_000_000 },
  /** In MiB, as Glance's unified limit `image_size_total`: up to 1 EiB. */
  image_size_total: { min: 0, max: 1024 ** 4 },
} as const;

export function effectiveLimits(stored: StoredQuota | null, defaults: QuotaLimits): QuotaLimits {
  const pick = (v: number | null | undefined, d: number | null) =>
    v === null || v === undefined ? d : v === UNLIMITED ? null : v;
  return { images: pick(stored?.maxImages, defaults.images), bytes: pick(stored?.maxBytes, defaults.bytes) };
}

/** Refuses a change that would take the usage over a limit; `add` is what the change brings. */
export function assertRoom(limits: QuotaLimits, usage: QuotaUsage, add: QuotaUsage): void {
  if (add.images > 0 && limits.images !== null && usage.images + add.images > limits.images) {
    fail(
      'QuotaExceeded',
      `Image quota exceeded: the project may own ${limits.images} images and owns ${usage.images}`,
    );
  }
  if (add.bytes > 0 && limits.bytes !== null && usage.bytes + add.bytes > limits.bytes) {
    fail(
      'QuotaExceeded',
      `Image storage quota exceeded: ${add.bytes} more bytes would bring the project to ` +
        `${usage.bytes + add.bytes} of ${limits.bytes} bytes (image_size_total)`,
    );
  }
}

/** Bytes still allowed, or null when unlimited. */
export function bytesLeft(limits: QuotaLimits, usage: QuotaUsage): number | null {
  return limits.bytes === null ? null : Math.max(0, limits.bytes - usage.bytes);
}

export interface QuotaResource {
  type: 'image' | 'image_size_total' | 'image_shared' | 'image_member';
  used: number;
  quota: number;
  min: number;
  max: number;
}

/**
 * What a project shares out (ims-api.md §2.12): its images that have members, and the most
 * members any one of them has. Shared-in images are no part of it: they count for their owner.
 */
export interface SharingUsage {
  sharedImages: number;
  mostMembers: number;
}

/**
 * The IMS `quotas.resources` list; bytes in MiB (used rounded up), -1 for unlimited.
 * `image_shared`: the project's images that are shared; a shared image is one of the owner's
 * images, so the image quota bounds them (no quota of their own). `image_member`: members per
 * image, fixed at IMS's 256 (full-ECS images 10); `used` is the most any image has.
 */
export function quotaResources(
  limits: QuotaLimits,
  usage: QuotaUsage,
  sharing: SharingUsage,
): QuotaResource[] {
  const members = SHARE_LIMITS.maxMembersPerImage;
  return [
    {
      type: 'image',
      used: usage.images,
      quota: limits.images ?? UNLIMITED,
      ...QUOTA_BOUNDS.image,
    },
    {
      type: 'image_size_total',
      used: Math.ceil(usage.bytes / MiB),
      quota: limits.bytes === null ? UNLIMITED : Math.floor(limits.bytes / MiB),
      ...QUOTA_BOUNDS.image_size_total,
    },
    {
      type: 'image_shared',
      used: sharing.sharedImages,
      quota: limits.images ?? UNLIMITED,
      ...QUOTA_BOUNDS.image,
    },
    { type: 'image_member', used: sharing.mostMembers, quota: members, min: members, max: members },
  ];
}

/** An operator's change: undefined leaves a limit alone, null returns it to the default. */
export interface QuotaChange {
  projectId: string;
  maxImages?: number | null;
  maxBytes?: number | null;
}

function checkLimit(field: keyof typeof QUOTA_BOUNDS, raw: unknown): number | null | undefined {
  if (raw === undefined || raw === null) return raw;
  const { min, max } = QUOTA_BOUNDS[field];
  if (typeof raw !== 'number' || !Number.isInteger(raw) || (raw !== UNLIMITED && (raw < min || raw > max))) {
    return fail(
      'ValidationFailed',
      `"quotas.${field}" must be an integer from ${min} to ${max}, -1 for unlimited or null for the default`,
    );
  }
  return raw;
}

/** The body of `PUT /v1/cloudimages/quota`: `{"project_id", "quotas": {"image", "image_size_total"}}`. */
export function parseQuotaChange(body: unknown): QuotaChange {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return fail('ValidationFailed', 'The request body must be a JSON object');
  const { project_id: projectId, quotas } = body as Record<string, unknown>;
  if (typeof projectId !== 'string' || projectId === '' || projectId.length > 64)
    return fail('ValidationFailed', '"project_id" must be a project id');
  if (typeof quotas !== 'object' || quotas === null || Array.isArray(quotas))
    return fail('ValidationFailed', '"quotas" must be an object with "image" and/or "image_size_total"');
  const q = quotas as Record<string, unknown>;
  for (const k of Object.keys(q)) {
    if (k !== 'image' && k !== 'image_size_total')
      fail('ValidationFailed', `Unknown quota "${k}": the quotas are image and image_size_total`);
  }
  const images = checkLimit('image', q.image);
  const mib = checkLimit('image_size_total', q.image_size_total);
  const change: QuotaChange = { projectId };
  if (images !== undefined) change.maxImages = images;
  if (mib !== undefined) change.maxBytes = mib === null || mib === UNLIMITED ? mib : mib * MiB;
  return change;
}
