/**
 * Listing what is shared with a project: `npx tsx bench/ims-shared-list.ts [--db sqlite|postgres]
 * [--owners 50] [--per-owner 20] [--noise 2000] [--requests 200] [--warmup 20]`. Not part of CI;
 * prints figures and the target line (issue 6: p99 < 50 ms).
 *
 * Starts `node bin/ims.js serve` as a child process (free loopback port, fresh IMS_DATA_DIR; on
 * PostgreSQL a fresh database on IMS_BENCH_PG_URL's server, dropped afterwards), creates the
 * recipient project through the Keystone admin API, and seeds straight into the database (the
 * seeding is not what is measured): 50 owners with 20 active images each shared with the recipient,
 * 1,000 in all, accepted; four fifths of the owners share by project id (a member row each), one
 * fifth by the recipient's account (an account grant and the recipient's answer row), so both
 * paths of the shared-with-me condition are exercised; plus `--noise` private images of the owners
 * that are shared with no one. Every image has IMS properties and a quarter have tags.
 *
 * Then, one request at a time on a keep-alive connection, after the warm-up requests, as the
 * recipient: GET /v2/images (Glance's default page, 25), GET /v2/images?limit=1000 (all of them),
 * GET /v2/cloudimages (IMS's default page, 500), the IMS "shared & accepted" recipe, and
 * GET /v2/cloudimages?limit=1000; p50/p90/p99/max for each.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql, type CompiledQuery, type Insertable } from 'kysely';
import pg from 'pg';
import { loadCatalogues } from '../src/adapters/catalogue-files.ts';
import { Repositories } from '../src/adapters/db/repositories.ts';
import { grantKeys } from '../src/domain/sharing.ts';
import { parseImsImageQuery } from '../src/domain/image-query.ts';
import { listScope } from '../src/domain/visibility.ts';
import { openDatabase, type Db } from '../src/adapters/db/database.ts';
import { adminToken, benchServer, call, cpuMs, memberOf, must, seededImageRow } from './harness.ts';
import type { Database } from '../src/adapters/db/schema.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    owners: { type: 'string', default: '50' },
    'per-owner': { type: 'string', default: '20' },
    noise: { type: 'string', default: '2000' },
    requests: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
    // Print the PostgreSQL plan (EXPLAIN ANALYZE) of the IMS default page's query, as the service builds it.
    explain: { type: 'boolean', default: false },
    // Another checkout (e.g. `git worktree add /tmp/ims-base main`, with node_modules) measured
    // in the same run against the same database, interleaved with this one.
    baseline: { type: 'string' },
    // Only the rows whose label contains this.
    only: { type: 'string' },
    rounds: { type: 'string', default: '4' },
  },
});
const OWNERS = Number(values.owners);
const PER_OWNER = Number(values['per-owner']);
const NOISE = Number(values.noise);
const REQUESTS = Number(values.requests);
const WARMUP = Number(values.warmup);
const POSTGRES = values.db === 'postgres';
const ROUNDS = Math.max(1, Number(values.rounds));

type Row<T extends keyof Database> = Insertable<Database[T]>;

/** One image row with IMS properties (and tags for a quarter), as the list bench seeds them. */
function image(
  i: number,
  owner: string,
  visibility: string,
  rows: { images: Row<'images'>[]; props: Row<'image_properties'>[]; tags: Row<'image_tags'>[] },
): string {
  const id = randomUUID();
  const at = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString();
  rows.images.push(seededImageRow(i, { id, owner, visibility, createdAt: at }));
  const p: Record<string, string> = {
    __os_version: 'Ubuntu 22.04 server 64bit',
    __platform: 'Ubuntu',
    __os_type: 'Linux',
    __os_bit: '64',
    __description: `benchmark image ${i}`,
  };
  if (i % 3 === 0) p.__support_kvm = 'true';
  for (const [name, value] of Object.entries(p)) rows.props.push({ image_id: id, name, value });
  if (i % 4 === 0) rows.tags.push({ image_id: id, tag: `team-${i % 13}` }, { image_id: id, tag: 'bench' });
  return id;
}

