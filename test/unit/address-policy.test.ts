import { describe, expect, it } from 'vitest';
import { AddressPolicy, deniedReason, parseCidr, parseIp } from '../../src/adapters/web/address-policy.ts';

const reason = (text: string) => {
  const ip = parseIp(text);
  if (!ip) throw new Error(`not an address: ${text}`);
  return deniedReason(ip);
};

describe('web-download address rule', () => {
  it.each([
    '127.0.0.1',
    '127.1',
    '127.0.1',
    '2130706433',
    '0177.0.0.1',
    '0177.1',
    '0x7f.0.0.1',
    '0x7f.1',
    '0x7f000001',
    '017700000001',
    '::1',
    '[::1]',
    '0:0:0:0:0:0:0:1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '[::ffff:127.0.0.1]',
    '::127.0.0.1',
    '64:ff9b::127.0.0.1',
  ])('%s is loopback', (text) => {
    expect(reason(text)).toMatch(/loopback/);
  });

  it.each([
    ['0.0.0.0', /unspecified/],
    ['0', /unspecified/],
    ['::', /unspecified/],
    ['10.1.2.3', /private/],
    ['012.1.2.3', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.0.1', /private/],
    ['3232235521', /private/],
    ['::ffff:192.168.0.1', /private/],
    ['::ffff:c0a8:1', /private/],
    ['169.254.169.254', /link-local/],
    ['fe80::1', /link-local/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.255', /CGNAT/],
    ['224.0.0.1', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['fd12:3456::1', /unique local/],
    ['fc00::1', /unique local/],
    ['2002:7f00:1::1', /6to4/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    ['192.0.2.1', /documentation/],
    ['2001:db8::1', /documentation/],
    ['198.18.0.1', /benchmarking/],
  ])('%s is refused (%s)', (text, why) => {
    expect(reason(text)).toMatch(why);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.8',
    '134744072',
  ])('%s is public', (text) => {
    expect(reason(text)).toBeNull();
  });

  it('does not take malformed text for an address', () => {
    for (const t of [
      '256.0.0.1',
      '1.2.3.4.5',
      '0x1g',
      '08.0.0.1',
      '1..2',
      '::ffff:1.2.3.4.5',
      ':::1',
      '1:2:3:4:5:6:7:8:9',
      '',
      'localhost',
      '::ffff:01.2.3.4',
    ])
      expect(parseIp(t), t).toBeNull();
  });

  it('lets the allow-list open host names, addresses and CIDRs, and nothing else', () => {
    const policy = new AddressPolicy(['127.0.0.5', 'mirror.internal', '10.20.0.0/16', 'fd00::/8']);
    expect(policy.refusal('x', '127.0.0.5')).toBeNull();
    expect(policy.refusal('x', '::ffff:127.0.0.5')).toBeNull();
    expect(policy.refusal('x', '127.0.0.1')).toMatch(/loopback/);
    expect(policy.refusal('MIRROR.internal.', '192.168.1.1')).toBeNull();
    expect(policy.refusal('other.internal', '192.168.1.1')).toMatch(/private/);
    expect(policy.refusal('x', '10.20.3.4')).toBeNull();
    expect(policy.refusal('x', '10.21.3.4')).toMatch(/private/);
    expect(policy.refusal('x', 'fd00::1')).toBeNull();
    expect(policy.refusal('x', '8.8.8.8')).toBeNull();
    expect(parseCidr('10.0.0.0/33')).toBeNull();
  });
});
