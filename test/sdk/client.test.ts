import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImsApiError, ImsClient } from '../../sdk/client.ts';
import { ADMIN_PASSWORD, startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';

let s: TestServer;
let client: ImsClient;

beforeAll(async () => {
  s = await startTestServer();
  const { token } = await s.tokenFor('sdk', 'sally', 'member');
  client = new ImsClient({ baseUrl: s.url, token: () => token });
});
afterAll(async () => s?.close());

const caught = async (p: Promise<unknown>): Promise<ImsApiError> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImsApiError);
  return err as ImsApiError;
};

describe(`SDK client against a real server (${TEST_DB})`, () => {
  it('signs in with a password and reads the token from X-Subject-Token', async () => {
    const anonymous = new ImsClient({ baseUrl: `${s.url}/` });
    const { token, body } = await anonymous.passwordToken({
      user: 'admin',
      password: ADMIN_PASSWORD,
      project: 'admin',
    });
    expect(token).toMatch(/\S{20,}/);
    expect(body.project?.name).toBe('admin');
    const bad = await caught(anonymous.passwordToken({ user: 'admin', password: 'wrong', project: 'admin' }));
    expect(bad).toMatchObject({ status: 401, dialect: 'keystone', code: 'Unauthorized' });
    expect(bad.requestId).toMatch(/^req-/);
  });

  it('creates, lists with filters, streams data up and down, and deletes', async () => {
    const image = await client.POST('/v2/images', {
      body: { name: 'sdk-image', disk_format: 'raw', container_format: 'bare', tags: ['t1'] },
    });
    expect(image).toMatchObject({ name: 'sdk-image', status: 'queued', tags: ['t1'] });
    const list = await client.GET('/v2/images', { query: { name: 'sdk-image', tag: ['t1'] } });
    expect(list.images.map((i) => i.id)).toEqual([image.id]);

    const data = randomBytes(3 * 1024 * 1024 + 17);
    async function* chunks() {
      for (let i = 0; i < data.length; i += 65536) yield data.subarray(i, i + 65536);
    }
    await client.uploadImageData(image.id, chunks(), { size: data.length });
    const shown = await client.GET('/v2/images/{image_id}', { path: { image_id: image.id } });
    expect(shown).toMatchObject({ status: 'active', size: data.length });

    const download = await client.downloadImageData(image.id);
    expect(download.size).toBe(data.length);
    expect(download.checksum).toBe(createHash('md5').update(data).digest('hex'));
    const received = Buffer.from(await new Response(download.body).arrayBuffer());
    expect(received.equals(data)).toBe(true);

    const part = await client.downloadImageData(image.id, { range: { start: 10, end: 19 } });
    expect(part.response.status).toBe(206);
    expect(Buffer.from(await new Response(part.body).arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);

    expect(await client.DELETE('/v2/images/{image_id}', { path: { image_id: image.id } })).toBeUndefined();
  });

  it('turns each dialect of error into an ImsApiError with status, code, message and request id', async () => {
    const glance = await caught(client.GET('/v2/images/{image_id}', { path: { image_id: 'nope' } }));
    expect(glance).toMatchObject({ status: 404, dialect: 'glance', code: 'Not Found' });
    expect(glance.message).not.toBe('');
    expect(glance.requestId).toMatch(/^req-/);

    const ims = await caught(
      client.GET('/v1/{project_id}/jobs/{job_id}', { path: { project_id: 'x'.repeat(32), job_id: 'j' } }),
    );
    expect(ims.dialect).toBe('ims');
    expect(ims.code).toMatch(/^IMG\.\d{4}$|^APIGW\./);
    expect(ims.requestId).toMatch(/^req-/);

    const keystone = await caught(client.GET('/v3/users/{user_id}', { path: { user_id: 'nobody' } }));
    expect(keystone).toMatchObject({ dialect: 'keystone' });
    expect([403, 404]).toContain(keystone.status);
  });

  it('refuses a missing path parameter before sending anything', async () => {
    await expect(client.GET('/v2/images/{image_id}', { path: {} as { image_id: string } })).rejects.toThrow(
      /Missing path parameter 'image_id'/,
    );
  });
});
