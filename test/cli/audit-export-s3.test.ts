import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/adapters/storage/s3-blob-store.ts';
import { s3TestEnv, s3TestServer, s3StoreOptions } from '../helpers/s3.ts';
import { runOnServer } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// `ims audit export` must archive into the store the deployment keeps its data in: on an S3
// deployment a local file would vanish with the node that wrote it.
const server = s3TestServer();

describe.skipIf(!server)('ims audit export on an S3 deployment', () => {
  let s: TestServer;
  let env: Record<string, string>;
  let store: S3BlobStore;

  beforeAll(async () => {
    env = await s3TestEnv();
    s = await startTestServer(env);
    store = new S3BlobStore(s3StoreOptions(server!, { keyPrefix: env.IMS_S3_KEY_PREFIX! }));
  });
  afterAll(async () => {
    await s?.close();
    store?.client.destroy();
  });

  it('writes the JSON Lines archive and its head to the bucket, and verify reads them back', async () => {
    expect((await s.request('POST', '/v2/images', { body: { name: 'archived' } })).status).toBe(201);
    const ims = (sub: string) => runOnServer(s, ['audit', sub], env);
    const exported = await ims('export');
    expect(exported.code, exported.out).toBe(0);
    const key = /to (audit\/events-\S+\.jsonl)/.exec(exported.out)?.[1];
    expect(key, exported.out).toBeDefined();

    const keys: string[] = [];
    for await (const { key: k } of store.list('audit/')) keys.push(k);
    expect(keys).toEqual(expect.arrayContaining([key, 'audit/head.json']));
    const lines: string[] = [];
    let text = '';
    for await (const chunk of await store.read(key!)) text += (chunk as Buffer).toString();
    lines.push(...text.trim().split('\n'));
    expect(lines.map((l) => (JSON.parse(l) as { operation: string }).operation)).toContain('createImage');

    const verified = await ims('verify');
    expect(verified.code, verified.out).toBe(0);
  }, 300_000);
});
