import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { systemClock } from '../adapters/clock.ts';
import { runInAuditScope } from '../adapters/audit-scope.ts';
import { migrate, openDatabase } from '../adapters/db/database.ts';
import { MetadefRepository } from '../adapters/db/metadef-repository.ts';
import { Repositories } from '../adapters/db/repositories.ts';
import { packageRoot } from '../adapters/package-root.ts';
import type { RequestContext } from '../domain/context.ts';
import { createAuditService } from '../services/audit/create.ts';
import { DEFAULT_DOMAIN_ID } from '../services/identity.ts';
import { loadMetadefCatalogue } from '../services/metadef-catalogue.ts';
import { MetadefService } from '../services/metadefs.ts';
import { loadPolicy } from '../services/policy.ts';

export const METADEFS_HELP = `Usage:
  ims metadefs load [--dir DIR]
      Create the standard metadata definition namespaces (catalogue/metadefs: common image
      properties, libvirt hardware, watchdog, RNG, CPU topology and pinning, hypervisor,
      shutdown, Huawei IMS properties) or those of DIR, one Glance namespace JSON per file.
      Namespaces that exist already are kept as they are. Owned by the admin project,
      public and protected; each creation is audited. Exit 0: done; 1: a file is invalid
      or the service never started (no admin project); 2: usage error.
`;

/** `ims metadefs load`; returns the exit code. */
export async function runMetadefs(config: Config, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { dir: { type: 'string' } },
  });
  if (positionals[0] !== 'load' || positionals.length > 1) {
    process.stderr.write(`ims metadefs: expected "load"\n\n${METADEFS_HELP}`);
    return 2;
  }
  const dir =
    typeof values.dir === 'string'
      ? path.resolve(values.dir)
      : path.join(packageRoot(), 'catalogue', 'metadefs');
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const repos = new Repositories(db.kysely);
    const admin = await repos.identity.projectByName(DEFAULT_DOMAIN_ID, 'admin');
    if (!admin) {
      process.stderr.write('ims metadefs: no admin project yet; start the service once (ims serve) first\n');
      return 1;
    }
    const policy = await loadPolicy(config.policyFile);
    const audit = await createAuditService(db, config, systemClock, policy);
    const metadefs = new MetadefService(new MetadefRepository(db.kysely), systemClock, policy);
    const requestId = `req-${randomUUID()}`;
    const ctx: RequestContext = {
      requestId,
      region: config.region,
      accountId: DEFAULT_DOMAIN_ID,
      projectId: admin.id,
      userId: 'ims-metadefs-load',
      roles: ['admin'],
      via: 'token',
    };
    // Run as an audited request of the operator: the trail shows who created the namespaces.
    const create = async (work: () => Promise<unknown>, namespace: string) => {
      const req = {
        operation: 'createMetadefNamespace',
        resourceType: 'metadefNamespace',
        resourceId: namespace,
        requestId,
        sourceIp: 'ims metadefs load',
        actor: () => ({ projectId: admin.id, domainId: DEFAULT_DOMAIN_ID, userId: null }),
      };
      const scope = audit.open(req);
      try {
        await runInAuditScope(scope, work);
        await audit.finish(req, scope, { httpStatus: 201, errorCode: null });
      } catch (err) {
        await audit.finish(req, scope, { httpStatus: null, errorCode: (err as Error).name });
        throw err;
      }
    };
    let done;
    try {
      done = await loadMetadefCatalogue(metadefs, ctx, dir, create);
    } catch (err) {
      process.stderr.write(`ims metadefs: ${(err as Error).message}\n`);
      return 1;
    }
    for (const name of done.created) process.stdout.write(`created ${name}\n`);
    for (const name of done.kept) process.stdout.write(`kept ${name} (exists)\n`);
    return 0;
  } finally {
    await db.close();
  }
}
