/** How an audited call ended: `accepted` is an asynchronous call whose job was queued. */
export type AuditResult = 'success' | 'accepted' | 'failure';

/** One event of the audit trail (Cloud Trace Service's trace), as stored. */
export interface AuditEvent {
  seq: number;
  id: string;
  time: string;
  /** The trace name: createImage, updateImage, deleteImage, addMember, ... (ims-api.md §8). */
  operation: string;
  resourceType: string;
  resourceId: string | null;
  resourceName: string | null;
  projectId: string | null;
  domainId: string | null;
  userId: string | null;
  sourceIp: string | null;
  requestId: string | null;
  result: AuditResult;
  httpStatus: number | null;
  /** The IMS error code of a failure (IMG.xxxx, APIGW.xxxx) or a job's error code. */
  errorCode: string | null;
  jobId: string | null;
}

/** An event before the chain gives it its place. */
export type NewAuditEvent = Omit<AuditEvent, 'seq'>;

/** The fields covered by an event's MAC, in a fixed order. */
export function canonicalEvent(e: AuditEvent): string {
  return JSON.stringify([
    e.seq,
    e.id,
    e.time,
    e.operation,
    e.resourceType,
    e.resourceId,
    e.resourceName,
    e.projectId,
    e.domainId,
    e.userId,
    e.sourceIp,
    e.requestId,
    e.result,
    e.httpStatus,
    e.errorCode,
    e.jobId,
  ]);
}

/** Filters of the trace query; times are ISO 8601 bounds, inclusive. */
export interface AuditQuery {
  projectId?: string;
  from?: string;
  to?: string;
  operation?: string;
  resourceId?: string;
  userId?: string;
  jobId?: string;
  /** Newest first: events with seq below this. */
  beforeSeq?: number;
  /** Oldest first instead (a job's first event is the request that queued it). */
  oldestFirst?: boolean;
  limit: number;
}
