import type { ImsClient } from '../../../sdk/client.ts';

/** Formats IMS exports to (ExportImage's file_format); none means the stored bytes unchanged. */
export const EXPORT_FORMATS = ['qcow2', 'vhd', 'vmdk', 'zvhd'] as const;
/** Object name extensions IMS imports from, each naming the file's format. */
export const IMPORT_EXTENSIONS = [
  'qcow2',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'img',
  'qed',
  'vdi',
  'zvhd',
  'zvhd2',
  'iso',
];
export const OS_TYPES = ['Linux', 'Windows', 'Other'] as const;

export type ObjectProblem = 'bucketName' | 'objectEmpty' | 'objectLong' | 'address' | 'extension';

// S3 bucket names: 3-63 lower-case letters, digits, "-" and ".", starting and ending with a letter or digit.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The problems of a bucket and object name, found before anything is sent. */
export function checkObject(bucket: string, object: string): ObjectProblem[] {
  const problems: ObjectProblem[] = [];
  if (!BUCKET.test(bucket)) problems.push('bucketName');
  if (object === '') problems.push('objectEmpty');
  else if (new TextEncoder().encode(object).length > 1024) problems.push('objectLong');
  return problems;
}

/** `bucket:object` split, with the problems of each part and the format its extension names. */
export function parseObjectAddress(address: string): {
  bucket: string;
  object: string;
  format: string | null;
  problems: ObjectProblem[];
} {
  const colon = address.indexOf(':');
  if (colon <= 0) return { bucket: '', object: '', format: null, problems: ['address'] };
  const bucket = address.slice(0, colon);
  const object = address.slice(colon + 1);
  const ext = /\.([a-z0-9]+)$/i.exec(object)?.[1]?.toLowerCase() ?? '';
  const format = IMPORT_EXTENSIONS.includes(ext) ? ext : null;
  const problems = checkObject(bucket, object);
  if (!problems.length && !format) problems.push('extension');
  return { bucket, object, format, problems };
}

/** POST /v1/cloudimages/{id}/file (IMS ExportImage): the job that writes the object. */
export async function exportImage(
  client: ImsClient,
  imageId: string,
  bucket: string,
  object: string,
  format: string,
): Promise<string> {
  const answer = (await client.POST('/v1/cloudimages/{image_id}/file', {
    path: { image_id: imageId },
    body: {
      bucket_url: `${bucket}:${object}`,
      ...(format ? { file_format: format } : { is_quick_export: true }),
    },
  })) as unknown as { job_id: string };
  return answer.job_id;
}

/** POST /v2/cloudimages/action (IMS CreateImage from a file): the job that makes the image. */
export async function importFromObject(
  client: ImsClient,
  request: { name: string; address: string; osType: string; minDisk: number },
): Promise<string> {
  const answer = (await client.POST('/v2/cloudimages/action', {
    body: {
      name: request.name,
      image_url: request.address,
      os_type: request.osType,
      min_disk: request.minDisk,
    },
  })) as unknown as { job_id: string };
  return answer.job_id;
}
