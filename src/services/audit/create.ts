import type { Clock } from '../../adapters/clock.ts';
import { AuditRepository } from '../../adapters/db/audit-repository.ts';
import type { Db } from '../../adapters/db/database.ts';
import { deriveKey } from '../../adapters/identity/derived-keys.ts';
import { loadMasterKey } from '../../adapters/identity/master-key.ts';
import { Policy } from '../policy.ts';
import { AuditService } from './audit-service.ts';

/** The audit chain of the database, keyed from the master key (IMS_MASTER_KEY or the data dir's key file). */
export async function openAuditRepository(
  db: Db,
  config: { masterKey: Buffer | undefined; dataDir: string },
): Promise<AuditRepository> {
  const master = await loadMasterKey(config.masterKey, config.dataDir);
  return new AuditRepository(db.kysely, db.dialect, deriveKey(master, 'audit-chain'));
}

export async function createAuditService(
  db: Db,
  config: { masterKey: Buffer | undefined; dataDir: string },
  clock: Clock,
  policy: Policy = new Policy(),
): Promise<AuditService> {
  return new AuditService(await openAuditRepository(db, config), clock, policy);
}
