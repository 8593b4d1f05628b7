import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  sql,
  type Migration,
  type MigrationProvider,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import type { Database } from './schema.ts';
import * as m0001 from './migrations/0001-initial.ts';
import * as m0002 from './migrations/0002-jobs.ts';
import * as m0003 from './migrations/0003-access-keys.ts';
import * as m0004 from './migrations/0004-application-credentials.ts';
import * as m0005 from './migrations/0005-import-stores.ts';
import * as m0006 from './migrations/0006-images-enterprise-project.ts';
import * as m0007 from './migrations/0007-image-quotas.ts';
import * as m0008 from './migrations/0008-metadefs.ts';
import * as m0009 from './migrations/0009-audit-trail.ts';
import * as m0010 from './migrations/0010-organizations.ts';
import * as m0012 from './migrations/0012-project-buckets.ts';
import * as m0015 from './migrations/0015-account-buckets-user-uploads.ts';
import * as m0014 from './migrations/0014-upload-sessions.ts';
import * as m0013 from './migrations/0013-scale-out.ts';
import * as m0011 from './migrations/0011-sharing.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  close(): Promise<void>;
}

// Migrations live in code, so a bundled or compiled service carries them.
const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-jobs': m0002,
  '0003-access-keys': m0003,
  '0004-application-credentials': m0004,
  '0005-import-stores': m0005,
  '0006-images-enterprise-project': m0006,
  '0007-image-quotas': m0007,
  '0008-metadefs': m0008,
  '0009-audit-trail': m0009,
  '0010-organizations': m0010,
  '0012-project-buckets': m0012,
  '0014-upload-sessions': m0014,
  '0015-account-buckets-user-uploads': m0015,
  '0013-scale-out': m0013,
  '0011-sharing': m0011,
};
const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

// PostgreSQL returns bigint as text; image sizes stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

const OPTIMIZE_EVERY_MS = 10 * 60_000;

/** Opens the database named by the URL: empty means the SQLite file under the data dir. */
export function openDatabase(databaseUrl: string, dataDir: string): Db {
  if (databaseUrl) {
    // No JIT: a page of a filtered list (a LIMIT over an index walk with a subplan per
    // property condition) is estimated above jit_above_cost, and compiling its expressions took
    // 90 ms where running it took 5. The service's queries are all short.
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, options: '-c jit=off' });
    // An idle connection that the server ends (a restart, a failover, an administrator) is
    // dropped by the pool and the next query opens a new one; without a listener its 'error'
    // event would end the whole process. A query in flight still gets its own error.
    pool.on('error', () => undefined);
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { kysely, dialect: 'postgres', close: () => kysely.destroy() };
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const file = new SQLite(path.join(dataDir, 'ims.sqlite3'));
  file.pragma('journal_mode = WAL');
  file.pragma('synchronous = NORMAL');
  file.pragma('foreign_keys = ON');
  file.pragma('busy_timeout = 5000');
  // Without statistics SQLite's planner answers a page of the image list by collecting every
  // visible image through the owner and visibility indexes and sorting them all; with them it
  // walks the created_at index and stops after the page. PRAGMA optimize, at open and then
  // every 10 minutes as SQLite advises for long-lived connections, keeps them (bounded by
  // analysis_limit, so each run takes milliseconds) as PostgreSQL's autovacuum does.
  file.pragma('analysis_limit = 1000');
  const optimize = (mask: string) => {
    try {
      file.pragma(`optimize = ${mask}`);
    } catch {
      // Another process holds the write lock: the statistics wait for the next round.
    }
  };
  optimize('0x10002');
  const optimizer = setInterval(() => optimize('0xfffe'), OPTIMIZE_EVERY_MS);
  optimizer.unref();
  const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(file) }) });
  return {
    kysely,
    dialect: 'sqlite',
    close: () => {
      clearInterval(optimizer);
      return kysely.destroy();
    },
  };
}

/**
 * Kysely prepares every query anew; preparing costs as much as running a
 * short query, so the statements of the service's fixed set of queries are kept.
 */
function withStatementCache(file: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => file.close(),
    prepare(sqlText: string) {
      let statement = cache.get(sqlText);
      if (!statement) {
        // Queries with IN lists vary in text; a bound keeps the cache from growing without end.
        if (cache.size >= 1000) cache.clear();
        const prepared = file.prepare(sqlText);
        statement = prepared.reader ? new RowsAsObjects(prepared) : prepared;
        cache.set(sqlText, statement);
      }
      return statement;
    },
  };
}

type Row = Record<string, unknown>;

/**
 * A reading statement whose rows better-sqlite3 hands over as arrays, made objects here: it
 * builds each row object a property at a time, which for an image row (22 columns) cost more
 * than finding it. A function made once per statement builds them as one object literal.
 * Duplicate column names keep the last value, as better-sqlite3's objects do.
 */
class RowsAsObjects implements SqliteStatement {
  readonly reader = true;
  #make: (values: unknown[]) => Row;
  #width: number;

  constructor(private readonly statement: SQLite.Statement) {
    statement.raw(true);
    [this.#make, this.#width] = this.#maker();
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    const rows = this.statement.all(parameters) as unknown[][];
    const out = new Array<Row>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.#row(rows[i]!);
    return out;
  }

  run(parameters: ReadonlyArray<unknown>) {
    return this.statement.run(parameters);
  }

  *iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    for (const values of this.statement.iterate(parameters) as IterableIterator<unknown[]>) {
      yield this.#row(values);
    }
  }

  #row(values: unknown[]): Row {
    // SQLite prepares a statement again when the schema changed (another process migrated):
    // `select *` may then have other columns.
    if (values.length !== this.#width) [this.#make, this.#width] = this.#maker();
    return this.#make(values);
  }

  #maker(): [(values: unknown[]) => Row, number] {
    const names = this.statement.columns().map((c) => c.name);
    if (names.includes('__proto__')) {
      // In a literal that key would set the prototype, not a property.
      const byAssignment = (values: unknown[]) => {
        const row: Row = {};
        names.forEach((name, i) =>
          Object.defineProperty(row, name, {
            value: values[i],
            enumerable: true,
            writable: true,
            configurable: true,
          }),
        );
        return row;
      };
      return [byAssignment, names.length];
    }
    // The keys are the statement's column names, each quoted by JSON.stringify.
    const fields = names.map((name, i) => `${JSON.stringify(name)}: v[${i}]`).join(', ');
    return [new Function('v', `return { ${fields} };`) as (values: unknown[]) => Row, names.length];
  }
}

/** Brings the schema up to date; safe to run on every start and from several nodes. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db: db.kysely, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

export async function ping(db: Db): Promise<void> {
  await sql`select 1`.execute(db.kysely);
}
