/** The HTTP status of an error the AWS SDK threw for an S3 answer (not for a network failure). */
export function s3Status(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const metadata = (err as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode;
}

export function isS3Status(err: unknown, status: number): boolean {
  return s3Status(err) === status;
}
