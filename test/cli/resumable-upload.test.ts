/**
 * `ims image upload` of a large file goes through an upload session: a connection cut
 * mid-chunk is retried within the run, and a run killed part-way is resumed by the next
 * run of the same command, which sends only what the server lacks.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, type CliRunner } from '../helpers/cli.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let owner: CliRunner;
let token: string;
const MiB = 1024 * 1024;
const CHUNKED = { IMS_UPLOAD_RESUMABLE_THRESHOLD: '1MiB', IMS_UPLOAD_CHUNK_SIZE: '256KiB' };

beforeAll(async () => {
  s = await startTestServer();
  const a = await s.tokenFor('cli-resume', 'rosa', 'member');
  token = a.token;
  owner = await cliRunner({ IMS_ENDPOINT: s.url, IMS_TOKEN: a.token, IMS_PROJECT_ID: a.projectId });
});
afterAll(async () => {
  await owner?.cleanup();
  await s?.close();
});

const newImage = async (name: string) =>
  (await owner.json<Json>(['image', 'create', name, '--disk-format', 'raw'])).id as string;
const show = async (id: string) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token })).json()) as Json;
const sessions = async (id: string) =>
  (
    (await (await s.request('GET', `/v2/images/${id}/upload-sessions`, { token })).json()) as {
      upload_sessions: { id: string; received_bytes: number }[];
    }
  ).upload_sessions;

describe(`ims image upload, resumable (${TEST_DB})`, { timeout: 120_000 }, () => {
  it('resumes a killed upload from what the server holds, and commits the right bytes', async () => {
    const data = randomBytes(24 * MiB + 5);
    const file = path.join(owner.home, 'big.raw');
    await fs.writeFile(file, data);
    const id = await newImage('resumed');

    const first = owner.start(['image', 'upload', id, file], { env: CHUNKED });
    let received = 0;
    for (let i = 0; i < 2000 && received < MiB; i++) {
      received = (await sessions(id))[0]?.received_bytes ?? 0;
      if (received < MiB) await new Promise((r) => setTimeout(r, 10));
    }
    first.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.code).not.toBe(0);
    const [left] = await sessions(id);
    expect(left!.received_bytes).toBeGreaterThanOrEqual(MiB);
    expect(left!.received_bytes).toBeLessThan(data.length);
    expect((await show(id)).status).toBe('queued');

    const second = await owner.run(['image', 'upload', id, file], {
      env: { ...CHUNKED, IMS_PROGRESS_INTERVAL: '0.000001' },
    });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming upload session ${left!.id}`);
    expect(second.stderr).toMatch(new RegExp(`^upload ${id}: 24\\.0 MiB in`, 'm'));
    expect(await show(id)).toMatchObject({
      status: 'active',
      size: data.length,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    expect(await sessions(id)).toEqual([]);
  });

  it('retries a chunk whose connection is cut, within the same run', async () => {
    const data = randomBytes(4 * MiB + 1);
    const file = path.join(owner.home, 'cut.raw');
    await fs.writeFile(file, data);
    const id = await newImage('cut');
    // Forwards to the server, and once cuts the connection carrying the request bytes past 2.5 MiB.
    const upstream = new URL(s.url);
    let cut = false;
    let sent = 0;
    const proxy = net.createServer((client) => {
      const server = net.connect(Number(upstream.port), upstream.hostname);
      client.on('data', (d: Buffer) => {
        sent += d.length;
        if (!cut && sent > 2.5 * MiB) {
          cut = true;
          client.destroy();
          server.destroy();
          return;
        }
        server.write(d);
      });
      server.pipe(client);
      client.on('error', () => server.destroy());
      server.on('error', () => client.destroy());
      client.on('close', () => server.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const port = (proxy.address() as net.AddressInfo).port;
      const run = await owner.run(['image', 'upload', id, file], {
        env: { ...CHUNKED, IMS_UPLOAD_CHUNK_SIZE: '1MiB', IMS_ENDPOINT: `http://127.0.0.1:${port}` },
      });
      expect(run.code, run.stderr).toBe(0);
      expect(cut).toBe(true);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
    expect(await show(id)).toMatchObject({
      status: 'active',
      checksum: createHash('md5').update(data).digest('hex'),
    });
  });
});
