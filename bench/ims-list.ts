/**
 * IMS native list latency: `npx tsx bench/ims-list.ts [--db sqlite|postgres] [--images 10000]
 * [--requests 200] [--warmup 20]`. Not part of CI; prints figures, asserts nothing but the target line.
 *
 * Starts `node bin/ims.js serve` as a child process (free loopback port, fresh IMS_DATA_DIR; on
 * PostgreSQL a fresh database on IMS_BENCH_PG_URL's server, dropped afterwards), creates a member
 * project through the Keystone admin API, and seeds N images straight into the database (the seeding
 * is not what is measured): 60% owned by the member project, 20% public, 10% shared with it, 10%
 * private to others; every image has IMS properties (__os_version and its facts, a __support_* flag
 * for a third, an enterprise project for a tenth) and a quarter has tags.
 *
 * Then, one request at a time on a keep-alive connection, after 20 warm-up requests each:
 *   - baseline: GET /v2/images?limit=500  (Glance's list, the same page size)
 *   - GET /v2/cloudimages?limit=500        (target p99 < 100 ms with 10,000 images)
 *   - GET /v2/cloudimages?limit=500&flavor_id=s6.large.2
 *   - GET /v2/cloudimages?limit=500&__os_type=Linux&__support_kvm=true
 * and prints p50/p90/p99/max and the ratio of each p99 to the baseline's.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { sql, type Insertable } from 'kysely';
import { openDatabase, type Db } from '../src/adapters/db/database.ts';
import { adminToken, benchServer, call, memberOf, must, seededImageRow } from './harness.ts';
import type { Database } from '../src/adapters/db/schema.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    images: { type: 'string', default: '10000' },
    requests: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
  },
});
const IMAGES = Number(values.images);
const REQUESTS = Number(values.requests);
const WARMUP = Number(values.warmup);
const POSTGRES = values.db === 'postgres';

const OS = [
  ['CentOS 7.6 64bit', 'CentOS', 'Linux'],
  ['Ubuntu 22.04 server 64bit', 'Ubuntu', 'Linux'],
  ['Windows Server 2019 Standard 64bit', 'Windows', 'Windows'],
  ['Debian GNU/Linux 12.0.0 64bit', 'Debian', 'Linux'],
] as const;

async function seed(db: Db, projectId: string): Promise<void> {
  const start = Date.UTC(2025, 0, 1);
  const batch = 200;
  for (let from = 0; from < IMAGES; from += batch) {
    const images: Insertable<Database['images']>[] = [];
    const props: Insertable<Database['image_properties']>[] = [];
    const tags: Insertable<Database['image_tags']>[] = [];
    const members: Insertable<Database['image_members']>[] = [];
    for (let i = from; i < Math.min(IMAGES, from + batch); i++) {
      const id = randomUUID();
      const kind = i % 10; // 0-5 own, 6-7 public, 8 shared with the member, 9 someone else's
      const owner = kind <= 5 || kind === 9 ? (kind === 9 ? 'someone-else' : projectId) : 'publisher';
      const at = new Date(start + i * 1000).toISOString();
      images.push(
        seededImageRow(i, {
          id,
          owner,
          visibility: kind === 6 || kind === 7 ? 'public' : kind === 8 ? 'shared' : 'private',
          createdAt: at,
          enterpriseProjectId: i % 10 === 3 ? '4f2c1d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f' : '0',
        }),
      );
      const [version, platform, osType] = OS[i % OS.length]!;
      const p: Record<string, string> = {
        __os_version: version,
        __platform: platform,
        __os_type: osType,
        __os_bit: '64',
        __description: `benchmark image ${i}`,
        hw_firmware_type: 'bios',
      };
      if (i % 3 === 0) p.__support_kvm = 'true';
      if (i % 7 === 0) p.__support_largememory = 'true';
      for (const [name, value] of Object.entries(p)) props.push({ image_id: id, name, value });
      if (i % 4 === 0) tags.push({ image_id: id, tag: `team-${i % 13}` }, { image_id: id, tag: 'bench' });
      if (kind === 8)
        members.push({
          image_id: id,
          member_id: projectId,
          status: 'accepted',
          created_at: at,
          updated_at: at,
        });
    }
    await db.kysely.transaction().execute(async (trx) => {
      await trx.insertInto('images').values(images).execute();
      await trx.insertInto('image_properties').values(props).execute();
      if (tags.length) await trx.insertInto('image_tags').values(tags).execute();
      if (members.length) await trx.insertInto('image_members').values(members).execute();
    });
  }
  if (POSTGRES) await sql`analyze`.execute(db.kysely);
}

interface Figures {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  images: number;
  bytes: number;
  /** The server's CPU time (user + system) per request: what load on a shared machine inflates least. */
  cpuMs: number;
}

