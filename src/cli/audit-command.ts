import type { Config } from '../config/config.ts';
import { migrate, openDatabase } from '../adapters/db/database.ts';
import { openConfiguredStores } from '../adapters/storage/create-blob-store.ts';
import { openAuditRepository } from '../services/audit/create.ts';
import { exportTrail, verifyTrail } from '../services/audit/archive.ts';

export const AUDIT_HELP = `Usage:
  ims audit verify   Check the audit trail's HMAC chain and head (and the last export's head).
                     Exit 0: intact; 1: an event was changed, removed or cut off; 2: usage error.
  ims audit export   Write the events not yet exported to the blob store as JSON Lines
                     (audit/events-<first>-<last>.jsonl) and the head reached (audit/head.json).
`;

/** `ims audit <verify|export>`; returns the exit code. */
export async function runAudit(config: Config, argv: string[]): Promise<number> {
  const sub = argv[0];
  if (sub !== 'verify' && sub !== 'export') {
    process.stderr.write(`ims audit: expected "verify" or "export"\n\n${AUDIT_HELP}`);
    return 2;
  }
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const repo = await openAuditRepository(db, config);
    // The default store of `ims serve`: on S3 deployments the archive lives in the bucket.
    const store = (await openConfiguredStores(config)).default;
    if (sub === 'export') {
      const done = await exportTrail(repo, store, new Date());
      process.stdout.write(
        done.key
          ? `exported events ${done.from}-${done.to} to ${done.key}\n`
          : 'nothing to export: every event is exported already\n',
      );
      return 0;
    }
    const report = await verifyTrail(repo, store);
    if (report.ok) {
      process.stdout.write(`audit trail intact: ${report.checked} events, head at ${report.head.seq}\n`);
      return 0;
    }
    for (const p of report.problems)
      process.stdout.write(`TAMPERED (${p.kind}) at event ${p.seq}: ${p.detail}\n`);
    return 1;
  } finally {
    await db.close();
  }
}
