import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPeerRegions } from '../../src/adapters/peer-region/peer-regions.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ims-peer-file-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (content: unknown) => {
  const f = path.join(dir, `${Math.random().toString(16).slice(2)}.json`);
  fs.writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
};

describe('IMS_PEER_REGIONS_FILE', () => {
  it('is empty when unset, and reads a good file with the default domain filled in', () => {
    expect(loadPeerRegions(undefined, 'RegionOne').size).toBe(0);
    const peers = loadPeerRegions(
      file({
        'cn-north-4': {
          url: 'https://ims.north.example/',
          agency: 'trust',
          auth: { user: 'u', password: 'p', project: 'svc' },
        },
      }),
      'RegionOne',
    );
    expect(peers.get('cn-north-4')).toEqual({
      region: 'cn-north-4',
      url: 'https://ims.north.example',
      agency: 'trust',
      auth: { user: 'u', password: 'p', domain: 'Default', project: 'svc' },
    });
  });

  it('refuses a broken file with every problem listed', () => {
    expect(() => loadPeerRegions(file('{nope'), 'RegionOne')).toThrow(/IMS_PEER_REGIONS_FILE/);
    let message = '';
    try {
      loadPeerRegions(
        file({
          RegionOne: { url: 'http://a', agency: 'x', auth: { user: 'u', password: 'p', project: 'p' } },
          'bad name!': { url: 'ftp://b', auth: {} },
        }),
        'RegionOne',
      );
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("this deployment's own region");
    expect(message).toContain('region "bad name!": not a region name');
    expect(message).toContain('url must be http(s)');
    expect(message).toContain('agency must be a non-empty string');
    expect(message).toContain('auth.password must be a non-empty string');
  });
});
