import type { Config } from '../config/config.ts';
import { migrate, openDatabase } from '../adapters/db/database.ts';
import { Repositories } from '../adapters/db/repositories.ts';
import { systemClock } from '../adapters/clock.ts';
import { imageStoreBucketsOf } from '../adapters/storage/user-object-store.ts';
import { DomainError } from '../domain/errors.ts';
import { BucketGrantService } from '../services/object-images.ts';

export const ADMIN_HELP = `Usage:
  ims admin bucket grant <project-id> <bucket>    Let the project import from and export to the bucket
                                                  of the tenants' object store (IMS_USER_S3_*)
  ims admin bucket revoke <project-id> <bucket>   Take the grant back (exit 1 if there was none)
  ims admin bucket list [<project-id>]            The grants, one "project bucket granted-at" a line
The image store's own bucket (IMS_S3_BUCKET) can never be granted.
`;

interface Output {
  write(text: string): unknown;
}

/** `ims admin bucket ...`, run by an operator on a host with the service's configuration; returns the exit code. */
export async function runAdmin(
  config: Config,
  argv: string[],
  out: Output = process.stdout,
  err: Output = process.stderr,
): Promise<number> {
  const [group, sub, project, bucket, ...extra] = argv;
  const arity = sub === 'list' ? project === undefined || bucket === undefined : bucket !== undefined;
  if (group !== 'bucket' || !['grant', 'revoke', 'list'].includes(sub ?? '') || !arity || extra.length) {
    err.write(`ims admin: expected "bucket grant|revoke|list"\n\n${ADMIN_HELP}`);
    return 2;
  }
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    await migrate(db);
    const grants = new BucketGrantService(
      new Repositories(db.kysely),
      systemClock,
      imageStoreBucketsOf(config),
    );
    if (sub === 'grant') {
      await grants.grant(project!, bucket!);
      out.write(`granted bucket ${bucket} to project ${project}\n`);
      return 0;
    }
    if (sub === 'revoke') {
      if (await grants.revoke(project!, bucket!)) {
        out.write(`revoked bucket ${bucket} from project ${project}\n`);
        return 0;
      }
      err.write(`ims admin: project ${project} has no grant of bucket ${bucket}\n`);
      return 1;
    }
    for (const g of await grants.list(project)) out.write(`${g.projectId} ${g.bucket} ${g.grantedAt}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof DomainError)) throw e;
    err.write(`ims admin: ${e.message}\n`);
    return 1;
  } finally {
    await db.close();
  }
}
