/**
 * Conversion progress reaches the client (issue 4): qemu-img's `-p` output becomes the import job's
 * progress (30–70 while it converts), which a client polls through the IMS jobs API as the job of the
 * Glance import task. IMS_CONVERT_RATE_LIMIT makes the conversion last about four seconds whatever
 * the machine, so that progress, written at most once a second, is seen between its two ends.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, qemuImg } from '../formats/qemu.ts';
import { startTestServer, TEST_DB, type TestServer } from '../helpers/server.ts';
import type { Caller, Json } from './ims-helpers.ts';

const MiB = 1024 * 1024;
/** 64 MiB of data at 16 MiB/s: about 4 s of conversion, about three progress writes inside it. */
const RATE = 16 * MiB;
const VIRTUAL = 256 * MiB;
/** The import job's progress when conversion starts and when it has ended (import-handler.ts). */
const CONVERT_START = 30;
const CONVERT_END = 70;

let s: TestServer;
let dir: string;
let caller: Caller;
let qcow2: Buffer;

beforeAll(async () => {
  dir = await makeTempDir('import-progress');
  // A sparse 256 MiB disk with 16 MiB of random data at four offsets, as qcow2.
  const raw = path.join(dir, 'guest.raw');
  await qemuImg(['create', '-f', 'raw', raw, String(VIRTUAL)]);
  const file = await open(raw, 'r+');
  try {
    for (const at of [0, 64, 128, 240]) await file.write(randomBytes(16 * MiB), 0, 16 * MiB, at * MiB);
  } finally {
    await file.close();
  }
  await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(dir, 'guest.qcow2')]);
  await rm(raw);
  qcow2 = await readFile(path.join(dir, 'guest.qcow2'));
  s = await startTestServer(
    { IMS_CONVERT_TO: 'raw', IMS_CONVERT_RATE_LIMIT: String(RATE) },
    { worker: true },
  );
  caller = await s.tokenFor('progress', 'paula', 'member');
}, 60_000);
afterAll(async () => {
  await s?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const json = async (res: Response): Promise<Json> => {
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return text ? (JSON.parse(text) as Json) : {};
};

describe(`conversion progress through the jobs API (${TEST_DB})`, () => {
  it('shows the import job between the ends of the conversion, never going back, then 100', async () => {
    const image = await json(
      await s.request('POST', '/v2/images', {
        token: caller.token,
        body: { name: 'slow', disk_format: 'qcow2', container_format: 'bare' },
      }),
    );
    const id = image.id as string;
    const staged = await fetch(`${s.url}/v2/images/${id}/stage`, {
      method: 'PUT',
      headers: { 'x-auth-token': caller.token, 'content-type': 'application/octet-stream' },
      body: qcow2,
    });
    expect(staged.status, await staged.clone().text()).toBe(204);
    const started = await s.request('POST', `/v2/images/${id}/import`, {
      token: caller.token,
      body: { method: { name: 'glance-direct' } },
    });
    expect(started.status, await started.clone().text()).toBe(202);
    const [task] = (await json(await s.request('GET', `/v2/images/${id}/tasks`, { token: caller.token })))
      .tasks as Json[];
    const jobPath = `/v1/${caller.projectId}/jobs/${task!.id as string}`;

    // Poll as a client would, for at most 60 s (the conversion takes about 4 s).
    const seen: number[] = [];
    let job: Json = {};
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      job = await json(await s.request('GET', jobPath, { token: caller.token }));
      seen.push(job.progress as number);
      if (job.status === 'SUCCESS' || job.status === 'FAIL') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.status, JSON.stringify(job)).toBe('SUCCESS');
    expect(job.job_type).toBe('glanceImageImport');
    expect(seen.at(-1)).toBe(100);
    for (let i = 1; i < seen.length; i++)
      expect(seen[i], `poll ${i} of ${seen.join(',')}`).toBeGreaterThanOrEqual(seen[i - 1]!);
    const converting = seen.filter((p) => p > CONVERT_START && p < CONVERT_END);
    expect(converting.length, `progress seen: ${seen.join(',')}`).toBeGreaterThan(0);

    // The other IMS path shows the same, as process_percent; the image is the converted one.
    const shown = await json(
      await s.request('GET', `/v1/cloudimages/job/${task!.id as string}`, { token: caller.token }),
    );
    expect((shown.entities as Json).process_percent).toBe(100);
    const done = await json(await s.request('GET', `/v2/images/${id}`, { token: caller.token }));
    expect(done).toMatchObject({ status: 'active', disk_format: 'raw', virtual_size: VIRTUAL });
  }, 90_000);
});
