import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let owner: { token: string; projectId: string };
let stranger: { token: string; projectId: string };
const MAX = 8 * 1024 * 1024;

beforeAll(async () => {
  s = await startTestServer({ IMS_MAX_IMAGE_SIZE: String(MAX) });
  owner = await s.tokenFor('data', 'dora', 'member');
  stranger = await s.tokenFor('other', 'olaf', 'member');
});
afterAll(async () => s?.close());

const newImage = async (body: Json = {}) => {
  const res = await s.request('POST', '/v2/images', {
    token: owner.token,
    body: { disk_format: 'raw', container_format: 'bare', ...body },
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as Json).id as string;
};
const upload = (id: string, data: Buffer | string, headers: Record<string, string> = {}) =>
  fetch(`${s.url}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream', ...headers },
    body: data,
  });
const show = async (id: string) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token: owner.token })).json()) as Json;
const waitFor = async (check: () => Promise<boolean>) => {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached');
};

/** Sends headers and part of a body over a raw socket, then cuts the connection. */
async function cutUpload(id: string, declared: number, send: number): Promise<void> {
  const { port } = new URL(s.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(
    `PUT /v2/images/${id}/file HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${owner.token}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`,
  );
  socket.write(randomBytes(send));
  await new Promise((r) => setTimeout(r, 200));
  socket.destroy();
}

describe(`image data (${TEST_DB})`, () => {
  it('uploads a stream, computes checksum, sha512 and size, and downloads the same bytes', async () => {
    const id = await newImage();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const res = await upload(id, data);
    expect(res.status, await res.clone().text()).toBe(204);
    const image = await show(id);
    expect(image).toMatchObject({
      status: 'active',
      size: data.length,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    const down = await s.request('GET', `/v2/images/${id}/file`, { token: owner.token });
    expect(down.status).toBe(200);
    expect(down.headers.get('content-md5')).toBe(image.checksum);
    expect(down.headers.get('content-length')).toBe(String(data.length));
    expect(Buffer.from(await down.arrayBuffer()).equals(data)).toBe(true);
  });

  it('serves byte ranges with 206 and refuses unsatisfiable ones with 416', async () => {
    const id = await newImage();
    const data = randomBytes(10_000);
    expect((await upload(id, data)).status).toBe(204);
    const get = (range: string) =>
      s.request('GET', `/v2/images/${id}/file`, { token: owner.token, headers: { range } });
    let res = await get('bytes=100-199');
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 100-199/10000');
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);
    res = await get('bytes=-10');
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(9990))).toBe(true);
    res = await get('bytes=9000-');
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(9000))).toBe(true);
    res = await get('bytes=20000-30000');
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */10000');
  });

  it('counts the bytes it receives and sends in /metrics, ranges included', async () => {
    const counter = async (name: string) => {
      const text = await (await s.request('GET', '/metrics', { token: null })).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    const [inBefore, outBefore] = [
      await counter('ims_image_bytes_in_total'),
      await counter('ims_image_bytes_out_total'),
    ];
    const id = await newImage();
    const data = randomBytes(2 * 1024 * 1024 + 5);
    expect((await upload(id, data)).status).toBe(204);
    const whole = await s.request('GET', `/v2/images/${id}/file`, { token: owner.token });
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
    const part = await s.request('GET', `/v2/images/${id}/file`, {
      token: owner.token,
      headers: { range: 'bytes=1048570-1048589' },
    });
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1048570, 1048590))).toBe(true);
    expect(await counter('ims_image_bytes_in_total')).toBe(inBefore + data.length);
    expect(await counter('ims_image_bytes_out_total')).toBe(outBefore + data.length + 20);
  });

  it('answers 204 for an image without data, and 409 for a second upload', async () => {
    const id = await newImage();
    expect((await s.request('GET', `/v2/images/${id}/file`, { token: owner.token })).status).toBe(204);
    expect((await upload(id, 'first')).status).toBe(204);
    const again = await upload(id, 'second');
    expect(again.status).toBe(409);
    const down = await s.request('GET', `/v2/images/${id}/file`, { token: owner.token });
    expect(await down.text()).toBe('first');
  });

  it('refuses data in another content type, from a stranger, or over the size limit', async () => {
    const id = await newImage();
    expect((await upload(id, 'x', { 'content-type': 'text/plain' })).status).toBe(415);
    const res = await fetch(`${s.url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': stranger.token, 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    expect(res.status).toBe(404);
    const tooBig = await upload(id, Buffer.alloc(MAX + 1));
    expect(tooBig.status).toBe(413);
    expect((await show(id)).status).toBe('queued');
    expect(await storedFiles(s.dataDir)).not.toContainEqual(expect.stringContaining('tmp/'));
  });

  it('refuses a chunked body that grows past the limit while streaming', async () => {
    const id = await newImage();
    const chunk = Buffer.alloc(1024 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX * 2) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${s.url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
      body,
      duplex: 'half',
    } as RequestInit).catch(() => null);
    if (res) expect(res.status).toBe(413);
    await waitFor(async () => (await show(id)).status === 'queued');
    const before = await storedFiles(s.dataDir);
    expect(before.filter((f) => f.includes('tmp'))).toEqual([]);
  });

  it('returns a cut upload to queued and keeps no partial data (2 GiB declared, 1 MiB sent)', async () => {
    const id = await newImage();
    const before = await storedFiles(s.dataDir);
    // the declared size is refused up front when over the limit...
    await cutUpload(id, 2 * 1024 ** 3, 1024 * 1024);
    await waitFor(async () => (await show(id)).status === 'queued');
    // ...and a cut within the limit is cleaned up once the server notices
    await cutUpload(id, MAX - 1, 1024 * 1024);
    await waitFor(
      async () =>
        (await show(id)).status === 'queued' && (await storedFiles(s.dataDir)).length === before.length,
    );
    const image = await show(id);
    expect(image).toMatchObject({ status: 'queued', size: null, checksum: null });
    expect(await storedFiles(s.dataDir)).toEqual(before);
    // and the image still takes a proper upload afterwards
    expect((await upload(id, 'complete')).status).toBe(204);
    expect((await show(id)).status).toBe('active');
  });

  it('blocks downloads of deactivated images for non-admins, and deletes the bytes with the image', async () => {
    const id = await newImage();
    expect((await upload(id, 'payload')).status).toBe(204);
    const before = await storedFiles(s.dataDir);
    expect(
      (await s.request('POST', `/v2/images/${id}/actions/deactivate`, { token: owner.token })).status,
    ).toBe(204);
    expect((await show(id)).status).toBe('deactivated');
    expect((await s.request('GET', `/v2/images/${id}/file`, { token: owner.token })).status).toBe(403);
    const adminDown = await s.request('GET', `/v2/images/${id}/file`);
    expect(await adminDown.text()).toBe('payload');
    expect(
      (await s.request('POST', `/v2/images/${id}/actions/reactivate`, { token: owner.token })).status,
    ).toBe(204);
    expect(await (await s.request('GET', `/v2/images/${id}/file`, { token: owner.token })).text()).toBe(
      'payload',
    );
    expect((await s.request('DELETE', `/v2/images/${id}`, { token: owner.token })).status).toBe(204);
    const after = await storedFiles(s.dataDir);
    expect(after.length).toBe(before.length - 1);
  });
});
