/**
 * QueryTemplates on the test database (IMS_TEST_DB=sqlite|postgres): a template built once answers
 * each call with that call's parameters, a null parameter gets its own shape, and a stand-in that
 * would reach the SQL text (or be changed before binding) is refused instead of run.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, type Db } from '../../src/adapters/db/database.ts';
import { QueryTemplates } from '../../src/adapters/db/query-templates.ts';
import { createTestDatabase, TEST_DB } from '../helpers/server.ts';

let db: Db;
let dir = '';
let drop: (() => Promise<void>) | null = null;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-query-templates-'));
  const pg = TEST_DB === 'postgres' ? await createTestDatabase() : null;
  drop = pg?.drop ?? null;
  db = openDatabase(pg?.url ?? '', dir);
  await migrate(db);
  await db.kysely
    .insertInto('settings')
    .values([
      { key: 'qt-a', value: 'first' },
      { key: 'qt-b', value: 'second' },
      { key: "qt-'quote", value: 'third' },
    ])
    .execute();
});

afterAll(async () => {
  await db?.close();
  await drop?.();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('QueryTemplates', () => {
  it('builds once and answers every call with its own parameters', async () => {
    const templates = new QueryTemplates(db.kysely);
    let builds = 0;
    const lookup = (key: string) =>
      templates.rows('setting', { key }, (p) => {
        builds++;
        return db.kysely.selectFrom('settings').select('value').where('key', '=', p.key);
      });
    expect(await lookup('qt-a')).toEqual([{ value: 'first' }]);
    expect(await lookup('qt-b')).toEqual([{ value: 'second' }]);
    expect(await lookup("qt-'quote")).toEqual([{ value: 'third' }]);
    expect(await lookup('qt-none')).toEqual([]);
    expect(builds).toBe(1);
  });

  it('keeps values fixed in the query and gives a null parameter its own shape', async () => {
    const templates = new QueryTemplates(db.kysely);
    let builds = 0;
    const lookup = (key: string | null) =>
      templates.rows('maybe', { key }, (p) => {
        builds++;
        let q = db.kysely.selectFrom('settings').select('value').where('key', 'like', 'qt-%');
        q = p.key === null ? q.where('value', '=', 'second') : q.where('key', '=', p.key);
        return q;
      });
    expect(await lookup('qt-a')).toEqual([{ value: 'first' }]);
    expect(await lookup(null)).toEqual([{ value: 'second' }]);
    expect(await lookup('qt-b')).toEqual([{ value: 'second' }]);
    expect(builds).toBe(2);
  });

  it('refuses a parameter written into the SQL text', async () => {
    const templates = new QueryTemplates(db.kysely);
    await expect(
      templates.rows('inlined', { key: 'qt-a' }, (p) =>
        db.kysely.selectFrom('settings').select('value').where('key', '=', sql.lit(p.key)),
      ),
    ).rejects.toThrow(/in the SQL text/);
  });

  it('refuses a parameter changed before binding', async () => {
    const templates = new QueryTemplates(db.kysely);
    await expect(
      templates.rows('changed', { key: 'qt' }, (p) =>
        db.kysely.selectFrom('settings').select('value').where('key', '=', `${p.key}-a`),
      ),
    ).rejects.toThrow(/changed before binding/);
  });
});
