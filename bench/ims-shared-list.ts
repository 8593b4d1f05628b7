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
import { sql, type Insertable } from 'kysely';
import { openDatabase, type Db } from '../src/adapters/db/database.ts';
import { adminToken, benchServer, call, memberOf, must, seededImageRow } from './harness.ts';
import type { Database } from '../src/adapters/db/schema.ts';

const { values } = parseArgs({
  options: {
    db: { type: 'string', default: 'sqlite' },
    owners: { type: 'string', default: '50' },
    'per-owner': { type: 'string', default: '20' },
    noise: { type: 'string', default: '2000' },
    requests: { type: 'string', default: '200' },
    warmup: { type: 'string', default: '20' },
  },
});
const OWNERS = Number(values.owners);
const PER_OWNER = Number(values['per-owner']);
const NOISE = Number(values.noise);
const REQUESTS = Number(values.requests);
const WARMUP = Number(values.warmup);
const POSTGRES = values.db === 'postgres';

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
  images: number;
  bytes: number;
}

async function measure(port: number, tok: string, p: string): Promise<Figures> {
  let images = 0;
  let bytes = 0;
  for (let i = 0; i < WARMUP; i++) must(await call(port, 'GET', p, tok), 200, p);
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t0 = performance.now();
    const a = must(await call(port, 'GET', p, tok), 200, p);
    times.push(performance.now() - t0);
    if (i === 0) {
      images = (JSON.parse(a.body.toString()) as { images: unknown[] }).images.length;
      bytes = a.body.length;
    }
  }
  times.sort((x, y) => x - y);
  const at = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)]!;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: times[times.length - 1]!, images, bytes };
}

async function main(): Promise<void> {
  const server = await benchServer({ label: 'shared', postgres: POSTGRES, worker: false });
  const { port, dataDir, databaseUrl } = server;
  try {
    await server.start();
    const admin = await adminToken(port);
    const member = await memberOf(port, admin);
    const db = openDatabase(databaseUrl, dataDir);
    const t0 = performance.now();
    await seed(db, member.projectId, 'default');
    await db.close();
    const shared = OWNERS * PER_OWNER;
    console.log(
      `${values.db}: seeded ${shared} images shared with one project by ${OWNERS} owners (+${NOISE} unshared) in ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s; ${REQUESTS} sequential requests per row after ${WARMUP} ` +
        `warm-up requests; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs\n`,
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
    ];
    const results: Figures[] = [];
    for (const [, p] of rows) results.push(await measure(port, member.token, p));
    console.log('| request | images | KiB | p50 ms | p90 ms | p99 ms | max ms |');
    console.log('|---|---|---|---|---|---|---|');
    rows.forEach(([label], i) => {
      const r = results[i]!;
      console.log(
        `| ${label} | ${r.images} | ${(r.bytes / 1024).toFixed(0)} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} | ` +
          `${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |`,
      );
    });
    const [glance, , ims] = [results[0]!, results[1]!, results[2]!];
    const pass = (ms: number) => (ms < 50 ? 'PASS' : 'MISS');
    console.log(
      `\ntarget p99 < 50 ms: GET /v2/images ${pass(glance.p99)} (${glance.p99.toFixed(1)} ms), ` +
        `GET /v2/cloudimages ${pass(ims.p99)} (${ims.p99.toFixed(1)} ms)`,
    );
  } finally {
    await server.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
