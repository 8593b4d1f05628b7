/**
 * SQLite rows as the service reads them (database.ts reads them as arrays and makes the objects):
 * the same objects better-sqlite3 makes itself, through Kysely's calls (all, run, stream), with
 * duplicate and awkward column names, and after another connection changed the table.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/adapters/db/database.ts';

let db: Db;
let dir = '';
let direct: SQLite.Database;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-sqlite-rows-'));
  db = openDatabase('', dir);
  await sql`create table t (id text primary key, n integer, x real, b blob, note text)`.execute(db.kysely);
  await sql`create table u (id text, t_id text)`.execute(db.kysely);
  await sql`insert into t values ('a', 1, 1.5, x'0102', null), ('b', 2, null, null, 'two')`.execute(
    db.kysely,
  );
  await sql`insert into u values ('u1', 'a')`.execute(db.kysely);
  direct = new SQLite(path.join(dir, 'ims.sqlite3'));
});

afterAll(async () => {
  direct?.close();
  await db?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

const run = async (text: string) => (await db.kysely.executeQuery(sql.raw(text).compile(db.kysely))).rows;

describe('SQLite rows', () => {
  it('are the objects better-sqlite3 makes, values and key order alike', async () => {
    for (const text of [
      'select * from t order by id',
      'select n, id, note as "a note", n + 1 as "n+1" from t order by id',
      // Duplicate names: the last column wins, in both.
      'select t.*, u.* from t join u on u.t_id = t.id',
      'select 1 as "quote\'s ""and\\\\ backslash"',
    ]) {
      const ours = await run(text);
      const theirs = direct.prepare(text).all();
      expect(ours).toEqual(theirs);
      expect(ours.map((r) => Object.keys(r as object))).toEqual(theirs.map((r) => Object.keys(r as object)));
    }
    const [row] = (await run("select * from t where id = 'a'")) as Record<string, unknown>[];
    expect(Buffer.isBuffer(row!.b)).toBe(true);
    expect(row!.note).toBeNull();
  });

  it('keeps a column named __proto__ as a property', async () => {
    const [row] = (await run('select 1 as "__proto__", 2 as other')) as Record<string, unknown>[];
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe(1);
    expect(row!.other).toBe(2);
  });

  it('streams rows as objects too', async () => {
    const seen: unknown[] = [];
    for await (const r of db.kysely
      .selectFrom('t' as never)
      .selectAll()
      .orderBy('id' as never)
      .stream())
      seen.push(r);
    expect(seen).toEqual(direct.prepare('select * from t order by id').all());
  });

  it('writes still report their changes', async () => {
    const result = await db.kysely.executeQuery(
      sql`update t set n = n + 10 where id = 'b'`.compile(db.kysely),
    );
    expect(result.numAffectedRows).toBe(1n);
    expect(await run("select n from t where id = 'b'")).toEqual([{ n: 12 }]);
  });

  it('follow the table when another connection adds or drops a column', async () => {
    const text = 'select * from t order by id';
    expect(Object.keys((await run(text))[0] as object)).toEqual(['id', 'n', 'x', 'b', 'note']);
    direct.exec("alter table t add column extra text default 'e'");
    expect(await run(text)).toEqual(direct.prepare(text).all());
    expect(((await run(text))[0] as Record<string, unknown>).extra).toBe('e');
    direct.exec('alter table t drop column x');
    expect(await run(text)).toEqual(direct.prepare(text).all());
  });
});
