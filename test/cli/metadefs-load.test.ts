import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runOnServer } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

type Json = Record<string, unknown>;
const CATALOGUE = path.resolve('catalogue/metadefs');

let s: TestServer;
let tmp: string;

beforeAll(async () => {
  s = await startTestServer();
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ims-metadefs-'));
});
afterAll(async () => {
  await s?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

const ims = (...args: string[]) => runOnServer(s, ['metadefs', ...args]);

const namespaces = async (token?: string): Promise<Json[]> => {
  const res = await s.request('GET', '/v2/metadefs/namespaces?limit=100', token ? { token } : {});
  expect(res.status).toBe(200);
  return ((await res.json()) as { namespaces: Json[] }).namespaces;
};

describe('ims metadefs load', () => {
  it('refuses a catalogue with a broken file and creates nothing from it', async () => {
    await fs.writeFile(path.join(tmp, 'a-good.json'), JSON.stringify({ namespace: 'Test::Good' }));
    await fs.writeFile(
      path.join(tmp, 'b-bad.json'),
      JSON.stringify({ namespace: 'Test::Bad', colour: 'red' }),
    );
    const res = await ims('load', '--dir', tmp);
    expect(res.code, res.out).toBe(1);
    expect(res.out).toContain('b-bad.json');
    expect((await namespaces()).map((n) => n.namespace)).not.toContain('Test::Good');
  }, 120_000);

  it('creates the shipped namespaces, public and protected, seen by every project; a second run keeps them', async () => {
    const files = (await fs.readdir(CATALOGUE)).filter((f) => f.endsWith('.json'));
    const names = await Promise.all(
      files.map(
        async (f) => (JSON.parse(await fs.readFile(path.join(CATALOGUE, f), 'utf8')) as Json).namespace,
      ),
    );
    expect(names.length).toBeGreaterThanOrEqual(9);

    const first = await ims('load');
    expect(first.code, first.out).toBe(0);
    for (const name of names) expect(first.out).toContain(`created ${String(name)}`);

    const member = await s.tokenFor('metadef-reader', 'mila', 'member');
    const seen = await namespaces(member.token);
    for (const name of names) {
      const ns = seen.find((n) => n.namespace === name);
      expect(ns, String(name)).toMatchObject({ visibility: 'public', protected: true });
    }
    const libvirt = await s.request(
      'GET',
      '/v2/metadefs/namespaces/OS::Compute::LibvirtImage/properties/hw_disk_bus',
      {
        token: member.token,
      },
    );
    expect(libvirt.status).toBe(200);
    expect(((await libvirt.json()) as Json).enum).toContain('virtio');
    // Protected: not even the owner deletes it without unprotecting first.
    const del = await s.request('DELETE', '/v2/metadefs/namespaces/OS::Compute::Watchdog');
    expect(del.status).toBe(403);

    const second = await ims('load');
    expect(second.code, second.out).toBe(0);
    expect(second.out).not.toContain('created');
    expect(second.out).toContain('kept OS::Compute::Watchdog (exists)');

    // One audited creation per namespace, by the operator's command, none for the second run.
    const traces = await s.request(
      'GET',
      `/v1/${await adminProject()}/traces?trace_name=createMetadefNamespace&limit=1000`,
    );
    expect(traces.status).toBe(200);
    const events = ((await traces.json()) as { traces: Json[] }).traces.filter(
      (e) => e.source_ip === 'ims metadefs load',
    );
    expect(events.map((e) => e.resource_id).sort()).toEqual([...names].sort());
  }, 180_000);

  it('answers a usage error with 2', async () => {
    expect((await ims('frobnicate')).code).toBe(2);
  }, 60_000);
});

async function adminProject(): Promise<string> {
  const me = await s.request('GET', '/v3/auth/tokens', { headers: { 'x-subject-token': s.adminToken } });
  return ((await me.json()) as { token: { project: { id: string } } }).token.project.id;
}
