import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { runInAuditScope } from '../adapters/audit-scope.ts';
import { migrate, openDatabase, type Db } from '../adapters/db/database.ts';
import { Repositories } from '../adapters/db/repositories.ts';
import { systemClock } from '../adapters/clock.ts';
import { imageStoreBucketsOf } from '../adapters/storage/user-object-store.ts';
import { DomainError } from '../domain/errors.ts';
import { createAuditService } from '../services/audit/create.ts';
import { DEFAULT_DOMAIN_ID } from '../services/identity.ts';
import { BucketGrantService, type BucketGrantee } from '../services/object-images.ts';

export const ADMIN_HELP = `Usage:
  ims admin bucket grant <project-id> <bucket>    Let the project import from and export to the bucket
                                                  of the tenants' object store (IMS_USER_S3_*)
  ims admin bucket grant --account <id> <bucket>  The same for every project of the account, present
                                                  and future (looked up at each request)
  ims admin bucket revoke <project-id> <bucket>   Take the grant back (exit 1 if there was none);
  ims admin bucket revoke --account <id> <bucket> an account's grant: its projects' own grants stay
  ims admin bucket list [<project-id>]            The grants, one "project bucket granted-at" a line;
                                                  for one project also its account's, marked
                                                  "account:<id>"
  ims admin bucket list --account [<id>]          Account grants, one "account bucket granted-at" a line
The image store's own bucket (IMS_S3_BUCKET) can never be granted. Every grant and revoke is
recorded in the audit trail (operation grantBucket / revokeBucket, resource "<project>:<bucket>"
or "account:<id>:<bucket>"), as API changes are.
`;

interface Output {
  write(text: string): unknown;
}

interface Parsed {
  sub: 'grant' | 'revoke' | 'list';
  account: string | undefined;
  /** --account given (list takes it without a value too). */
  byAccount: boolean;
  target: string | undefined;
  bucket: string | undefined;
}

function parse(argv: string[]): Parsed | null {
  let parsed;
  try {
    // `--account` alone lists every account grant: take it as a flag when no value follows.
    const args = argv.map((a, i) => (a === '--account' && argv[i + 1] === undefined ? '--all-accounts' : a));
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { account: { type: 'string' }, 'all-accounts': { type: 'boolean' } },
    });
  } catch {
    return null;
  }
  const [group, sub, ...rest] = parsed.positionals;
  if (group !== 'bucket' || (sub !== 'grant' && sub !== 'revoke' && sub !== 'list')) return null;
  const account = parsed.values.account;
  const byAccount = account !== undefined || parsed.values['all-accounts'] === true;
  if (sub === 'list') {
    if (rest.length > (byAccount ? 0 : 1) || (parsed.values['all-accounts'] && account !== undefined))
      return null;
    return { sub, account, byAccount, target: rest[0], bucket: undefined };
  }
  if (parsed.values['all-accounts']) return null;
  const expected = account !== undefined ? 1 : 2;
  if (rest.length !== expected) return null;
  const [target, bucket] = account !== undefined ? [account, rest[0]] : [rest[0], rest[1]];
  return { sub, account, byAccount, target, bucket };
}

/** `ims admin bucket ...`, run by an operator on a host with the service's configuration; returns the exit code. */
export async function runAdmin(
  config: Config,
  argv: string[],
  out: Output = process.stdout,
  err: Output = process.stderr,
): Promise<number> {
  const cmd = parse(argv);
  if (!cmd) {
    err.write(`ims admin: expected "bucket grant|revoke|list"\n\n${ADMIN_HELP}`);
    return 2;
  }
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const repos = new Repositories(db.kysely);
    const grants = new BucketGrantService(repos, systemClock, imageStoreBucketsOf(config));
    if (cmd.sub === 'list') {
      if (cmd.byAccount) {
        for (const g of await grants.listAccounts(cmd.account))
          out.write(`${g.accountId} ${g.bucket} ${g.grantedAt}\n`);
        return 0;
      }
      for (const g of await grants.list(cmd.target))
        out.write(
          `${g.projectId} ${g.bucket} ${g.grantedAt}${g.viaAccount ? ` account:${g.viaAccount}` : ''}\n`,
        );
      return 0;
    }
    const accountId = cmd.account !== undefined ? await accountIdOf(repos, cmd.account) : undefined;
    const who: BucketGrantee = accountId !== undefined ? { accountId } : { projectId: cmd.target! };
    const whom = accountId !== undefined ? `account ${accountId}` : `project ${cmd.target}`;
    const bucket = cmd.bucket!;
    const audited = await auditedAsOperator(config, db, repos, cmd.sub, who, bucket);
    if (cmd.sub === 'grant') {
      await audited(() => grants.grant(who, bucket).then(() => true));
      out.write(`granted bucket ${bucket} to ${whom}\n`);
      return 0;
    }
    if (await audited(() => grants.revoke(who, bucket))) {
      out.write(`revoked bucket ${bucket} from ${whom}\n`);
      return 0;
    }
    err.write(`ims admin: ${whom} has no grant of bucket ${bucket}\n`);
    return 1;
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    err.write(`ims admin: ${e.message}\n`);
    return 1;
  } finally {
    await db.close();
  }
}

/** An account named by id, or by name as operators know it. */
async function accountIdOf(repos: Repositories, ref: string): Promise<string> {
  if (await repos.identity.domainById(ref)) return ref;
  return (await repos.identity.domainByName(ref))?.id ?? ref;
}

/**
 * Runs a grant or revoke as an audited request of the operator (as `ims metadefs load`
 * does): its event is in the same chain as the API's, committed with the change, or
 * recorded as a failure when the change is refused or finds nothing to revoke.
 */
async function auditedAsOperator(
  config: Config,
  db: Db,
  repos: Repositories,
  sub: 'grant' | 'revoke',
  who: BucketGrantee,
  bucket: string,
): Promise<(work: () => Promise<boolean>) => Promise<boolean>> {
  const audit = await createAuditService(db, config, systemClock);
  const admin = await repos.identity.projectByName(DEFAULT_DOMAIN_ID, 'admin');
  const req = {
    operation: sub === 'grant' ? 'grantBucket' : 'revokeBucket',
    resourceType: 'bucketGrant',
    resourceId: 'accountId' in who ? `account:${who.accountId}:${bucket}` : `${who.projectId}:${bucket}`,
    requestId: `req-${randomUUID()}`,
    sourceIp: 'ims admin bucket',
    actor: () => ({ projectId: admin?.id ?? null, domainId: DEFAULT_DOMAIN_ID, userId: null }),
  };
  return async (work) => {
    const scope = audit.open(req);
    scope.resource(req.resourceId, bucket);
    try {
      const done = await runInAuditScope(scope, work);
      await audit.finish(
        req,
        scope,
        done ? { httpStatus: 200, errorCode: null } : { httpStatus: 404, errorCode: 'NotFound' },
      );
      return done;
    } catch (e) {
      const code = e instanceof DomainError ? e.imsCode : (e as Error).name;
      await audit.finish(req, scope, {
        httpStatus: e instanceof DomainError ? e.status : 500,
        errorCode: code,
      });
      throw e;
    }
  };
}
