/**
 * The real Huawei Cloud SDK core as code written for Huawei IMS uses it: a client
 * signing with AK/SK (SDK-HMAC-SHA256), and requests whose answers and errors are
 * both returned as a status and a body, so tests can assert on refusals.
 */
import { BasicCredentials } from '@huaweicloud/huaweicloud-sdk-core';
import { ClientBuilder } from '@huaweicloud/huaweicloud-sdk-core/ClientBuilder.js';
import type { HcClient, HttpRequestOptions } from '@huaweicloud/huaweicloud-sdk-core/HcClient.js';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { TestServer } from './server.ts';

export type { HcClient, HttpRequestOptions };
export type SdkJson = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A client of the endpoint that signs every request with the key, scoped to the project if one is given. */
export function sdkClient(endpoint: string, ak: string, sk: string, projectId?: string): HcClient {
  const credentials = new BasicCredentials().withAk(ak).withSk(sk);
  if (projectId !== undefined) credentials.withProjectId(projectId);
  return new ClientBuilder<HcClient>((client) => client)
    .withEndpoint(endpoint)
    .withCredential(credentials)
    .withOptions({ customUserAgent: 'ims-tests' })
    .build();
}

/** Sends a request; a refusal (the SDK throws it) comes back as its status and error body. */
export async function sdkCall(
  client: HcClient,
  request: Partial<HttpRequestOptions>,
): Promise<{ status: number; body: SdkJson }> {
  try {
    const result = (await client.sendRequest({
      method: 'GET',
      url: '/',
      contentType: 'application/json',
      queryParams: {},
      pathParams: {},
      headers: {},
      ...request,
    })) as SdkJson;
    return { status: result.httpStatusCode ?? 200, body: result };
  } catch (err) {
    const e = err as SdkJson;
    return { status: e.status ?? e.httpStatusCode, body: e };
  }
}

/** A member of a project with a token, and an SDK client signing with the user's new access key. */
export async function signedUser(s: TestServer, project: string, user: string) {
  const caller = await s.tokenFor(project, user, 'member');
  const res = await s.request('POST', '/v3.0/OS-CREDENTIAL/credentials', {
    token: caller.token,
    body: { credential: { user_id: caller.userId } },
  });
  expect(res.status).toBe(201);
  const key = ((await res.json()) as SdkJson).credential as SdkJson;
  const client = sdkClient(s.url, key.access as string, key.secret as string, caller.projectId);
  return { ...caller, client };
}

export type SignedUser = Awaited<ReturnType<typeof signedUser>>;

/** Points HOME at a temp folder for the file's tests (the SDK keeps files under HOME), then back. */
export function useTempSdkHome(): void {
  let home: string;
  let savedHome: string | undefined;
  beforeAll(async () => {
    savedHome = process.env.HOME;
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-sdk-home-'));
    process.env.HOME = home;
  });
  afterAll(async () => {
    process.env.HOME = savedHome;
    await fs.rm(home, { recursive: true, force: true });
  });
}
