import { expect } from 'vitest';
import type { TestServer } from '../helpers/server.ts';

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export type Caller = { token: string; projectId: string };

/** A Glance-made image with data: raw bytes, so it is active (and registered for IMS). */
export async function activeImage(s: TestServer, caller: Caller, body: Json = {}): Promise<string> {
  const res = await s.request('POST', '/v2/images', {
    token: caller.token,
    body: { name: 'img', disk_format: 'raw', container_format: 'bare', ...body },
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const id = ((await res.json()) as Json).id as string;
  const up = await fetch(`${s.url}/v2/images/${id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': caller.token, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(1024),
  });
  expect(up.status, await up.clone().text()).toBe(204);
  return id;
}

/** GET /v2/cloudimages with a query; the ids of the page, in order. */
export async function listIms(
  s: TestServer,
  caller: Caller,
  query = '',
): Promise<{ status: number; body: Json }> {
  const res = await s.request('GET', `/v2/cloudimages${query ? `?${query}` : ''}`, { token: caller.token });
  return { status: res.status, body: (await res.json()) as Json };
}

export async function idsOf(s: TestServer, caller: Caller, query = ''): Promise<string[]> {
  const { status, body } = await listIms(s, caller, query);
  expect(status, JSON.stringify(body)).toBe(200);
  return (body.images as Json[]).map((i) => i.id as string);
}

/** An IMS error: the status, the IMG code, and nothing of Glance's shape. */
export async function expectImsError(res: Response, status: number, code: string): Promise<Json> {
  const body = (await res.json()) as Json;
  expect(res.status, JSON.stringify(body)).toBe(status);
  expect(body.error?.code, JSON.stringify(body)).toBe(code);
  expect(typeof body.error.message).toBe('string');
  return body;
}
