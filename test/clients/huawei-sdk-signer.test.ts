/**
 * The AK/SK verifier against requests signed by the real Huawei Cloud Node SDK core
 * (@huaweicloud/huaweicloud-sdk-core, pinned to the 3.1.211 of client-compat.md §1).
 *
 * Requests go through the SDK's own client, the way generated service clients call it
 * (`sendRequest({method, url, contentType, queryParams, pathParams, headers, data})`),
 * to a bare node:http server on loopback that records the request as received. Each
 * recording is then verified with the right SK (ok) and a wrong one (signature-mismatch).
 *
 * HOME points at a temporary directory: without customUserAgent the SDK writes
 * ~/.huaweicloud/application_id, and we check that with it, nothing is written.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core';
import { ClientBuilder } from '@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js';
import type { HcClient, HttpRequestOptions } from '@huaweicloud/huaweicloud-sdk-core/HcClient.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bodyHashRequired,
  verifySignature,
  type VerifyResult,
} from '../../src/adapters/identity/aksk-signature.ts';

const AK = 'HPUAANCHOREXAMPLEAK1';
const SK = 'anchorExampleSecretKey0123456789abcdefXYZ';
const PROJECT = '0605767b5380d5762fb6c0017a1c5e2e';
const IMAGE_ID = 'f1e2d3c4-0000-4000-8000-000000000001';

interface Captured {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let server: http.Server;
let port: number;
let home: string;
let savedHome: string | undefined;
const captured: Captured[] = [];

beforeAll(async () => {
  savedHome = process.env.HOME;
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-sdk-home-'));
  process.env.HOME = home;
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      captured.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  // axios keeps connections alive; close them so the server can stop.
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  process.env.HOME = savedHome;
  await fs.rm(home, { recursive: true, force: true });
});

function sdkClient(basePath = ''): HcClient {
  const credentials = new BasicCredentials().withAk(AK).withSk(SK).withProjectId(PROJECT);
  return new ClientBuilder<HcClient>((client) => client)
    .withEndpoint(`http://127.0.0.1:${port}${basePath}`)
    .withCredential(credentials)
    .withOptions({ customUserAgent: 'ims-tests' })
    .build();
}

/** Sends one request through the SDK and returns what the server received. */
async function send(options: Partial<HttpRequestOptions>, basePath = ''): Promise<Captured> {
  captured.length = 0;
  await sdkClient(basePath).sendRequest({
    method: 'GET',
    url: '/',
    contentType: 'application/json',
    queryParams: {},
    pathParams: {},
    headers: {},
    ...options,
  });
  expect(captured).toHaveLength(1);
  return captured[0] as Captured;
}

/** What the HTTP layer will do: split the raw URL, buffer the body only when it is signed. */
function verify(c: Captured, secretKey: string, now = new Date()): VerifyResult {
  const q = c.url.indexOf('?');
  return verifySignature({
    method: c.method,
    rawPath: q < 0 ? c.url : c.url.slice(0, q),
    rawQuery: q < 0 ? '' : c.url.slice(q + 1),
    headers: c.headers,
    body: bodyHashRequired(c.headers) ? c.body : 'unsigned',
    secretKey,
    now,
  });
}

interface SdkCase {
  name: string;
  request: Partial<HttpRequestOptions>;
  basePath?: string;
  /** What the SDK put on the wire, where the case is about that. */
  wire?: (c: Captured) => void;
}

const tagPath = '/v2/images/{image_id}/tags/{key}';
const deleteTag = (key: string): Partial<HttpRequestOptions> => ({
  method: 'DELETE',
  url: tagPath,
  pathParams: { image_id: IMAGE_ID, key },
});

