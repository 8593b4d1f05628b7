/**
 * The console's checks before it sends anything: copy names and descriptions, member ids of each
 * kind, URLs, object store addresses, quota room.
 */
import { describe, expect, it } from 'vitest';
import { checkCopyRequest, defaultCopyName } from '../../console/src/api/copy.ts';
import { checkObject, parseObjectAddress } from '../../console/src/api/object-store.ts';
import { quotaRoom } from '../../console/src/api/quota.ts';
import { parseMemberIds } from '../../console/src/api/sharing.ts';
import { isWebUrl } from '../../console/src/api/web-import.ts';
import { parseTime } from '../../src/cli/commands/audit-query.ts';

const OWN = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const HEX = '0123456789abcdef0123456789abcdef';

describe('copy requests', () => {
  it("takes IMS's names and descriptions, and refuses the rest as the server would", () => {
    expect(checkCopyRequest('web server-1.copy_2', '')).toEqual([]);
    expect(checkCopyRequest('镜像副本', 'a backup')).toEqual([]);
    expect(checkCopyRequest('', '')).toEqual(['nameEmpty']);
    expect(checkCopyRequest('x'.repeat(129), '')).toEqual(['nameLong']);
    expect(checkCopyRequest('x'.repeat(128), 'd'.repeat(1024))).toEqual([]);
    expect(checkCopyRequest('<script>alert(1)</script>', '')).toEqual(['nameChars']);
    expect(checkCopyRequest(' padded', '')).toEqual(['nameChars']);
    expect(checkCopyRequest('ok', 'd'.repeat(1025))).toEqual(['descriptionLong']);
    expect(checkCopyRequest('ok', 'two\nlines')).toEqual(['descriptionChars']);
    expect(checkCopyRequest('ok', '<b>bold</b>')).toEqual(['descriptionChars']);
  });

  it('proposes a name IMS accepts, whatever the source is called', () => {
    expect(defaultCopyName('cirros')).toBe('cirros-copy');
    expect(defaultCopyName('<img src=x onerror=alert(1)>')).toBe('img srcx onerroralert1-copy');
    expect(defaultCopyName('<>')).toBe('image-copy');
    const long = defaultCopyName('n'.repeat(300));
    expect(long).toHaveLength(128);
    expect(checkCopyRequest(long, '')).toEqual([]);
  });
});

describe('member ids by kind', () => {
  it('projects: 32 hex characters, not the own project, no repeats', () => {
    const r = parseMemberIds(`${HEX}, ${OWN}，${HEX.toUpperCase()} bogus`, OWN, []);
    expect(r.ids).toEqual([HEX]);
    expect(r.problems).toEqual([
      { kind: 'self', id: OWN },
      { kind: 'duplicate', id: HEX.toUpperCase() },
      { kind: 'invalid', id: 'bogus' },
    ]);
    expect(parseMemberIds(HEX, OWN, [HEX]).problems).toEqual([{ kind: 'already', id: HEX }]);
  });

  it('accounts: 32 hex characters, several at once', () => {
    const r = parseMemberIds(`${HEX},${OWN}, acme`, OWN, [], 'account');
    expect(r.ids).toEqual([HEX, OWN]);
    expect(r.problems).toEqual([{ kind: 'invalid', id: 'acme' }]);
    expect(parseMemberIds(' , ', OWN, [], 'account').problems).toEqual([{ kind: 'empty' }]);
  });

  it('organizations: the three URN forms and bare ids; anything else, markup included, is refused', () => {
    const good = [
      'organizations::acct_1:organization:o-abc',
      'organizations::acct_1:root:o-abc/r-r00t',
      'organizations::Acct-1:ou:o-abc/ou-x1-y2',
      'o-abc',
      'r-r00t',
      'ou-x1',
    ];
    expect(parseMemberIds(good.join(', '), OWN, [], 'organization')).toEqual({ ids: good, problems: [] });
    for (const bad of [
      'organizations::acct:ou:o-abc',
      'organizations::acct:organization:O-ABC',
      'organizations::<script>:organization:o-abc',
      HEX,
      'o-',
    ])
      expect(parseMemberIds(bad, OWN, [], 'organization').problems, bad).toEqual([
        { kind: 'invalid', id: bad },
      ]);
  });
});

describe('import URLs and quota room', () => {
  it('takes http and https URLs only', () => {
    expect(isWebUrl('https://example.com/disk.qcow2')).toBe(true);
    expect(isWebUrl(' http://10.0.0.1:8080/x ')).toBe(true);
    for (const bad of [
      'ftp://example.com/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'example.com/x',
      '',
    ])
      expect(isWebUrl(bad), bad).toBe(false);
  });

  it('says whether one more image of a size fits (-1: no limit)', () => {
    const q = (images: number, used: number, mib: number, usedMib: number) => [
      { type: 'image', quota: images, used },
      { type: 'image_size_total', quota: mib, used: usedMib },
    ];
    expect(quotaRoom(q(10, 9, 100, 50), 50 * 1048576)).toEqual({ images: true, size: true });
    expect(quotaRoom(q(10, 10, 100, 50), 0)).toEqual({ images: false, size: true });
    expect(quotaRoom(q(-1, 999, 100, 50), 51 * 1048576)).toEqual({ images: true, size: false });
    expect(quotaRoom(q(-1, 0, -1, 0), 2 ** 50)).toEqual({ images: true, size: true });
  });
});

describe('audit query times', () => {
  it('reads ISO 8601, milliseconds and ages; refuses the rest', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    expect(parseTime('2026-11-27T12:00:00Z', '--from', now)).toBe(String(now - 86_400_000));
    expect(parseTime('1700000000000', '--from', now)).toBe('1700000000000');
    expect(parseTime('30m', '--from', now)).toBe(String(now - 1_800_000));
    expect(parseTime('7d', '--from', now)).toBe(String(now - 7 * 86_400_000));
    expect(parseTime(undefined, '--from', now)).toBeUndefined();
    expect(() => parseTime('last tuesday', '--from', now)).toThrow(/ISO 8601/);
  });
});

describe('object store addresses', () => {
  it('takes bucket:object with a format extension, and names the problem of anything else', () => {
    expect(parseObjectAddress('images:linux/noble.QCOW2')).toEqual({
      bucket: 'images',
      object: 'linux/noble.QCOW2',
      format: 'qcow2',
      problems: [],
    });
    expect(parseObjectAddress('images:a:b.vhd')).toMatchObject({
      object: 'a:b.vhd',
      format: 'vhd',
      problems: [],
    });
    expect(parseObjectAddress('no-colon.qcow2').problems).toEqual(['address']);
    expect(parseObjectAddress(':disk.qcow2').problems).toEqual(['address']);
    expect(parseObjectAddress('images:disk.exe').problems).toEqual(['extension']);
    expect(parseObjectAddress('images:').problems).toEqual(['objectEmpty']);
    expect(parseObjectAddress('Bad_Bucket:disk.qcow2').problems).toEqual(['bucketName']);
  });

  it('checks bucket names as S3 does and object names up to 1024 bytes', () => {
    expect(checkObject('ims-tenant.a1', 'x')).toEqual([]);
    for (const bad of ['ab', 'x'.repeat(64), '-lead', 'trail-', 'UPPER', 'under_score', '<b>x</b>'])
      expect(checkObject(bad, 'x'), bad).toEqual(['bucketName']);
    expect(checkObject('bucket', '')).toEqual(['objectEmpty']);
    expect(checkObject('bucket', '镜'.repeat(342))).toEqual(['objectLong']);
    expect(checkObject('bucket', '镜'.repeat(341))).toEqual([]);
  });
});
