/**
 * Image data on the S3 store with download offload (IMS_S3_PRESIGNED_DOWNLOADS): whole-image
 * downloads redirect to a short-lived presigned URL of the store, ranges are still served by us,
 * and every check (visibility, status) happens before any URL is handed out.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, GLANCE, ok, run } from '../helpers/openstack-cli.ts';
import { s3TestEnv, s3TestServer } from '../helpers/s3.ts';
import { startTestServer, storedFiles, TEST_DB, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
const MiB = 1024 * 1024;
const TTL_SECONDS = 120;
const s3 = s3TestServer();

describe.skipIf(!s3)(`image downloads offloaded to S3 (${TEST_DB})`, () => {
  let s: TestServer;
  let owner: { token: string; projectId: string };
  let stranger: { token: string; projectId: string };
  // Over one 5 MiB part: a multipart object.
  const data = randomBytes(12 * MiB + 321);
  let id: string;

  beforeAll(async () => {
    s = await startTestServer({
      ...(await s3TestEnv()),
      IMS_S3_PRESIGNED_DOWNLOADS: 'true',
      IMS_S3_PRESIGNED_TTL: `${TTL_SECONDS}s`,
    });
    owner = await s.tokenFor('offload', 'otto', 'member');
    stranger = await s.tokenFor('elsewhere', 'eve', 'member');
    id = await newImage();
    const put = await fetch(`${s.url}/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(put.status, await put.clone().text()).toBe(204);
  });
  afterAll(async () => s?.close());

  const newImage = async () => {
    const res = await s.request('POST', '/v2/images', {
      token: owner.token,
      body: { disk_format: 'raw', container_format: 'bare' },
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as Json).id as string;
  };
  const download = (imageId: string, token: string, headers: Record<string, string> = {}) =>
    fetch(`${s.url}/v2/images/${imageId}/file`, {
      headers: { 'x-auth-token': token, ...headers },
      redirect: 'manual',
    });

  it('redirects a whole-image download to a presigned URL of the object', async () => {
    const res = await download(id, owner.token);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(new URL(s3!.endpoint).origin);
    expect(location.searchParams.get('X-Amz-Expires')).toBe(String(TTL_SECONDS));
    expect(location.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    // The URL names the blob, not the image, and carries no IMS token.
    expect(location.href).not.toContain(id);
    expect(location.href).not.toContain(owner.token);
  });

  it('gives the same bytes through the redirect, the token header going along', async () => {
    // fetch keeps X-Auth-Token across the redirect, as python-requests does: the store must ignore it.
    const res = await fetch(`${s.url}/v2/images/${id}/file`, { headers: { 'x-auth-token': owner.token } });
    expect(res.status).toBe(200);
    expect(res.redirected).toBe(true);
    expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(sha256(data));
  });

  it('serves ranges itself, with Glance 206 and 416 answers', async () => {
    const res = await download(id, owner.token, { range: `bytes=${5 * MiB - 5}-${5 * MiB + 4}` });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${5 * MiB - 5}-${5 * MiB + 4}/${data.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(5 * MiB - 5, 5 * MiB + 5))).toBe(true);
    const suffix = await download(id, owner.token, { range: 'bytes=-100' });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(data.length - 100))).toBe(true);
    const beyond = await download(id, owner.token, { range: `bytes=${data.length}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${data.length}`);
  });

  it('hands out no URL to a stranger, for an image without data, or for a deactivated image', async () => {
    const strangers = await download(id, stranger.token);
    expect(strangers.status).toBe(404);
    expect(strangers.headers.get('location')).toBeNull();

    const empty = await newImage();
    expect((await download(empty, owner.token)).status).toBe(204);

    const other = await newImage();
    const put = await fetch(`${s.url}/v2/images/${other}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
      body: 'tiny',
    });
    expect(put.status).toBe(204);
    expect(
      (await s.request('POST', `/v2/images/${other}/actions/deactivate`, { token: owner.token })).status,
    ).toBe(204);
    const refused = await download(other, owner.token);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('location')).toBeNull();
    // An admin still gets it, through the store.
    expect((await download(other, s.adminToken)).status).toBe(302);
  });

  it('keeps the objects in the store, and deletes them with the image', async () => {
    const before = await storedFiles(s.dataDir);
    expect(before.filter((f) => f.startsWith('images/tmp/'))).toEqual([]);
    const doomed = await newImage();
    const put = await fetch(`${s.url}/v2/images/${doomed}/file`, {
      method: 'PUT',
      headers: { 'x-auth-token': owner.token, 'content-type': 'application/octet-stream' },
      body: 'short-lived',
    });
    expect(put.status).toBe(204);
    const location = (await download(doomed, owner.token)).headers.get('location')!;
    expect(await storedFiles(s.dataDir)).toHaveLength(before.length + 1);
    expect((await s.request('DELETE', `/v2/images/${doomed}`, { token: owner.token })).status).toBe(204);
    expect(await storedFiles(s.dataDir)).toEqual(before);
    // A URL handed out earlier now finds nothing.
    expect((await fetch(location)).status).toBe(404);
  });

  it('glance image-download follows the redirect and gets the image', { timeout: 120_000 }, async () => {
    const home = await fs.mkdtemp(path.join(s.dataDir, 'home-'));
    const out = path.join(home, 'download.raw');
    ok(
      await run(
        GLANCE,
        ['--os-image-url', s.url, '--os-auth-token', owner.token, 'image-download', '--file', out, id],
        baseEnv(home),
        { closeStdin: true },
      ),
      'glance image-download',
    );
    expect(sha256(await fs.readFile(out))).toBe(sha256(data));
  });
});

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
