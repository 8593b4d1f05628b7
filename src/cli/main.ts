import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config/config.ts';
import { clientHelp, runClientCommand } from './client/dispatch.ts';

// The server stack (Fastify, database drivers, services) is loaded only by the commands
// that run it: a client command such as `ims image list` starts in a fraction of the time.
const serverModule = () => import('../server.ts');
const databaseModule = () => import('../adapters/db/database.ts');
const workerModule = () => import('./worker-command.ts');
const auditModule = () => import('./audit-command.ts');
const metadefsModule = () => import('./metadefs-command.ts');
const adminModule = () => import('./bucket-command.ts');
const moveModule = () => import('./move-command.ts');
const gcModule = () => import('./gc-command.ts');

const HELP = `ims - Image Management Service (OpenStack Image API v2 and Huawei Cloud IMS API)

Server commands:
  ims serve      Start the service: API on IMS_HOST:IMS_PORT and job workers
                 (--no-worker: API only, for deployments with separate \`ims worker\` processes)
  ims worker     Run job workers only, no API (--concurrency N, default 2)
  ims migrate    Bring the database schema up to date and exit
  ims migrate --to-database URL|sqlite [--to-store file|s3] [--to-data-dir DIR]
                 Move a stopped deployment to another database and store, verified by hashes
                 (ims migrate --to-database x --help: the details)
  ims gc [--grace 1h]
                 Revert what dead processes left half-way; delete unreferenced store objects
  ims audit verify|export
                 Check the audit trail (exit 1 if tampered with) / archive it to the blob store
  ims metadefs load [--dir DIR]
                 Create the standard metadata definition namespaces (Glance's load_metadefs)
  ims admin bucket grant|revoke|list
                 Grant projects buckets of the tenants' object store (IMS_USER_S3_*)
  ims --help     Show this help

Configuration comes from the environment:
  IMS_HOST (127.0.0.1)  IMS_PORT (9292)  IMS_DATA_DIR (./data)
  IMS_DATABASE_URL (empty: SQLite in the data dir; postgres://... for PostgreSQL)
  IMS_REGION (RegionOne)  IMS_ADMIN_PASSWORD (first start only; generated and printed if unset)
  IMS_MAX_IMAGE_SIZE (1TiB)  IMS_PUBLIC_URL (http://IMS_HOST:IMS_PORT)
  IMS_TRUSTED_PROXIES (addresses or CIDRs whose X-Forwarded-For is believed)
  IMS_TOKEN_TTL (24h)  IMS_LOG_LEVEL (info)  IMS_METRICS_ALLOW (extra /metrics scrapers)
  IMS_DEFAULT_IMAGE_QUOTA (50 images per project, or unlimited)
  IMS_DEFAULT_IMAGE_SIZE_QUOTA (unlimited, or a size such as 500GiB)
  IMS_POLICY_FILE (JSON rules over the default policy)
  IMS_PROPERTY_PROTECTION_FILE (Glance property protections, roles format)
  IMS_PEER_REGIONS_FILE (JSON: peer regions for cross-region copies and their trust)
  IMS_AUTH_FAILURE_LIMIT (20/60s: failed logins or signatures per source address before 429)
  IMS_USER_S3_ENDPOINT, _REGION, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _FORCE_PATH_STYLE
                 (the tenants' object store images are imported from and exported to)
  IMS_UPLOAD_SESSION_TTL (24h: idle resumable upload sessions are purged after it)
  IMS_TLS_CERT, IMS_TLS_KEY (PEM files: serve HTTPS; unset: HTTP, e.g. behind a TLS load balancer)
  IMS_LEASE (30s: how long a dead process's job or upload stays claimed before it is taken back)
`;

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ims: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function serve(withWorker: boolean): Promise<void> {
  const config = configOrExit();
  const { createServer } = await serverModule();
  const server = await createServer(config, { worker: withWorker });
  if (server.generatedAdminPassword) {
    // Shown once, on the first start; it is stored only as a hash.
    process.stdout.write(
      `\n  IMS created the user "admin" (domain Default, project admin).\n  Its password, shown only this once: ${server.generatedAdminPassword}\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, 'shutting down: no new connections, waiting for requests in flight');
    const force = setTimeout(() => {
      server.app.log.error('requests still in flight after 60 s; exiting');
      process.exit(1);
    }, 60_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.app.log.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await server.app.listen({ host: config.host, port: config.port });
}

async function runMigrations(): Promise<void> {
  const config = configOrExit();
  const { migrate, openDatabase } = await databaseModule();
  const db = openDatabase(config.databaseUrl, config.dataDir);
  try {
    const applied = await migrate(db);
    process.stdout.write(
      applied.length ? `applied: ${applied.join(', ')}\n` : 'database schema is up to date\n',
    );
  } finally {
    await db.close();
  }
}

export async function main(argv: string[]): Promise<number> {
  // Client commands (image, job, login, admin...) first: they have their own --help.
  const clientCode = await runClientCommand(argv, process);
  if (clientCode !== null) return clientCode;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' }, 'no-worker': { type: 'boolean' } },
  });
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${HELP}\n${clientHelp()}`);
    return command === undefined && !values.help ? 2 : 0;
  }
  switch (command) {
    case 'serve':
      await serve(values['no-worker'] !== true);
      return -1;
    case 'worker':
      await (await workerModule()).runWorker(configOrExit(), argv.slice(argv.indexOf('worker') + 1));
      return -1;
    case 'migrate': {
      const rest = argv.slice(argv.indexOf('migrate') + 1);
      if (rest.some((a) => a.startsWith('--to-'))) {
        if (values.help) {
          process.stdout.write(`${(await moveModule()).MOVE_HELP}\n`);
          return 0;
        }
        return (await moveModule()).runMove(configOrExit(), rest);
      }
      await runMigrations();
      return 0;
    }
    case 'audit':
      return (await auditModule()).runAudit(configOrExit(), positionals.slice(1));
    case 'metadefs':
      return (await metadefsModule()).runMetadefs(configOrExit(), argv.slice(argv.indexOf('metadefs') + 1));
    case 'admin':
      return (await adminModule()).runAdmin(configOrExit(), argv.slice(argv.indexOf('admin') + 1));
    case 'gc':
      return (await gcModule()).runGc(configOrExit(), argv.slice(argv.indexOf('gc') + 1));
    default:
      process.stderr.write(`ims: unknown command "${command}"\n\n${HELP}\n${clientHelp()}`);
      return 2;
  }
}
