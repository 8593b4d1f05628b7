import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { canonicalEvent, type AuditEvent, type AuditQuery, type NewAuditEvent } from '../../domain/audit.ts';
import type { Dialect } from './database.ts';
import type { Database } from './schema.ts';

type EventRow = Selectable<Database['audit_events']>;

/** What `verify` found wrong, at the first event where the chain breaks. */
export interface ChainProblem {
  seq: number;
  kind: 'changed' | 'missing' | 'truncated' | 'extra';
  detail: string;
}

export interface ChainReport {
  ok: boolean;
  /** Events checked. */
  checked: number;
  head: { seq: number; mac: string };
  problems: ChainProblem[];
}

const toEvent = (r: EventRow): AuditEvent => ({
  seq: Number(r.seq),
  id: r.id,
  time: r.time,
  operation: r.operation,
  resourceType: r.resource_type,
  resourceId: r.resource_id,
  resourceName: r.resource_name,
  projectId: r.project_id,
  domainId: r.domain_id,
  userId: r.user_id,
  sourceIp: r.source_ip,
  requestId: r.request_id,
  result: r.result as AuditEvent['result'],
  httpStatus: r.http_status,
  errorCode: r.error_code,
  jobId: r.job_id,
});

/**
 * The audit trail as an HMAC chain: each event's mac covers the previous mac
 * and the event, so a changed or removed event breaks every later link, and
 * the head row (the last seq and mac, kept apart) shows events cut off the end.
 * Appends are serialised: on PostgreSQL the head row is locked FOR UPDATE until
 * the appending transaction commits, across every process.
 */
export class AuditRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    private readonly key: Buffer,
  ) {}

  mac(prev: string, event: AuditEvent): string {
    return createHmac('sha256', this.key)
      .update(`${prev}\n${canonicalEvent(event)}`)
      .digest('hex');
  }

  /** Appends one event inside the caller's transaction (trx), or in a transaction of its own. */
  async append(event: NewAuditEvent, trx?: Kysely<Database>): Promise<AuditEvent> {
    if (!trx) return this.db.transaction().execute((t) => this.append(event, t));
    let q = trx.selectFrom('audit_chain_head').select(['seq', 'mac']).where('id', '=', 1);
    if (this.dialect === 'postgres') q = q.forUpdate();
    const head = await q.executeTakeFirstOrThrow();
    const stored: AuditEvent = { ...event, seq: Number(head.seq) + 1 };
    const mac = this.mac(head.mac, stored);
    await trx
      .insertInto('audit_events')
      .values({
        seq: stored.seq,
        id: stored.id,
        time: stored.time,
        operation: stored.operation,
        resource_type: stored.resourceType,
        resource_id: stored.resourceId,
        resource_name: stored.resourceName,
        project_id: stored.projectId,
        domain_id: stored.domainId,
        user_id: stored.userId,
        source_ip: stored.sourceIp,
        request_id: stored.requestId,
        result: stored.result,
        http_status: stored.httpStatus,
        error_code: stored.errorCode,
        job_id: stored.jobId,
        prev_mac: head.mac,
        mac,
      })
      .execute();
    await trx.updateTable('audit_chain_head').set({ seq: stored.seq, mac }).where('id', '=', 1).execute();
    return stored;
  }

  /** Events matching the query, newest first (oldest first if asked). */
  async list(query: AuditQuery): Promise<AuditEvent[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (query.projectId !== undefined) q = q.where('project_id', '=', query.projectId);
    if (query.from !== undefined) q = q.where('time', '>=', query.from);
    if (query.to !== undefined) q = q.where('time', '<=', query.to);
    if (query.operation !== undefined) q = q.where('operation', '=', query.operation);
    if (query.resourceId !== undefined) q = q.where('resource_id', '=', query.resourceId);
    if (query.userId !== undefined) q = q.where('user_id', '=', query.userId);
    if (query.jobId !== undefined) q = q.where('job_id', '=', query.jobId);
    if (query.beforeSeq !== undefined) q = q.where('seq', '<', query.beforeSeq);
    const rows = await q
      .orderBy('seq', query.oldestFirst ? 'asc' : 'desc')
      .limit(query.limit)
      .execute();
    return rows.map(toEvent);
  }

  /** Events with seq in [from, to], oldest first, with their links (export). */
  async rangeWithMacs(
    from: number,
    to: number,
    limit: number,
  ): Promise<(AuditEvent & { prevMac: string; mac: string })[]> {
    const rows = await this.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>=', from)
      .where('seq', '<=', to)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...toEvent(r), prevMac: r.prev_mac, mac: r.mac }));
  }

  async head(): Promise<{ seq: number; mac: string }> {
    const h = await this.db
      .selectFrom('audit_chain_head')
      .select(['seq', 'mac'])
      .where('id', '=', 1)
      .executeTakeFirst();
    return h ? { seq: Number(h.seq), mac: h.mac } : { seq: 0, mac: '' };
  }

  /** Walks the whole chain in seq order and checks every link and the head. */
  async verify(pageSize = 1000): Promise<ChainReport> {
    const head = await this.head();
    const problems: ChainProblem[] = [];
    let expectedSeq = 1;
    let prev = '';
    let checked = 0;
    for (;;) {
      const rows = await this.db
        .selectFrom('audit_events')
        .selectAll()
        .where('seq', '>=', expectedSeq)
        .orderBy('seq')
        .limit(pageSize)
        .execute();
      if (rows.length === 0) break;
      for (const row of rows) {
        const event = toEvent(row);
        if (event.seq !== expectedSeq) {
          problems.push({
            seq: expectedSeq,
            kind: 'missing',
            detail: `events ${expectedSeq}..${event.seq - 1} are missing`,
          });
          return { ok: false, checked, head, problems };
        }
        const mac = this.mac(prev, event);
        if (row.prev_mac !== prev || !sameHex(mac, row.mac)) {
          problems.push({
            seq: event.seq,
            kind: 'changed',
            detail: `event ${event.seq} does not match its mac`,
          });
          return { ok: false, checked, head, problems };
        }
        prev = row.mac;
        expectedSeq++;
        checked++;
      }
    }
    const last = expectedSeq - 1;
    if (last < head.seq) {
      problems.push({
        seq: last + 1,
        kind: 'truncated',
        detail: `the head is at event ${head.seq} but the log ends at ${last}`,
      });
    } else if (last > head.seq || prev !== head.mac) {
      problems.push({ seq: last, kind: 'extra', detail: 'the last event does not match the chain head' });
    }
    return { ok: problems.length === 0, checked, head, problems };
  }
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