/** utime + stime of a process in ms, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

async function measure(port: number, tok: string, p: string, pid: number): Promise<Figures> {
  let images = 0;
  let bytes = 0;
  for (let i = 0; i < WARMUP; i++) must(await call(port, 'GET', p, tok), 200, p);
  const times: number[] = [];
  const cpu0 = cpuMsOf(pid);
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const a = must(await call(port, 'GET', p, tok), 200, p);
    times.push(performance.now() - t0);
    if (i === 0) {
      images = (JSON.parse(a.body.toString()) as { images: unknown[] }).images.length;
      bytes = a.body.length;
    }
  }
  const cpuMs = (cpuMsOf(pid) - cpu0) / REQUESTS;
  times.sort((x, y) => x - y);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: times[times.length - 1]!, images, bytes, cpuMs };
}

async function main(): Promise<void> {
  const server = await benchServer({ label: 'list', postgres: POSTGRES, worker: false });
  const { port, dataDir, databaseUrl } = server;
  try {
    await server.start();
    const admin = await adminToken(port);
    const member = await memberOf(port, admin);
    const db = openDatabase(databaseUrl, dataDir);
    const t0 = performance.now();
    await seed(db, member.projectId);
    await db.close();
    // The rows went in behind the server's back, faster than any client could add them. A server
    // that has been running refreshes the planner's statistics itself (autovacuum on PostgreSQL,
    // PRAGMA optimize every 10 minutes on SQLite) and one starting reads them: restart it, so the
    // figures are those of a server in its steady state, not of the first minutes after a bulk load.
    await server.stop();
    await server.start();
    console.log(
      `${values.db}: seeded ${IMAGES} images in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
        `${REQUESTS} sequential requests per row after ${WARMUP} warm-up requests; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs\n`,
    );

    const rows: [string, string][] = [
      ['baseline GET /v2/images?limit=500', '/v2/images?limit=500'],
      ['GET /v2/cloudimages?limit=500', '/v2/cloudimages?limit=500'],
      ['  + flavor_id=s6.large.2', '/v2/cloudimages?limit=500&flavor_id=s6.large.2'],
      [
        '  + __os_type=Linux&__support_kvm=true',
        '/v2/cloudimages?limit=500&__os_type=Linux&__support_kvm=true',
      ],
    ];
    const results: Figures[] = [];
    for (const [, p] of rows) results.push(await measure(port, member.token, p, server.child().pid!));
    const base = results[0]!;
    console.log(
      '| request | images | KiB | p50 ms | p90 ms | p99 ms | max ms | p99 / baseline | server CPU ms/req |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    rows.forEach(([label], i) => {
      const r = results[i]!;
      console.log(
        `| ${label} | ${r.images} | ${(r.bytes / 1024).toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} | ` +
          `${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${(r.p99 / base.p99).toFixed(2)} | ${r.cpuMs.toFixed(1)} |`,
      );
    });
    const target = results[1]!.p99;
    console.log(
      `\ntarget: GET /v2/cloudimages?limit=500 p99 < 100 ms with ${IMAGES} images: ${target < 100 ? 'PASS' : 'MISS'} (${target.toFixed(1)} ms); load average at the end ${os.loadavg()[0]!.toFixed(1)}`,
    );
  } finally {
    await server.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
