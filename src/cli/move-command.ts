import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/config.ts';

export const MOVE_HELP = `ims migrate --to-database URL|sqlite [--to-store file|s3] [--to-data-dir DIR]
  Moves a stopped deployment (the one the IMS_* environment describes) to another database
  and store: SQLite + files to PostgreSQL + S3, and back. Objects are copied first and
  checked against their md5 and sha512; then every row, in one transaction; then every image's
  object is checked in the target store. The target database must be empty.
  --to-database   postgres://… or "sqlite" (the SQLite file in the target data dir)
  --to-store      file (under the target data dir) or s3 (settings from IMS_TO_S3_ENDPOINT,
                  IMS_TO_S3_BUCKET, IMS_TO_S3_REGION, IMS_TO_S3_ACCESS_KEY_ID,
                  IMS_TO_S3_SECRET_ACCESS_KEY, IMS_TO_S3_FORCE_PATH_STYLE, IMS_TO_S3_KEY_PREFIX, …)
                  default: the source's store driver
  --to-data-dir   the target's data dir (default: the source's); the master key moves there`;

/** The target's environment: the source's, with the database, data dir and store replaced. */
export function targetEnv(
  env: NodeJS.ProcessEnv,
  flags: { database: string; store: string | undefined; dataDir: string | undefined },
  source: Config,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (/^IMS_(S3_|STORES?$|DATABASE_URL$|DATA_DIR$)/.test(k)) continue;
    if (k.startsWith('IMS_TO_S3_')) out[`IMS_S3_${k.slice('IMS_TO_S3_'.length)}`] = v;
    else out[k] = v;
  }
  out.IMS_DATA_DIR = flags.dataDir ?? source.dataDir;
  out.IMS_DATABASE_URL = flags.database === 'sqlite' ? '' : flags.database;
  out.IMS_STORE = flags.store ?? source.stores[0]!.driver;
  if (out.IMS_STORE !== 's3') for (const k of Object.keys(out)) if (k.startsWith('IMS_S3_')) delete out[k];
  return out;
}

export async function runMove(source: Config, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      'to-database': { type: 'string' },
      'to-store': { type: 'string' },
      'to-data-dir': { type: 'string' },
    },
  });
  const database = values['to-database'];
  if (!database) {
    process.stderr.write(`ims: --to-database is required to move a deployment\n\n${MOVE_HELP}\n`);
    return 2;
  }
  let target: Config;
  try {
    target = loadConfig(
      targetEnv(process.env, { database, store: values['to-store'], dataDir: values['to-data-dir'] }, source),
    );
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ims: target: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { moveDeployment } = await import('../services/deployment-move.ts');
  try {
    const report = await moveDeployment(source, target, (line) => process.stdout.write(`${line}\n`));
    process.stdout.write(
      `moved: ${report.rows} rows, ${report.objects} objects (${report.bytes} bytes), ` +
        `${report.verifiedBlobs} images' data verified by md5 and sha512\n` +
        'start IMS with the target settings (IMS_DATABASE_URL, IMS_STORE, IMS_S3_*, IMS_DATA_DIR) now\n',
    );
    return 0;
  } catch (err) {
    process.stderr.write(`ims: migrate: ${(err as Error).message}\n`);
    return 1;
  }
}
