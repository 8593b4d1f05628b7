/**
 * The IMS routes that need no object store, driven by the real Huawei Cloud SDK
 * core with AK/SK signatures: UpdateImage (PATCH, a bare array), every tag
 * generation (CreateOrUpdateTags, ListTags, AddImageTag, BatchAddOrDeleteTags,
 * ListImageTags, ListImagesTags, DeleteImageTag, BatchDeleteTags, the Glance
 * path), ListImageByTags, ShowImageMember and ShowVersion.
 */
import { sdkCall, signedUser, useTempSdkHome, type HttpRequestOptions } from '../helpers/huawei-sdk.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import { activeImage } from './ims-helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;

useTempSdkHome();
beforeAll(async () => {
  s = await startTestServer({}, { worker: true });
});
afterAll(async () => {
  await s?.close();
});

const codeOf = (r: { body: Json }) => r.body.errorCode ?? r.body.error_code;

describe(`IMS image, tag and version routes with the Huawei SDK (${TEST_DB})`, () => {
  it('updates an image and its key/value tags through every generation, signed', async () => {
    const who = await signedUser(s, 'sdk-tags', 'sdk-tina');
    const id = await activeImage(s, who, { visibility: 'private' });
    const pid = who.projectId;

    const patched = await sdkCall(who.client, {
      method: 'PATCH',
      url: '/v2/cloudimages/{image_id}',
      pathParams: { image_id: id },
      data: [
        { op: 'replace', path: '/name', value: 'sdk-renamed' },
        { op: 'add', path: '/__support_kvm', value: 'true' },
        { op: 'add', path: '/min_ram', value: '1024' },
      ],
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({ name: 'sdk-renamed', __support_kvm: 'true', min_ram: 1024 });
    const badPatch = await sdkCall(who.client, {
      method: 'PATCH',
      url: `/v2/cloudimages/${id}`,
      data: [{ op: 'add', path: '/__support_kvm', value: true }],
    });
    expect(badPatch.status).toBe(400);

    const tagCalls: Array<[Partial<HttpRequestOptions>, number]> = [
      [
        {
          method: 'PUT',
          url: '/v1/cloudimages/tags',
          data: { image_id: id, image_tag: { key: 'a', value: '1' } },
        },
      ],
      [{ method: 'POST', url: `/v2/${pid}/images/${id}/tags`, data: { tag: { key: 'b', value: '2' } } }],
      [
        {
          method: 'POST',
          url: `/v2/${pid}/images/${id}/tags/action`,
          data: {
            action: 'create',
            tags: [
              { key: 'c', value: '3' },
              { key: 'd', value: '4' },
            ],
          },
        },
      ],
      [{ method: 'PUT', url: `/v2/images/${id}/tags/e.5` }],
    ].map(([r]) => [r!, 204]);
    for (const [request, status] of tagCalls) {
      const res = await sdkCall(who.client, request);
      expect(res.status, `${request.method} ${request.url}: ${JSON.stringify(res.body)}`).toBe(status);
    }
    const own = await sdkCall(who.client, { url: `/v2/${pid}/images/${id}/tags` });
    expect(own.body.tags).toEqual(
      expect.arrayContaining([
        { key: 'a', value: '1' },
        { key: 'b', value: '2' },
        { key: 'c', value: '3' },
        { key: 'd', value: '4' },
        // The Glance path keeps simple tags as they are (IMS maps key.value only in create bodies).
        { key: 'e.5', value: '' },
      ]),
    );
    const legacy = await sdkCall(who.client, { url: '/v1/cloudimages/tags', queryParams: { image_id: id } });
    expect(legacy.status).toBe(200);
    const projectTags = await sdkCall(who.client, { url: `/v2/${pid}/images/tags` });
    expect(projectTags.body.tags).toEqual(expect.arrayContaining([{ key: 'a', values: ['1'] }]));

    const found = await sdkCall(who.client, {
      method: 'POST',
      url: `/v2/${pid}/images/resource_instances/action`,
      data: { action: 'filter', tags: [{ key: 'a', values: ['1'] }], limit: '10', offset: '0' },
    });
    expect(found.status).toBe(200);
    expect(found.body.resources.map((r: Json) => r.resource_id)).toEqual([id]);
    const counted = await sdkCall(who.client, {
      method: 'POST',
      url: `/v2/${pid}/images/resource_instances/action`,
      data: { action: 'count', tags: [{ key: 'a', values: ['1'] }] },
    });
    expect(counted.body.total_count).toBe(1);

    expect(
      (await sdkCall(who.client, { method: 'DELETE', url: `/v2/${pid}/images/${id}/tags/a` })).status,
    ).toBe(204);
    const again = await sdkCall(who.client, { method: 'DELETE', url: `/v2/${pid}/images/${id}/tags/a` });
    expect(again.status).toBe(404);
    const batchDelete = await sdkCall(who.client, {
      method: 'DELETE',
      url: `/v1/${pid}/cloudimages/${id}/tags/delete`,
      data: { tags: [{ key: 'b', value: '2' }] },
    });
    expect(batchDelete.status).toBe(204);
    expect((await sdkCall(who.client, { method: 'DELETE', url: `/v2/images/${id}/tags/e.5` })).status).toBe(
      204,
    );
    const left = await sdkCall(who.client, { url: `/v2/${pid}/images/${id}/tags` });
    expect(left.body.tags.map((t: Json) => t.key).sort()).toEqual(['c', 'd']);

    // Hostile, signed: too many tags, characters outside the allowed set.
    const many = Array.from({ length: 11 }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    const tooMany = await sdkCall(who.client, {
      method: 'POST',
      url: `/v2/${pid}/images/${id}/tags/action`,
      data: { action: 'create', tags: many },
    });
    expect([tooMany.status, codeOf(tooMany)]).toEqual([400, 'IMG.0116']);
    const badChars = await sdkCall(who.client, {
      method: 'POST',
      url: `/v2/${pid}/images/${id}/tags`,
      data: { tag: { key: 'no spaces<>', value: 'v' } },
    });
    expect(badChars.status).toBe(400);
  });

  it('shows one member and one version, signed', async () => {
    const owner = await signedUser(s, 'sdk-member-owner', 'sdk-otto');
    const member = await signedUser(s, 'sdk-member-member', 'sdk-mona');
    const id = await activeImage(s, owner, { visibility: 'shared' });
    const added = await s.request('POST', `/v2/images/${id}/members`, {
      token: owner.token,
      body: { member: member.projectId },
    });
    expect(added.status).toBe(200);
    const shown = await sdkCall(owner.client, {
      url: `/v1/${owner.projectId}/cloudimages/${id}/members/${member.projectId}`,
    });
    expect(shown.status, JSON.stringify(shown.body)).toBe(200);
    expect(shown.body).toMatchObject({ member_id: member.projectId, status: 'pending' });

    const version = await sdkCall(owner.client, { url: '/v2.0' });
    expect(version.status).toBe(300);
    // The SDK takes a 300 for an error; the body is checked in protocol.test.ts.
  });
});