async function seed(db: Db, recipient: string, recipientAccount: string): Promise<void> {
  let i = 0;
  for (let o = 0; o < OWNERS; o++) {
    const owner = `owner-${String(o).padStart(3, '0')}-${randomBytes(8).toString('hex')}`;
    const byAccount = o % 5 === 4;
    const rows = { images: [], props: [], tags: [] } as {
      images: Row<'images'>[];
      props: Row<'image_properties'>[];
      tags: Row<'image_tags'>[];
    };
    const members: Row<'image_members'>[] = [];
    const answers: Row<'image_member_answers'>[] = [];
    for (let k = 0; k < PER_OWNER; k++) {
      const at = new Date().toISOString();
      const id = image(i++, owner, 'shared', rows);
      if (byAccount) {
        members.push({
          image_id: id,
          member_id: recipientAccount,
          member_type: 'domain',
          status: 'pending',
          created_at: at,
          updated_at: at,
          urn: null,
          shared_by: null,
        });
        answers.push({
          image_id: id,
          project_id: recipient,
          status: 'accepted',
          answered_by: 'project',
          updated_at: at,
        });
      } else
        members.push({
          image_id: id,
          member_id: recipient,
          member_type: 'project',
          status: 'accepted',
          created_at: at,
          updated_at: at,
          urn: null,
          shared_by: null,
        });
    }
    for (let k = 0; k < Math.ceil(NOISE / OWNERS); k++) image(i++, owner, 'private', rows);
    await db.kysely.transaction().execute(async (trx) => {
      for (let from = 0; from < rows.images.length; from += 200)
        await trx
          .insertInto('images')
          .values(rows.images.slice(from, from + 200))
          .execute();
      for (let from = 0; from < rows.props.length; from += 500)
        await trx
          .insertInto('image_properties')
          .values(rows.props.slice(from, from + 500))
          .execute();
      if (rows.tags.length) await trx.insertInto('image_tags').values(rows.tags).execute();
      await trx.insertInto('image_members').values(members).execute();
      if (answers.length) await trx.insertInto('image_member_answers').values(answers).execute();
    });
  }
  if (POSTGRES) await sql`analyze`.execute(db.kysely);
}

interface Figures {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** CPU ms per request of the server process, and of its PostgreSQL backends. */
  cpu: number;
  pgCpu: number;
  images: number;
  bytes: number;
}

/** A server under test, as the measurements see it: its port and the process ids whose CPU is counted. */
interface Target {
  name: string;
  port: number;
  pid: number;
  /** The server's PostgreSQL backends (none on SQLite). */
  backends: () => Promise<number[]>;
}

/**
 * Requests for one path to every target, in ROUNDS interleaved slices so that load from
 * elsewhere on the machine falls on each alike; CPU is read from /proc around each slice.
 */
async function measure(targets: Target[], tok: string, p: string): Promise<Figures[]> {
  const state = targets.map(() => ({ times: [] as number[], cpu: 0, pgCpu: 0, images: 0, bytes: 0 }));
  for (const t of targets) for (let i = 0; i < WARMUP; i++) must(await call(t.port, 'GET', p, tok), 200, p);
  const slice = Math.ceil(REQUESTS / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, t] of targets.entries()) {
      const st = state[k]!;
      const before = new Map((await t.backends()).map((pid) => [pid, cpuMs(pid)]));
      const cpu0 = cpuMs(t.pid);
      for (let i = 0; i < slice && st.times.length < REQUESTS; i++) {
        const t0 = performance.now();
        const a = must(await call(t.port, 'GET', p, tok), 200, p);
        st.times.push(performance.now() - t0);
        if (st.images === 0) {
          st.images = (JSON.parse(a.body.toString()) as { images: unknown[] }).images.length;
          st.bytes = a.body.length;
        }
      }
      st.cpu += cpuMs(t.pid) - cpu0;
      // A backend opened during the slice counts from zero (one that ended is lost: pools keep theirs).
      for (const pid of await t.backends()) st.pgCpu += cpuMs(pid) - (before.get(pid) ?? 0);
    }
  }
  return state.map((st) => {
    const times = [...st.times].sort((x, y) => x - y);
    const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
    return {
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: times[times.length - 1]!,
      cpu: st.cpu / times.length,
      pgCpu: st.pgCpu / times.length,
      images: st.images,
      bytes: st.bytes,
    };
  });
}

/**
 * The IMS default page's query as the service builds it for the recipient (its reach: the
 * account grant keys that are live), run under EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL.
 */
async function explain(databaseUrl: string, projectId: string, accountId: string): Promise<void> {
  const queries: CompiledQuery[] = [];
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1, options: '-c jit=off' });
  const k = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (e) => {
      if (e.level === 'query') queries.push(e.query);
    },
  });
  try {
    const repos = new Repositories(k);
    const reach = await repos.sharing.reach(projectId, accountId, 'RegionOne');
    const keys = await repos.sharing.liveGrantKeys(grantKeys(reach));
    const ctx = { projectId, roles: ['member'] } as unknown as Parameters<typeof listScope>[0];
    const flavors = (await loadCatalogues({ osVersionsFile: '', flavorsFile: '' })).flavors;
    queries.length = 0;
    await repos.images.list(listScope(ctx, null, 'accepted', keys), parseImsImageQuery({}, flavors), null);
    // The page's query, then the details of its images (tags, properties, stores, members).
    for (const q of queries) {
      const plan = await pool.query<{ 'QUERY PLAN': string }>(
        `explain (analyze, buffers) ${q.sql}`,
        q.parameters as unknown[],
      );
      console.log(`${q.sql.slice(0, 300)}\n`);
      console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n') + '\n');
    }
  } finally {
    await k.destroy();
  }
}

/** The server's PostgreSQL connection URL, tagged so that its backends can be told apart. */
const tagged = (url: string, name: string) => {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
};

