/**
 * Resumable uploads over HTTP: chunks in any order, retries, a cut mid-chunk,
 * the same inspection and hashes as PUT /file, and the hostile cases (overlap,
 * out of bounds, holes, another project, oversize), on SQLite and PostgreSQL.
 */
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
let s: TestServer;
let owner: { token: string; projectId: string };
let stranger: { token: string; projectId: string };
let reader: { token: string; projectId: string };
const MAX = 8 * 1024 * 1024;
/** Moves the server's clock forward, to expire sessions without waiting. */
let skewMs = 0;

beforeAll(async () => {
  s = await startTestServer(
    { IMS_MAX_IMAGE_SIZE: String(MAX), IMS_UPLOAD_SESSION_TTL: '1h' },
    { clock: { now: () => new Date(Date.now() + skewMs) } },
  );
  owner = await s.tokenFor('sessions', 'sam', 'member');
  reader = await s.tokenFor('sessions', 'rita', 'reader');
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
const createSession = (id: string, body: unknown, token = owner.token) =>
  s.request('POST', `/v2/images/${id}/upload-sessions`, { token, body });
const newSession = async (id: string, size: number) => {
  const res = await createSession(id, { size });
  expect(res.status, await res.clone().text()).toBe(201);
  const body = (await res.json()) as Json;
  expect(res.headers.get('location')).toBe(`/v2/images/${id}/upload-sessions/${body.id as string}`);
  return body.id as string;
};
const sessionPath = (id: string, sid: string) => `/v2/images/${id}/upload-sessions/${sid}`;
const putChunk = (
  id: string,
  sid: string,
  data: Buffer,
  start: number,
  total: number | '*',
  opts: { token?: string; headers?: Record<string, string>; query?: string } = {},
) =>
  fetch(`${s.url}${sessionPath(id, sid)}${opts.query ?? ''}`, {
    method: 'PUT',
    headers: {
      'x-auth-token': opts.token ?? owner.token,
      'content-type': 'application/octet-stream',
      accept: 'application/json',
      ...(opts.query ? {} : { 'content-range': `bytes ${start}-${start + data.length - 1}/${total}` }),
      ...opts.headers,
    },
    body: data,
  });
const commit = (id: string, sid: string, token = owner.token, headers: Record<string, string> = {}) =>
  s.request('POST', `${sessionPath(id, sid)}/commit`, { token, headers });
const show = async (id: string) =>
  (await (await s.request('GET', `/v2/images/${id}`, { token: owner.token })).json()) as Json;
const glanceError = async (res: Response, status: number) => {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { code: string; title: string; message: string };
  expect(body.code).toMatch(new RegExp(`^${status} `));
  return body.message;
};
/** The chunk objects of one session in the store. */
const chunkFiles = async (sid: string) =>
  (await storedFiles(s.dataDir)).filter((f) => f.includes(`upload-sessions/${sid}/`));

describe(`resumable uploads (${TEST_DB})`, () => {
  it('takes chunks in any order, shows what arrived, and commits the same bytes and hashes as PUT /file', async () => {
    const id = await newImage();
    const data = randomBytes(3 * 1024 * 1024 + 123);
    const sid = await newSession(id, data.length);
    const cuts = [0, 1024 * 1024, 2 * 1024 * 1024, data.length];
    // Last chunk first, then the first, then the middle one.
    for (const i of [2, 0]) {
      const res = await putChunk(id, sid, data.subarray(cuts[i], cuts[i + 1]), cuts[i]!, data.length);
      expect(res.status, await res.clone().text()).toBe(200);
    }
    const partial = (await (
      await s.request('GET', sessionPath(id, sid), { token: owner.token })
    ).json()) as Json;
    expect(partial).toMatchObject({
      id: sid,
      image_id: id,
      size: data.length,
      status: 'open',
      received: [
        { start: 0, end: cuts[1]! - 1 },
        { start: cuts[2], end: data.length - 1 },
      ],
      missing: [{ start: cuts[1], end: cuts[2]! - 1 }],
      received_bytes: data.length - (cuts[2]! - cuts[1]!),
    });
    expect((await show(id)).status).toBe('queued');
    // ?offset= with Content-Length is the other way to place a chunk.
    const mid = await putChunk(id, sid, data.subarray(cuts[1], cuts[2]), cuts[1]!, data.length, {
      query: `?offset=${cuts[1]}`,
    });
    expect(mid.status, await mid.clone().text()).toBe(200);
    expect(((await mid.json()) as Json).missing).toEqual([]);

    const done = await commit(id, sid);
    expect(done.status, await done.clone().text()).toBe(200);
    const image = await show(id);
    expect(image).toMatchObject({
      status: 'active',
      size: data.length,
      checksum: createHash('md5').update(data).digest('hex'),
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(data).digest('hex'),
    });
    const down = await s.request('GET', `/v2/images/${id}/file`, { token: owner.token });
    expect(Buffer.from(await down.arrayBuffer()).equals(data)).toBe(true);
    // The chunks are gone; a repeated commit (the answer was lost) answers the image again.
    expect(await chunkFiles(sid)).toEqual([]);
    const again = await commit(id, sid);
    expect(again.status).toBe(200);
    expect(((await again.json()) as Json).checksum).toBe(image.checksum);
    const after = await putChunk(id, sid, data.subarray(0, 10), 0, data.length);
    expect(await glanceError(after, 409)).toContain('committed');
  });

  it('accepts the same chunk twice and refuses overlapping, out-of-bounds and malformed ones', async () => {
    const id = await newImage();
    const size = 1000;
    const data = randomBytes(size);
    const sid = await newSession(id, size);
    expect((await putChunk(id, sid, data.subarray(100, 300), 100, size)).status).toBe(200);
    // The same range again: a retry whose answer was lost.
    expect((await putChunk(id, sid, data.subarray(100, 300), 100, size)).status).toBe(200);
    expect(await glanceError(await putChunk(id, sid, data.subarray(200, 400), 200, size), 409)).toContain(
      'overlap',
    );
    expect(await glanceError(await putChunk(id, sid, data.subarray(0, 101), 0, size), 409)).toContain(
      'overlap',
    );
    const beyond = await putChunk(id, sid, randomBytes(10), 995, size);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${size}`);
    expect(await glanceError(beyond, 416)).toContain('beyond');
    expect(await glanceError(await putChunk(id, sid, data.subarray(0, 10), 0, 999), 400)).toContain('total');
    const garbage = await putChunk(id, sid, data.subarray(0, 10), 0, size, {
      headers: { 'content-range': 'bytes=0-9' },
    });
    expect(await glanceError(garbage, 400)).toContain('Content-Range');
    const noPlace = await fetch(`${s.url}${sessionPath(id, sid)}`, {
      method: 'PUT',
      headers: {
        'x-auth-token': owner.token,
        'content-type': 'application/octet-stream',
        accept: 'application/json',
      },
      body: data.subarray(0, 10),
    });
    expect(await glanceError(noPlace, 400)).toContain('Content-Range');
    const lying = await putChunk(id, sid, data.subarray(0, 10), 0, size, {
      headers: { 'content-range': 'bytes 0-19/1000' },
    });
    expect(lying.status).toBe(400);
    const json = await s.request('PUT', sessionPath(id, sid), {
      token: owner.token,
      body: { x: 1 },
      headers: { 'content-range': 'bytes 0-6/1000' },
    });
    expect(json.status).toBe(415);
    // Holes: the commit names what is missing, and the image stays queued.
    const holes = await commit(id, sid);
    expect(await glanceError(holes, 409)).toContain('0-99');
    expect((await show(id)).status).toBe('queued');
    const state = (await (
      await s.request('GET', sessionPath(id, sid), { token: owner.token })
    ).json()) as Json;
    expect(state.received).toEqual([{ start: 100, end: 299 }]);
  });

  it('refuses sessions without a size, above the size limit, or for images that cannot take data', async () => {
    const id = await newImage();
    for (const body of [{}, { size: 0 }, { size: -5 }, { size: 1.5 }, { size: '100' }]) {
      expect(await glanceError(await createSession(id, body), 400)).toContain('size');
    }
    expect(await glanceError(await createSession(id, { size: MAX + 1 }), 413)).toContain(
      'maximum image size',
    );
    const noFormat = await s.request('POST', '/v2/images', { token: owner.token, body: { name: 'bare' } });
    const bareId = ((await noFormat.json()) as Json).id as string;
    expect(await glanceError(await createSession(bareId, { size: 10 }), 400)).toContain('disk_format');
    const active = await newImage();
    const up = await fetch(`${s.url}/v2/images/${active}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
      body: randomBytes(10),
    });
    expect(up.status).toBe(204);
    expect((await createSession(active, { size: 10 })).status).toBe(409);
  });

  it('bounds the open sessions of a project', async () => {
    const crowd = await s.tokenFor('crowded', 'cora', 'member');
    const res = await s.request('POST', '/v2/images', {
      token: crowd.token,
      body: { disk_format: 'raw', container_format: 'bare' },
    });
    const id = ((await res.json()) as Json).id as string;
    const made: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await createSession(id, { size: 10 }, crowd.token);
      expect(r.status).toBe(201);
      made.push(((await r.json()) as Json).id as string);
    }
    expect(await glanceError(await createSession(id, { size: 10 }, crowd.token), 413)).toContain(
      'open upload sessions',
    );
    // Another project is not affected; a deleted session makes room.
    expect((await createSession(await newImage(), { size: 10 })).status).toBe(201);
    expect((await s.request('DELETE', sessionPath(id, made[0]!), { token: crowd.token })).status).toBe(204);
    expect((await createSession(id, { size: 10 }, crowd.token)).status).toBe(201);
  });

  it('hides a session from another project and refuses readers', async () => {
    const id = await newImage({ visibility: 'shared' });
    const data = randomBytes(100);
    const sid = await newSession(id, data.length);
    expect((await createSession(id, { size: 100 }, stranger.token)).status).toBe(404);
    expect((await s.request('GET', sessionPath(id, sid), { token: stranger.token })).status).toBe(404);
    expect((await putChunk(id, sid, data, 0, 100, { token: stranger.token })).status).toBe(404);
    expect((await commit(id, sid, stranger.token)).status).toBe(404);
    expect((await s.request('DELETE', sessionPath(id, sid), { token: stranger.token })).status).toBe(404);
    expect((await putChunk(id, sid, data, 0, 100, { token: reader.token })).status).toBe(403);
    expect((await createSession(id, { size: 100 }, reader.token)).status).toBe(403);
    // A session id of another image is not found under this one.
    const other = await newImage();
    expect((await s.request('GET', sessionPath(other, sid), { token: owner.token })).status).toBe(404);
    expect((await putChunk(id, sid, data, 0, 100)).status).toBe(200);
    expect((await commit(id, sid)).status).toBe(200);
  });

  it('inspects and checks hashes at commit as PUT /file does, and keeps the session for a fixed retry', async () => {
    // A qcow2 image whose bytes are not qcow2 is refused, as a single-stream upload would be.
    const id = await newImage({ disk_format: 'qcow2' });
    const data = randomBytes(64 * 1024);
    const sid = await newSession(id, data.length);
    expect((await putChunk(id, sid, data, 0, data.length)).status).toBe(200);
    expect(await glanceError(await commit(id, sid), 400)).toContain('qcow2');
    expect((await show(id)).status).toBe('queued');

    const raw = await newImage();
    const rsid = await newSession(raw, data.length);
    expect((await putChunk(raw, rsid, data, 0, data.length)).status).toBe(200);
    const wrong = await commit(raw, rsid, owner.token, { 'x-image-meta-checksum': 'a'.repeat(32) });
    expect(wrong.status).toBe(400);
    expect((await show(raw)).status).toBe('queued');
    const right = await commit(raw, rsid, owner.token, {
      'x-image-meta-checksum': createHash('md5').update(data).digest('hex'),
    });
    expect(right.status, await right.clone().text()).toBe(200);
    expect((await show(raw)).checksum).toBe(createHash('md5').update(data).digest('hex'));
  });

  it('keeps nothing of a chunk cut mid-way, and takes it again', async () => {
    const id = await newImage();
    const data = randomBytes(256 * 1024);
    const sid = await newSession(id, data.length);
    const { port } = new URL(s.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `PUT ${sessionPath(id, sid)} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: ${owner.token}\r\n` +
        `Content-Type: application/octet-stream\r\nContent-Range: bytes 0-${data.length - 1}/${data.length}\r\n` +
        `Content-Length: ${data.length}\r\n\r\n`,
    );
    socket.write(data.subarray(0, 100 * 1024));
    await new Promise((r) => setTimeout(r, 200));
    socket.destroy();
    const state = async () =>
      (await (await s.request('GET', sessionPath(id, sid), { token: owner.token })).json()) as Json;
    for (let i = 0; i < 50 && (await chunkFiles(sid)).length; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await state()).received).toEqual([]);
    expect(await chunkFiles(sid)).toEqual([]);
    expect((await putChunk(id, sid, data, 0, data.length)).status).toBe(200);
    expect((await commit(id, sid)).status).toBe(200);
    expect((await show(id)).os_hash_value).toBe(createHash('sha512').update(data).digest('hex'));
  });

  it('abandons a session on DELETE and purges sessions idle past IMS_UPLOAD_SESSION_TTL', async () => {
    const id = await newImage();
    const data = randomBytes(2048);
    const gone = await newSession(id, data.length);
    expect((await putChunk(id, gone, data.subarray(0, 1024), 0, data.length)).status).toBe(200);
    expect((await chunkFiles(gone)).length).toBe(1);
    expect((await s.request('DELETE', sessionPath(id, gone), { token: owner.token })).status).toBe(204);
    expect(await chunkFiles(gone)).toEqual([]);
    expect((await s.request('GET', sessionPath(id, gone), { token: owner.token })).status).toBe(404);

    const idle = await newSession(id, data.length);
    const fresh = await newSession(id, data.length);
    expect((await putChunk(id, idle, data.subarray(0, 1024), 0, data.length)).status).toBe(200);
    skewMs = 50 * 60_000;
    expect((await putChunk(id, fresh, data.subarray(0, 1024), 0, data.length)).status).toBe(200);
    skewMs = 70 * 60_000;
    // The idle one is past its hour; the fresh one was touched 20 minutes ago.
    expect(await s.server.purgeUploadSessions()).toBeGreaterThanOrEqual(1);
    skewMs = 0;
    expect((await s.request('GET', sessionPath(id, idle), { token: owner.token })).status).toBe(404);
    expect((await s.request('GET', sessionPath(id, fresh), { token: owner.token })).status).toBe(200);
    expect(await chunkFiles(idle)).toEqual([]);
    expect((await chunkFiles(fresh)).length).toBe(1);
  });
});
