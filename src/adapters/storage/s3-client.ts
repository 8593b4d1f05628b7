import type { S3Client } from '@aws-sdk/client-s3';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * The AWS SDK's S3 module, loaded on first use: it costs a process about 20 MB of RSS, which a
 * deployment without S3 (the embedded default: files and no tenants' object store) never pays.
 */
export function s3Sdk(): typeof import('@aws-sdk/client-s3') {
  return require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
}

/** Where an S3-compatible endpoint is and how to sign for it. */
export interface S3ClientSettings {
  region: string;
  /** Unset: AWS's own endpoint for the region. */
  endpoint?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (Swift, MinIO, Ceph). */
  forcePathStyle?: boolean;
  /** Unset: the AWS SDK's default chain (environment, shared files, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * An S3 client with the settings every IMS use of S3 needs (the image store and the tenants'
 * object store): one place, so that both talk to Swift, Ceph, MinIO and AWS the same way.
 */
export function createS3Client(settings: S3ClientSettings): S3Client {
  return new (s3Sdk().S3Client)({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle ?? false,
    ...(settings.credentials ? { credentials: settings.credentials } : {}),
    // Flexible checksums only when an operation requires them: our hashes are computed upstream,
    // and aws-chunked trailer uploads (a newer SDK's default) are not understood by every server.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: 10_000,
      // Idle time, not total time: a 16 MiB part or a 1 GiB download may take long, but not in silence.
      socketTimeout: 300_000,
    },
  });
}
