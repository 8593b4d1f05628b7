/**
 * Copies every row of one IMS database into another (SQLite ⇄ PostgreSQL), for
 * `ims migrate --to-database`. Both are at the same schema version first. The
 * tables come from the source's catalogue, not from a list here, so tables
 * added by later migrations move too; they are filled parents first (foreign
 * keys), rows of self-referencing tables parents first as well.
 */
import { sql, type Kysely } from 'kysely';
import type { Db, Dialect } from './database.ts';

type AnyDb = Kysely<Record<string, Record<string, unknown>>>;

interface ForeignKey {
  child: string;
  column: string;
  parent: string;
  parentColumn: string;
}

/** Tables that say nothing about the deployment's content when they are not empty. */
const SEEDED = new Set(['metadef_resource_types', 'audit_chain_head']);

/** PostgreSQL takes at most 65535 bound values per statement. */
const MAX_VALUES = 30_000;

async function foreignKeys(db: AnyDb, dialect: Dialect, tables: string[]): Promise<ForeignKey[]> {
  if (dialect === 'postgres') {
    const { rows } = await sql<ForeignKey>`
      select kcu.table_name as child, kcu.column_name as "column",
             ccu.table_name as parent, ccu.column_name as "parentColumn"
      from information_schema.table_constraints tc
      join information_schema.key_column_usage kcu
        on kcu.constraint_name = tc.constraint_name and kcu.table_schema = tc.table_schema
      join information_schema.constraint_column_usage ccu
        on ccu.constraint_name = tc.constraint_name and ccu.table_schema = tc.table_schema
      where tc.constraint_type = 'FOREIGN KEY' and tc.table_schema = current_schema()`.execute(db);
    return rows;
  }
  const out: ForeignKey[] = [];
  for (const child of tables) {
    const { rows } = await sql<{ table: string; from: string; to: string | null }>`
      select "table", "from", "to" from pragma_foreign_key_list(${child})`.execute(db);
    for (const r of rows) out.push({ child, column: r.from, parent: r.table, parentColumn: r.to ?? 'id' });
  }
  return out;
}

/** Parents before children; a table's reference to itself does not count here. */
function fillOrder(tables: string[], fks: ForeignKey[]): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  const visit = (t: string, path: Set<string>) => {
    if (placed.has(t)) return;
    if (path.has(t)) throw new Error(`foreign keys form a cycle through ${t}`);
    path.add(t);
    for (const fk of fks)
      if (fk.child === t && fk.parent !== t && tables.includes(fk.parent)) visit(fk.parent, path);
    path.delete(t);
    placed.add(t);
    order.push(t);
  };
  for (const t of [...tables].sort()) visit(t, new Set());
  return order;
}

/** Rows of a self-referencing table, each after the row it points to. */
function parentsFirst(rows: Record<string, unknown>[], selfRefs: ForeignKey[]): Record<string, unknown>[] {
  if (!selfRefs.length) return rows;
  const out: Record<string, unknown>[] = [];
  const seen = selfRefs.map(() => new Set<unknown>());
  let pending = rows;
  while (pending.length) {
    const next: Record<string, unknown>[] = [];
    for (const row of pending) {
      const ready = selfRefs.every((fk, i) => row[fk.column] == null || seen[i]!.has(row[fk.column]));
      if (!ready) {
        next.push(row);
        continue;
      }
      out.push(row);
      selfRefs.forEach((fk, i) => seen[i]!.add(row[fk.parentColumn]));
    }
    if (next.length === pending.length) throw new Error('rows reference parents that do not exist');
    pending = next;
  }
  return out;
}

export interface CopyReport {
  tables: number;
  rows: number;
}

/**
 * Copies every table of `from` into `to`, whose content must be empty but for
 * the rows migrations seed (those are replaced). `mapRow` may rewrite a row on
 * the way (store names). One transaction on the target: all or nothing.
 */
export async function copyDatabase(
  from: Db,
  to: Db,
  mapRow: (table: string, row: Record<string, unknown>) => Record<string, unknown> = (_t, r) => r,
): Promise<CopyReport> {
  const src = from.kysely as unknown as AnyDb;
  const dst = to.kysely as unknown as AnyDb;
  const tables = (await src.introspection.getTables()).map((t) => t.name);
  const targetTables = new Set((await dst.introspection.getTables()).map((t) => t.name));
  const missing = tables.filter((t) => !targetTables.has(t));
  if (missing.length) throw new Error(`the target database lacks tables ${missing.join(', ')}`);
  for (const t of tables) {
    if (SEEDED.has(t)) continue;
    const row = await dst
      .selectFrom(t)
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirst();
    if (Number(row?.n ?? 0) > 0) throw new Error(`the target database is not empty (table ${t} has rows)`);
  }
  const fks = await foreignKeys(src, from.dialect, tables);
  const order = fillOrder(tables, fks);
  let rows = 0;
  await dst.transaction().execute(async (trx) => {
    for (const t of [...order].reverse()) await trx.deleteFrom(t).execute();
    for (const t of order) {
      const all = parentsFirst(
        (await src.selectFrom(t).selectAll().execute()).map((r) => mapRow(t, r)),
        fks.filter((fk) => fk.child === t && fk.parent === t),
      );
      if (!all.length) continue;
      const per = Math.max(1, Math.floor(MAX_VALUES / Object.keys(all[0]!).length));
      for (let i = 0; i < all.length; i += per)
        await trx
          .insertInto(t)
          .values(all.slice(i, i + per))
          .execute();
      rows += all.length;
    }
  });
  return { tables: tables.length, rows };
}
