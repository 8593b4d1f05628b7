/**
 * The IMS batch sharing routes driven by the real Huawei Cloud SDK core with
 * AK/SK signatures, as code written for Huawei IMS calls them: BatchAddMembers,
 * BatchUpdateMembers (by the recipient), BatchDeleteMembers (a DELETE with a
 * JSON body), and the job they answer with.
 */
import { sdkCall, signedUser, useTempSdkHome, type SignedUser } from '../helpers/huawei-sdk.ts';
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

type Signed = SignedUser;

/** Sends a batch request and follows its job to the end with the SDK. */
async function batch(who: Signed, method: string, data: Json): Promise<Json> {
  const res = await sdkCall(who.client, { method, url: '/v1/cloudimages/members', data });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const jobId = res.body.job_id as string;
  for (let i = 0; i < 400; i++) {
    const job = await sdkCall(who.client, { url: `/v1/${who.projectId}/jobs/${jobId}` });
    expect(job.status).toBe(200);
    if (job.body.status === 'SUCCESS' || job.body.status === 'FAIL') return job.body;
    await new Promise((done) => setTimeout(done, 20));
  }
  throw new Error(`job ${jobId} did not end`);
}

async function sharedAccepted(who: Signed): Promise<string[]> {
  const res = await sdkCall(who.client, {
    url: '/v2/cloudimages',
    queryParams: { visibility: 'shared', member_status: 'accepted', __imagetype: 'shared' },
  });
  expect(res.status).toBe(200);
  return (res.body.images as Json[]).map((i) => i.id as string);
}

describe(`IMS batch sharing with the Huawei SDK (${TEST_DB})`, () => {
  it('adds, accepts and deletes members with signed requests', async () => {
    const owner = await signedUser(s, 'sdk-share-owner', 'sdk-share-olga');
    const member = await signedUser(s, 'sdk-share-member', 'sdk-share-mia');
    const img = await activeImage(s, owner, { visibility: 'private' });

    const added = await batch(owner, 'POST', { images: [img], projects: [member.projectId] });
    expect(added).toMatchObject({ status: 'SUCCESS', job_type: 'imsAddImageMembersJob' });
    expect(added.entities.results).toEqual([
      { image_id: img, project_id: owner.projectId, status: 'success' },
    ]);
    expect(await sharedAccepted(member)).not.toContain(img);

    const accepted = await batch(member, 'PUT', {
      images: [img],
      project_id: member.projectId,
      status: 'accepted',
    });
    expect(accepted).toMatchObject({ status: 'SUCCESS', job_type: 'imsUpdateImageMembersJob' });
    expect(await sharedAccepted(member)).toContain(img);

    const members = await sdkCall(member.client, {
      url: `/v1/${member.projectId}/cloudimages/${img}/members`,
    });
    expect(members.body.members).toEqual([
      expect.objectContaining({ member_id: member.projectId, status: 'accepted', member_type: 'project' }),
    ]);

    // A signed answer on another project's behalf gets the Huawei error shape.
    const forOther = await sdkCall(member.client, {
      method: 'PUT',
      url: '/v1/cloudimages/members',
      data: { images: [img], project_id: owner.projectId, status: 'accepted' },
    });
    expect(forOther.status).toBe(403);
    expect(forOther.body.errorCode ?? forOther.body.error_code).toBe('IMG.0030');

    const deleted = await batch(owner, 'DELETE', { images: [img], projects: [member.projectId] });
    expect(deleted).toMatchObject({ status: 'SUCCESS', job_type: 'imsDelImageMembersJob' });
    expect(await sharedAccepted(member)).not.toContain(img);
    const gone = await sdkCall(member.client, { url: `/v2/images/${img}` });
    expect(gone.status).toBe(404);
  });
});
