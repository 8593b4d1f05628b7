/**
 * Which network addresses web-download may reach. Everything that is not
 * ordinary public unicast is refused — loopback, private, link-local, CGNAT,
 * unspecified, multicast, broadcast, documentation and benchmark ranges, and
 * IPv6 forms that embed or tunnel an IPv4 address — unless the operator's
 * allow-list (IMS_WEB_DOWNLOAD_ALLOW: host names, addresses, CIDRs) names it.
 *
 * Addresses are compared as numbers, never as text, so every spelling of an
 * address (127.1, 2130706433, 0177.0.0.1, 0x7f.1, ::ffff:127.0.0.1,
 * ::ffff:7f00:1, ::127.0.0.1) is the same address here.
 */

export type ParsedIp = { family: 4; value: bigint } | { family: 6; value: bigint };

/**
 * IPv4 in every form inet_aton accepts (what the WHATWG URL parser and many
 * resolvers accept too): 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
 */
export function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length > 4 || parts.some((p) => p === '')) return null;
  const nums: bigint[] = [];
  for (const p of parts) {
    let n: bigint;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0n : BigInt(p);
    else if (/^0[0-7]+$/.test(p)) n = BigInt(`0o${p.slice(1)}`);
    else if (/^(0|[1-9][0-9]*)$/.test(p)) n = BigInt(p);
    else return null;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255n)) return null;
  const lastBits = BigInt(8 * (4 - nums.length));
  if (last >= 1n << lastBits) return null;
  let value = 0n;
  for (const n of nums) value = (value << 8n) | n;
  return (value << lastBits) | last;
}

/** IPv6 text (no brackets, no zone) to its 128-bit value; the last 32 bits may be a dotted quad. */
export function parseIpv6(text: string): bigint | null {
  if (!/^[0-9a-f:.]+$/i.test(text) || text.length > 45) return null;
  let s = text;
  let tail: bigint | null = null;
  if (s.includes('.')) {
    const i = s.lastIndexOf(':');
    const v4 = s.slice(i + 1);
    if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(v4)) return null;
    tail = parseIpv4(v4);
    s = s.slice(0, i + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const want = tail === null ? 8 : 6;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const split = (x: string) => (x === '' ? [] : x.split(':'));
  let groups: string[];
  if (halves.length === 2) {
    const left = split(halves[0]!);
    const right = split(halves[1]!);
    const fill = want - left.length - right.length;
    if (fill < 1) return null;
    groups = [...left, ...Array<string>(fill).fill('0'), ...right];
  } else groups = split(s);
  if (groups.length !== want || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(`0x${g}`);
  return tail === null ? value : (value << 32n) | tail;
}

/** An address literal (IPv4 in any inet_aton form, or IPv6 with or without brackets), or null. */
export function parseIp(text: string): ParsedIp | null {
  const t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (t.includes(':')) {
    const v = parseIpv6(t);
    return v === null ? null : { family: 6, value: v };
  }
  const v = parseIpv4(t);
  return v === null ? null : { family: 4, value: v };
}

interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

export function parseCidr(text: string): Cidr | null {
  const [addr, bitsText, ...rest] = text.split('/');
  if (rest.length || addr === undefined) return null;
  const ip = parseIp(addr);
  if (!ip) return null;
  const max = ip.family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= max)) return null;
  const shift = BigInt(max - bits);
  return { family: ip.family, base: (ip.value >> shift) << shift, bits };
}

function inCidr(ip: ParsedIp, c: Cidr): boolean {
  if (ip.family !== c.family) return false;
  const shift = BigInt((c.family === 4 ? 32 : 128) - c.bits);
  return ip.value >> shift === c.base >> shift;
}

const range = (cidr: string, why: string): [Cidr, string] => [parseCidr(cidr)!, why];

const V4_DENIED: ReadonlyArray<[Cidr, string]> = [
  range('0.0.0.0/8', 'unspecified ("this network")'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'shared address space (CGNAT)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'IETF protocol assignments'),
  range('192.0.2.0/24', 'documentation'),
  range('192.88.99.0/24', '6to4 relay anycast'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'),
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved (and broadcast)'),
];

const V6_DENIED: ReadonlyArray<[Cidr, string]> = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('100::/64', 'discard-only'),
  range('2001::/23', 'IETF protocol assignments (Teredo and others)'),
  range('2001:db8::/32', 'documentation'),
  range('2002::/16', '6to4 (tunnels to an IPv4 address)'),
  range('64:ff9b:1::/48', 'local-use IPv4/IPv6 translation'),
  range('fc00::/7', 'unique local (private)'),
  range('fe80::/10', 'link-local'),
  range('fec0::/10', 'site-local'),
  range('ff00::/8', 'multicast'),
];

/** IPv6 prefixes whose last 32 bits are an IPv4 address that is what actually gets reached. */
const V6_EMBEDDING_V4: readonly Cidr[] = [
  parseCidr('::ffff:0:0/96')!, // IPv4-mapped
  parseCidr('::/96')!, // IPv4-compatible (deprecated)
  parseCidr('64:ff9b::/96')!, // NAT64
];

/** The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64), if any. */
export function embeddedIpv4(ip: ParsedIp): ParsedIp | null {
  if (ip.family !== 6) return null;
  if (!V6_EMBEDDING_V4.some((c) => inCidr(ip, c))) return null;
  return { family: 4, value: ip.value & 0xffffffffn };
}

/** Why web-download may not reach this address, or null when it is public unicast. */
export function deniedReason(ip: ParsedIp): string | null {
  const inner = embeddedIpv4(ip);
  if (inner) {
    // ::ffff:0:0/96 covers :: and ::1 as IPv4-compatible too; those are named as themselves.
    const own = V6_DENIED.find(([c]) => inCidr(ip, c) && c.bits === 128);
    if (own) return own[1];
    const why = deniedReason(inner);
    return why === null ? null : `${why} (IPv4 inside IPv6)`;
  }
  const table = ip.family === 4 ? V4_DENIED : V6_DENIED;
  return table.find(([c]) => inCidr(ip, c))?.[1] ?? null;
}

/** The allow-list and the rule, in one place: what the fetcher asks before every connection. */
export class AddressPolicy {
  readonly #cidrs: Cidr[] = [];
  readonly #hosts = new Set<string>();

  constructor(allow: readonly string[]) {
    for (const entry of allow) {
      const cidr = parseCidr(entry);
      if (cidr) this.#cidrs.push(cidr);
      else this.#hosts.add(normalizeHost(entry));
    }
  }

  /** Null when `address` (which `host` named or resolved to) may be reached; else why not. */
  refusal(host: string, address: string): string | null {
    const ip = parseIp(address);
    if (!ip) return `${address} is not an IP address`;
    if (this.#hosts.has(normalizeHost(host))) return null;
    const inner = embeddedIpv4(ip);
    if (this.#cidrs.some((c) => inCidr(ip, c) || (inner !== null && inCidr(inner, c)))) return null;
    const why = deniedReason(ip);
    return why === null ? null : `${address} is a ${why} address`;
  }
}

/** Lower case, without brackets and trailing dot: how host names are compared. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.replace(/\.$/, '');
}