const CASES: SdkCase[] = [
  {
    name: 'GET list with filters and a repeated tag',
    request: {
      url: '/v2/cloudimages',
      contentType: 'application/json;charset=UTF-8',
      queryParams: {
        __imagetype: 'private',
        name: 'web server',
        tag: ['b', 'a'],
        limit: 10,
        protected: true,
      },
    },
    wire: (c) => {
      // Caller order kept, the array sorted in place by the signer, space as %20.
      expect(c.url).toBe(
        '/v2/cloudimages?__imagetype=private&name=web%20server&tag=a&tag=b&limit=10&protected=true',
      );
      expect(c.headers['content-type']).toBe('application/json');
    },
  },
  {
    name: 'GET with unicode, plus, star and other marks in repeated query values',
    request: {
      url: '/v2/cloudimages',
      queryParams: { name: '镜像 😀', tag: ['键=值', 'a+b', 'x*y'], marker: "!'()~", description: '' },
    },
    wire: (c) => expect(c.url).toContain('tag=a%2Bb&tag=x*y&tag=%E9%94%AE%3D%E5%80%BC'),
  },
  { name: 'GET without a query', request: { url: '/v2/images' } },
  {
    name: 'GET with a trailing slash and a query',
    request: { url: '/v2/cloudimages/', queryParams: { limit: 5 } },
    wire: (c) => expect(c.url).toBe('/v2/cloudimages?limit=5'),
  },
  {
    name: 'POST JSON with unicode',
    request: {
      method: 'POST',
      url: '/v2/images',
      data: { name: '镜像-1 😀', container_format: 'bare', disk_format: 'qcow2', min_disk: 1, tags: ['a b'] },
    },
    wire: (c) => expect(JSON.parse(c.body.toString('utf8'))).toMatchObject({ name: '镜像-1 😀' }),
  },
  {
    name: 'POST nested JSON to a {project_id} path',
    request: {
      method: 'POST',
      url: '/v2/{project_id}/images/resource_instances/action',
      data: { action: 'filter', tags: [{ key: '环境', values: ['prod 1', 'é'] }], limit: '10' },
    },
    wire: (c) => expect(c.url).toBe(`/v2/${PROJECT}/images/resource_instances/action`),
  },
  {
    name: 'PUT JSON tag',
    request: {
      method: 'PUT',
      url: '/v2/{project_id}/images/{image_id}/tags',
      pathParams: { image_id: IMAGE_ID },
      data: { tag: { key: '键', value: 'v=1 ,;' } },
    },
  },
  {
    name: 'PATCH JSON-patch (UNSIGNED-PAYLOAD)',
    request: {
      method: 'PATCH',
      url: '/v2/images/{image_id}',
      contentType: 'application/openstack-images-v2.1-json-patch',
      pathParams: { image_id: IMAGE_ID },
      data: [{ op: 'replace', path: '/name', value: '新名字' }],
    },
    wire: (c) => {
      expect(c.headers['x-sdk-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(c.headers['content-type']).toBe('application/openstack-images-v2.1-json-patch');
      expect(bodyHashRequired(c.headers)).toBe(false);
    },
  },
  {
    name: 'PATCH IMS update with a JSON array body (hashed)',
    request: {
      method: 'PATCH',
      url: '/v2/cloudimages/{image_id}',
      pathParams: { image_id: IMAGE_ID },
      data: [{ op: 'replace', path: '/name', value: '新名字' }],
    },
    wire: (c) => expect(bodyHashRequired(c.headers)).toBe(true),
  },
  {
    name: 'DELETE tag key with a space (double-encoded by the SDK)',
    request: deleteTag('env name'),
    wire: (c) => expect(c.url).toBe(`/v2/images/${IMAGE_ID}/tags/env%20name`),
  },
  { name: 'DELETE tag key in unicode', request: deleteTag('镜像标签😀') },
  {
    name: 'DELETE tag key with :@!$()*+,;=',
    request: deleteTag(':@!$()*+,;='),
    wire: (c) => expect(c.url).toBe(`/v2/images/${IMAGE_ID}/tags/:@!$()*+,;=`),
  },
  { name: 'DELETE tag key with space, unicode and :@!$()*+,;=', request: deleteTag('a b:镜@!$()*+,;=像 c') },
  { name: 'DELETE tag key with \' ^ | " < > { } `', request: deleteTag('q\'^|"<>{}`z') },
  {
    name: 'DELETE image with a trailing slash and an empty {} body',
    request: {
      method: 'DELETE',
      url: '/v2/images/{image_id}/',
      pathParams: { image_id: IMAGE_ID },
      data: {},
    },
    wire: (c) => {
      expect(c.url).toBe(`/v2/images/${IMAGE_ID}`);
      expect(c.body).toHaveLength(0);
    },
  },
  {
    name: 'PUT Glance tag in the path',
    request: {
      method: 'PUT',
      url: '/v2/images/{image_id}/tags/{tag}',
      pathParams: { image_id: IMAGE_ID, tag: 'web_01' },
    },
  },
  {
    name: 'endpoint with a base path',
    basePath: '/ims',
    request: { url: '/v2/cloudimages', queryParams: { name: 'x y' } },
    wire: (c) => expect(c.url).toBe('/ims/v2/cloudimages?name=x%20y'),
  },
];

describe('requests signed by the Huawei Cloud SDK core verify', () => {
  const received = new Map<string, Captured>();
  async function capture(c: SdkCase): Promise<Captured> {
    let got = received.get(c.name);
    if (!got) {
      got = await send(c.request, c.basePath);
      received.set(c.name, got);
    }
    return got;
  }

  it.each(CASES)('$name', async (c) => {
    const got = await capture(c);
    c.wire?.(got);
    expect(got.headers.authorization).toMatch(/^SDK-HMAC-SHA256 Access=HPUAANCHOREXAMPLEAK1, /);
    expect(verify(got, SK)).toEqual({ ok: true });
  });

  it.each(CASES)('$name: refused with a wrong SK', async (c) => {
    const got = await capture(c);
    expect(verify(got, `${SK}0`)).toMatchObject({ ok: false, reason: 'signature-mismatch' });
  });

  it('a JSON body changed in transit is refused', async () => {
    const got = await capture(CASES[4] as SdkCase);
    const body = Buffer.from(got.body.toString('utf8').replace('qcow2', 'raw'));
    expect(verify({ ...got, body }, SK)).toMatchObject({ ok: false, reason: 'signature-mismatch' });
  });

  it('the SDK wrote nothing under HOME (customUserAgent given)', () => {
    expect(existsSync(path.join(home, '.huaweicloud'))).toBe(false);
  });
});

describe('the SDK reproduces the reference vectors V1-V3 on the wire', () => {
  // With X-Sdk-Date and host given, the SDK signs those values instead of the clock and endpoint.
  const fixed = { 'X-Sdk-Date': '20240102T030405Z', host: '127.0.0.1:18099' };
  const signedAt = new Date('2024-01-02T03:04:05Z');

  it.each<[string, Partial<HttpRequestOptions>, string]>([
    [
      'V1',
      {
        url: '/v2/cloudimages',
        queryParams: { __imagetype: 'private', name: 'web server', tag: ['a', 'b'], limit: 10 },
      },
      'e1c52772dd94efd645cae0a4df71278f51518869bf2f671f1b8ceed5ecbd0003',
    ],
    [
      'V2',
      {
        method: 'POST',
        url: '/v2/images',
        data: { name: '镜像-1', container_format: 'bare', disk_format: 'qcow2', min_disk: 1 },
      },
      'ba6ab470100e3b1474c2d37157cf1a8409ee861bdb386cf35c170b77e15bce36',
    ],
    [
      'V3',
      { method: 'DELETE', url: `/v2/images/${IMAGE_ID}/` },
      'a8828a0823566c8e803152e767e5470476281524732914b5ed655136f0f27d9b',
    ],
  ])('%s', async (_name, request, signature) => {
    const got = await send({ ...request, headers: { ...fixed } });
    expect(got.headers.authorization).toBe(
      `SDK-HMAC-SHA256 Access=${AK}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature=${signature}`,
    );
    expect(verify(got, SK, signedAt)).toEqual({ ok: true });
    expect(verify(got, SK)).toMatchObject({ ok: false, reason: 'expired' });
  });
});
