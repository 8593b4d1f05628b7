import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase } from '../../src/adapters/db/database.ts';
import { createTestDatabase, TEST_DB } from '../helpers/server.ts';

// A PostgreSQL restart or failover ends the pool's idle connections: the service must carry on
// with new ones, not die of an unhandled 'error' event.
describe.skipIf(TEST_DB !== 'postgres')('PostgreSQL pool', () => {
  it('survives the server ending its idle connections, and the next query works', async () => {
    const database = await createTestDatabase();
    const db = openDatabase(database.url, '');
    const unhandled: unknown[] = [];
    const onError = (err: unknown) => unhandled.push(err);
    process.on('uncaughtException', onError);
    try {
      expect((await sql<{ one: number }>`select 1 as one`.execute(db.kysely)).rows[0]!.one).toBe(1);
      const name = new URL(database.url).pathname.slice(1);
      const admin = new pg.Client({ connectionString: database.url.replace(`/${name}`, '/postgres') });
      await admin.connect();
      try {
        const ended = await admin.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [name],
        );
        expect(ended.rowCount).toBeGreaterThan(0);
      } finally {
        await admin.end();
      }
      await new Promise((r) => setTimeout(r, 200));
      expect((await sql<{ one: number }>`select 1 as one`.execute(db.kysely)).rows[0]!.one).toBe(1);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('uncaughtException', onError);
      await db.close();
      await database.drop();
    }
  });
});