async function main(): Promise<void> {
  const pgEnv = (name: string, url: string): Record<string, string> =>
    url ? { IMS_DATABASE_URL: tagged(url, name) } : {};
  const server = await benchServer({ label: 'shared', postgres: POSTGRES, worker: false });
  const { port, dataDir, databaseUrl } = server;
  // The baseline serves the same data dir and database, one request at a time like the other.
  const base = values.baseline
    ? await benchServer({
        label: 'shared-base',
        postgres: POSTGRES,
        worker: false,
        repo: values.baseline,
        sharing: server,
        env: pgEnv('ims-bench-base', databaseUrl),
      })
    : null;
  const probe = POSTGRES ? new pg.Client({ connectionString: databaseUrl }) : null;
  try {
    await server.start();
    const admin = await adminToken(port);
    const member = await memberOf(port, admin);
    const db = openDatabase(databaseUrl, dataDir);
    const t0 = performance.now();
    await seed(db, member.projectId, 'default');
    await db.close();
    if (values.explain && POSTGRES) await explain(databaseUrl, member.projectId, 'default');
    // Restarted with its backends tagged (the first start made the database and the users).
    await server.stop();
    await server.start(pgEnv('ims-bench', databaseUrl));
    await base?.start();
    await probe?.connect();
    const backends = (name: string) => async () =>
      probe
        ? (
            await probe.query<{ pid: number }>(
              'select pid from pg_stat_activity where application_name = $1',
              [name],
            )
          ).rows.map((r) => r.pid)
        : [];
    const targets: Target[] = [
      ...(base
        ? [
            {
              name: 'baseline',
              port: base.port,
              pid: base.child().pid!,
              backends: backends('ims-bench-base'),
            },
          ]
        : []),
      { name: 'this', port: server.port, pid: server.child().pid!, backends: backends('ims-bench') },
    ];
    const shared = OWNERS * PER_OWNER;
    console.log(
      `${values.db}: seeded ${shared} images shared with one project by ${OWNERS} owners (+${NOISE} unshared) in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s; ${REQUESTS} sequential requests per row and server ` +
        `after ${WARMUP} warm-up requests, in ${ROUNDS} interleaved rounds; load average ` +
        `${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs` +
        (base ? `; baseline: ${values.baseline}` : '') +
        '\n',
    );

    const rows: [string, string][] = [
      ['GET /v2/images (default page)', '/v2/images'],
      ['GET /v2/images?limit=1000', '/v2/images?limit=1000'],
      ['GET /v2/cloudimages (default page, 500)', '/v2/cloudimages'],
      [
        'GET /v2/cloudimages shared & accepted recipe',
        '/v2/cloudimages?member_status=accepted&visibility=shared&__imagetype=shared',
      ],
      ['GET /v2/cloudimages?limit=1000', '/v2/cloudimages?limit=1000'],
    ].filter(([label]) => !values.only || label!.includes(values.only)) as [string, string][];
    console.log(
      '| request | server | images | KiB | p50 ms | p90 ms | p99 ms | max ms | server CPU ms/req | PostgreSQL CPU ms/req |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    const byRow: Figures[][] = [];
    for (const [label, p] of rows) {
      const figures = await measure(targets, member.token, p);
      byRow.push(figures);
      figures.forEach((r, k) =>
        console.log(
          `| ${label} | ${targets[k]!.name} | ${r.images} | ${(r.bytes / 1024).toFixed(0)} | ${r.p50.toFixed(1)} | ` +
            `${r.p90.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.cpu.toFixed(2)} | ` +
            `${POSTGRES ? r.pgCpu.toFixed(2) : '-'} |`,
        ),
      );
    }
    if (base) {
      console.log('\nthis / baseline (same run):');
      rows.forEach(([label], i) => {
        const [b, t] = [byRow[i]![0]!, byRow[i]![1]!];
        const ratio = (x: number, y: number) => (y > 0 ? (x / y).toFixed(2) : '-');
        console.log(
          `  ${label}: p99 ${ratio(t.p99, b.p99)}, p50 ${ratio(t.p50, b.p50)}, server CPU ${ratio(t.cpu, b.cpu)}` +
            (POSTGRES ? `, PostgreSQL CPU ${ratio(t.pgCpu, b.pgCpu)}` : ''),
        );
      });
    }
    const mine = (label: string) => {
      const i = rows.findIndex(([l]) => l === label);
      return i < 0 ? null : byRow[i]!.at(-1)!;
    };
    const pass = (ms: number) => (ms < 50 ? 'PASS' : 'MISS');
    const line = [
      ['GET /v2/images', mine('GET /v2/images (default page)')],
      ['GET /v2/cloudimages', mine('GET /v2/cloudimages (default page, 500)')],
    ]
      .filter((x): x is [string, Figures] => x[1] !== null)
      .map(([l, f]) => `${l} ${pass(f.p99)} (${f.p99.toFixed(1)} ms)`)
      .join(', ');
    if (line) console.log(`\ntarget p99 < 50 ms: ${line}`);
  } finally {
    await probe?.end().catch(() => undefined);
    await base?.cleanup();
    await server.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
