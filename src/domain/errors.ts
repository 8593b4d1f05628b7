/**
 * The one catalogue of errors. Services throw DomainError with a code from
 * here; each API family renders it in its own dialect (Glance, Keystone, IMS).
 */
export const ERROR_CATALOGUE = {
  BadRequest: { status: 400, ims: 'IMG.0001' },
  InvalidJson: { status: 400, ims: 'IMG.0001' },
  EmptyBody: { status: 400, ims: 'IMG.0007' },
  ValidationFailed: { status: 400, ims: 'IMG.0001' },
  MarkerNotFound: { status: 400, ims: 'IMG.0001' },
  Unauthorized: { status: 401, ims: 'APIGW.0301' },
  Forbidden: { status: 403, ims: 'IMG.0026' },
  ReadOnlyProperty: { status: 403, ims: 'IMG.0035' },
  ReservedProperty: { status: 403, ims: 'IMG.0035' },
  ImageProtected: { status: 403, ims: 'IMG.0028' },
  ImageDeactivated: { status: 403, ims: 'IMG.0046' },
  NotFound: { status: 404, ims: 'IMG.0121' },
  ImageNotFound: { status: 404, ims: 'IMG.0027' },
  RouteNotFound: { status: 404, ims: 'IMG.0017' },
  MethodNotAllowed: { status: 405, ims: 'IMG.0105' },
  NotAcceptable: { status: 406, ims: 'IMG.0001' },
  Conflict: { status: 409, ims: 'IMG.0035' },
  InvalidStatusTransition: { status: 409, ims: 'IMG.0046' },
  ImageAlreadyHasData: { status: 409, ims: 'IMG.0046' },
  DuplicateImageId: { status: 409, ims: 'IMG.0035' },
  LengthRequired: { status: 411, ims: 'IMG.0001' },
  PayloadTooLarge: { status: 413, ims: 'IMG.0059' },
  // IMS answers its business errors with 400 where Glance says 413.
  QuotaExceeded: { status: 413, ims: 'IMG.0015', imsStatus: 400 },
  TooManyTags: { status: 413, ims: 'IMG.0116', imsStatus: 400 },
  InvalidTag: { status: 400, ims: 'IMG.0115' },
  TooManyMembers: { status: 413, ims: 'IMG.0088', imsStatus: 400 },
  RangeNotSatisfiable: { status: 416, ims: 'IMG.0001' },
  UnsupportedMediaType: { status: 415, ims: 'IMG.0001' },
  UploadFailed: { status: 400, ims: 'IMG.0057' },
  /** IMS changes only active images (PATCH /v2/cloudimages). */
  ImageNotActive: { status: 400, ims: 'IMG.0046' },
  // Huawei's API gateway answers throttled callers with APIGW.0308.
  TooManyRequests: { status: 429, ims: 'APIGW.0308' },
  /** A recipient copies a shared image only after accepting it (IMS CopyImageInRegion). */
  SharedImageNotAccepted: { status: 400, ims: 'IMG.0196' },
  /** IMS refuses some operations on ISO images (copy, export). */
  NotForIsoImage: { status: 400, ims: 'IMG.0167' },
  /** This deployment has no KMS: no key exists, so a `cmk_id` is never usable. */
  KmsNotAvailable: { status: 400, ims: 'IMG.0095' },
  /**
   * Creating an image from a server, volume or backup needs a compute and block storage service
   * this deployment does not have; likewise the tenants' object store when none is configured.
   */
  SourceNotAvailable: { status: 400, ims: 'IMG.0105' },
  /** A bucket of the tenants' object store the project was not granted (or the image store's own). */
  BucketNotGranted: { status: 403, ims: 'IMG.0069' },
  /** IMS sharing (domain/sharing.ts): business errors, 400 on IMS routes. */
  NotImageOwner: { status: 403, ims: 'IMG.0047', imsStatus: 400 },
  PublicImageNotShareable: { status: 403, ims: 'IMG.0089', imsStatus: 400 },
  EncryptedImageNotShareable: { status: 403, ims: 'IMG.0098', imsStatus: 400 },
  ShareWithSelf: { status: 400, ims: 'IMG.0076' },
  ShareAcrossRegions: { status: 400, ims: 'IMG.0177' },
  ShareTargetNotFound: { status: 400, ims: 'IMG.0108' },
  ForeignOrganization: { status: 403, ims: 'IMG.0161', imsStatus: 400 },
  /** An image shared with an account or organization is not deleted (ims-api.md §4.3). */
  SharedWithAccounts: { status: 409, ims: 'IMG.0105', imsStatus: 400 },
  Internal: { status: 500, ims: 'IMG.0061' },
  ServiceUnavailable: { status: 503, ims: 'IMG.0061' },
} as const satisfies Record<string, { status: number; ims: string; imsStatus?: number }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** A failure the caller can act on. The message is safe to show to the caller. */
export class DomainError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { imsCode?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'DomainError';
    this.status = ERROR_CATALOGUE[code].status;
  }

  get imsCode(): string {
    return this.details.imsCode ?? ERROR_CATALOGUE[this.code].ims;
  }

  /** The HTTP status on IMS routes, where it differs from the Glance one. */
  get imsStatus(): number {
    const entry: { status: number; imsStatus?: number } = ERROR_CATALOGUE[this.code];
    return entry.imsStatus ?? this.status;
  }
}

export const fail = (code: ErrorCode, message: string, details?: DomainError['details']): never => {
  throw new DomainError(code, message, details);
};
