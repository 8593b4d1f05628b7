/**
 * Scale-out throughput (issue 7): `npx tsx bench/multi-node.ts [--size-mib 1024] [--uploads 4] [--nodes 2]`.
 * Not part of CI. Needs PostgreSQL (IMS_TEST_PG_URL, default 127.0.0.1:5432) and an S3 store
 * (eval "$(../shared/services/s3-up.sh)"; bucket ims-test). Starts NODES `ims serve --no-worker`
 * processes on one fresh database and one key prefix of the bucket, then UPLOADS concurrent uploads
 * of SIZE MiB each, spread round-robin over the nodes (`PUT /v2/images/{id}/file`, streamed from a
 * generator, MD5 computed on the client side), and prints per-upload and total throughput. Every
 * upload must answer 204 and the image's checksum must be the client's MD5; exit 1 otherwise.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { S3BlobStore } from '../src/adapters/storage/s3-blob-store.ts';
import { client, login, startApi, type ImsProcess } from '../test/helpers/processes.ts';
import { emptyTestStore, s3StoreOptions, s3TestEnv, s3TestServer } from '../test/helpers/s3.ts';
import { ADMIN_PASSWORD, createTestDatabase } from '../test/helpers/server.ts';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    uploads: { type: 'string', default: '4' },
    nodes: { type: 'string', default: '2' },
  },
});
const SIZE = Number(values['size-mib']) * 1024 * 1024;
const UPLOADS = Number(values.uploads);
const NODES = Number(values.nodes);
const s3 = s3TestServer();
if (!s3) {
  process.stderr.write(
    'bench/multi-node.ts needs S3_ENDPOINT: eval "$(../shared/services/s3-up.sh)" first\n',
  );
  process.exit(2);
}

/** Streams SIZE bytes (a random MiB over and over, so generating costs nothing) and hashes them. */
function upload(
  url: string,
  token: string,
  id: string,
): Promise<{ status: number | null; md5: string; ms: number }> {
  const block = randomBytes(1024 * 1024);
  const md5 = createHash('md5');
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', 'content-length': SIZE },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? null, md5: md5.digest('hex'), ms: performance.now() - t0 }),
      );
    });
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < SIZE) {
        const chunk = block.subarray(0, Math.min(block.length, SIZE - sent));
        md5.update(chunk);
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

const database = await createTestDatabase();
const env: Record<string, string> = {
  ...(await s3TestEnv()),
  // Bigger parts than the tests' 5 MiB: what a deployment would set for large images.
  IMS_S3_PART_SIZE: '16MiB',
  IMS_S3_CONCURRENCY: '4',
  IMS_DATABASE_URL: database.url,
  IMS_ADMIN_PASSWORD: ADMIN_PASSWORD,
  IMS_MASTER_KEY: randomBytes(32).toString('base64'),
  IMS_LOG_LEVEL: 'warn',
};
const store = new S3BlobStore(s3StoreOptions(s3, { keyPrefix: env.IMS_S3_KEY_PREFIX! }));
const nodes: Array<ImsProcess & { url: string }> = [];
let failed = false;
try {
  nodes.push(await startApi(env));
  nodes.push(...(await Promise.all(Array.from({ length: NODES - 1 }, () => startApi(env)))));
  const token = (await login(nodes[0]!.url, 'admin', 'admin')).headers.get('x-subject-token')!;
  const ids: string[] = [];
  for (let i = 0; i < UPLOADS; i++) {
    const res = await client(nodes[i % NODES]!.url, token)('POST', '/v2/images', {
      body: { name: `bench-${i}`, disk_format: 'raw', container_format: 'bare' },
    });
    ids.push(((await res.json()) as { id: string }).id);
  }
  process.stdout.write(
    `${UPLOADS} uploads of ${SIZE / 1048576} MiB through ${NODES} API nodes on PostgreSQL + S3 (${s3.endpoint})\n`,
  );
  const t0 = performance.now();
  const results = await Promise.all(ids.map((id, i) => upload(nodes[i % NODES]!.url, token, id)));
  const seconds = (performance.now() - t0) / 1000;
  for (const [i, r] of results.entries()) {
    const shown = (await (
      await client(nodes[(i + 1) % NODES]!.url, token)('GET', `/v2/images/${ids[i]}`)
    ).json()) as {
      checksum: string;
      status: string;
    };
    const ok = r.status === 204 && shown.status === 'active' && shown.checksum === r.md5;
    if (!ok) failed = true;
    process.stdout.write(
      `  upload ${i} via node ${i % NODES}: ${r.status} ${(SIZE / 1048576 / (r.ms / 1000)).toFixed(1)} MiB/s ${ok ? 'ok' : `FAILED (${shown.status}, checksum ${shown.checksum} vs ${r.md5})`}\n`,
    );
  }
  process.stdout.write(
    `total: ${((UPLOADS * SIZE) / 1048576 / seconds).toFixed(1)} MiB/s (${((UPLOADS * SIZE) / 1048576).toFixed(0)} MiB in ${seconds.toFixed(1)} s), errors: ${failed ? 'yes' : 'none'}\n`,
  );
} catch (err) {
  failed = true;
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
} finally {
  for (const n of nodes) {
    await n.kill();
    await fs.rm(n.dataDir, { recursive: true, force: true });
  }
  await emptyTestStore(store).catch(() => {});
  store.client.destroy();
  await database.drop();
}
process.exit(failed ? 1 : 0);
