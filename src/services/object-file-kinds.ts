import { defineJobKind } from './jobs/kind.ts';

/** An image's data from a file in the tenants' object store: its job payload. */
export interface ObjectImportPayload {
  imageId: string;
  owner: string;
  bucket: string;
  key: string;
  /** The disk_format the data must be. */
  diskFormat: string;
  /** GB: the file's virtual disk must fit. */
  minDisk: number;
  /** Shown in the per-image results of a job with data images (absent in jobs enqueued before them). */
  imageName?: string;
  /** The data-disk images of the same request (`data_images`), filled by the same job after this one. */
  dataImages?: DataImageTarget[];
}

/** One data-disk image of a system-disk import: its own file, the same owner. */
export interface DataImageTarget {
  imageId: string;
  imageName: string;
  bucket: string;
  key: string;
  diskFormat: string;
  minDisk: number;
}

/** How one image of a multi-image import ended: an IMS `sub_jobs_result[]` item. */
export interface ImageImportResult {
  status: 'SUCCESS' | 'FAIL';
  job_type: string;
  begin_time: string;
  end_time: string;
  error_code: string | null;
  fail_reason: string | null;
  entities: { image_id: string; image_name: string };
}

export interface ObjectImportResult {
  imageId: string;
  /** One result per image when the request had data images (the system image first). */
  images?: ImageImportResult[];
}

/** An export of an image to a file in the tenants' object store. */
export interface ObjectExportPayload {
  imageId: string;
  bucket: string;
  key: string;
  /** null: the stored bytes unchanged. */
  fileFormat: string | null;
}

export interface ObjectExportResult {
  imageId: string;
  size: number;
}

// IMS's job types (ims-api.md 2.13). Data refused by the inspector fails at once; only
// trouble reaching a store or the database is retried.
/** A system or ISO image from a file (POST /v2/cloudimages/action, quick import). */
export const IMPORT_FILE_IMAGE = defineJobKind<ObjectImportPayload, ObjectImportResult>('imsImportImageJob');
/** A data-disk image from a file (POST /v1/cloudimages/dataimages/action, data quick import). */
export const IMPORT_DATA_IMAGE = defineJobKind<ObjectImportPayload, ObjectImportResult>(
  'imsImportDataImageJob',
);
/** The data of a queued Glance image from a file (PUT /v1/cloudimages/{id}/upload). */
export const REGISTER_IMAGE = defineJobKind<ObjectImportPayload, ObjectImportResult>(
  'imsNativeImportImageJob',
);
/** POST /v1/cloudimages/{id}/file. */
export const EXPORT_IMAGE = defineJobKind<ObjectExportPayload, ObjectExportResult>('imsNativeExportImageJob');
