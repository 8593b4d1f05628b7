import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.ts';

/** Writes the scope's event inside a transaction that is about to commit. */
export type InTransactionAppend = (trx: Kysely<Database>) => Promise<void>;

/**
 * The audit record of one mutating request, open while it is served. The
 * first transaction that commits during the request carries its event (so the
 * event and the change commit together); a request that committed none gets
 * its event when the response is sent (a failure, or a change made outside a
 * transaction).
 */
export class AuditScope {
  resourceId: string | null = null;
  resourceName: string | null = null;
  jobId: string | null = null;
  /** Set once the event is stored, so that a request records exactly one. */
  recorded = false;
  /** Counted in `entered` (see runInAuditScope). */
  inFlight = false;
  private pending = false;

  constructor(
    readonly operation: string,
    readonly resourceType: string,
    private readonly append: InTransactionAppend,
  ) {}

  /** Names the resource the request acted on (services call it once the id is known). */
  resource(id: string, name?: string | null): void {
    this.resourceId = id;
    if (name !== undefined) this.resourceName = name;
  }

  /** Inside a transaction: adds the event unless the request already has one. */
  async inTransaction(trx: Kysely<Database>): Promise<void> {
    if (this.recorded || this.pending) return;
    this.pending = true;
    await this.append(trx);
  }

  /** The transaction ended: committed (the event is stored) or rolled back (it is not). */
  settled(committed: boolean): void {
    if (!this.pending) return;
    this.pending = false;
    if (committed) this.recorded = true;
  }
}

const storage = new AsyncLocalStorage<AuditScope>();

/** The audit scope of the request being served, if it is an audited one. */
export const currentAudit = (): AuditScope | undefined => storage.getStore();

/** Scopes run and not yet left: while there are none, the storage is off. */
let entered = 0;

/** Runs work (a route handler) inside a request's audit scope. */
export function runInAuditScope<T>(scope: AuditScope, work: () => T): T {
  if (!scope.inFlight) {
    scope.inFlight = true;
    entered++;
  }
  return storage.run(scope, work);
}

/**
 * The request of a scope was answered and its event recorded (finish), so what it still runs
 * has nothing to add to the scope. Once no request is inside a scope, the storage is turned
 * off: while it is on, Node tracks the context of every promise the process makes (async
 * hooks), which costs each unaudited request (most of them are reads) as much as its JSON
 * serialisation. The next runInAuditScope turns it on again.
 */
export function leaveAuditScope(scope: AuditScope): void {
  if (!scope.inFlight) return;
  scope.inFlight = false;
  if (--entered === 0) storage.disable();
}

/**
 * Runs work in a transaction that also records the current request's audit
 * event: every repository's transaction() goes through here.
 */
export async function auditedTransaction<T>(
  db: Kysely<Database>,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  const scope = currentAudit();
  try {
    const result = await db.transaction().execute(async (trx) => {
      const out = await work(trx);
      await scope?.inTransaction(trx);
      return out;
    });
    scope?.settled(true);
    return result;
  } catch (err) {
    scope?.settled(false);
    throw err;
  }
}
