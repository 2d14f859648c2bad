import { isIP } from 'node:net';

/**
 * Why an address must not be fetched from, or null for a public unicast address. Outbound
 * fetches of client-supplied URLs (CIMD documents, jwks_uri) refuse everything that is not
 * publicly routable: the IANA special-purpose registries (RFC 6890, RFC 8190) plus the
 * embedded-IPv4 forms of IPv6 that would otherwise smuggle a private IPv4 address through.
 */
export type BlockedRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'shared'
  | 'link_local'
  | 'unique_local'
  | 'multicast'
  | 'documentation'
  | 'benchmarking'
  | 'reserved'
  | 'invalid';

interface V4Range {
  base: number;
  bits: number;
  kind: BlockedRange;
}

function v4(cidr: string, kind: BlockedRange): V4Range {
  const [address, bits] = cidr.split('/');
  return { base: parseIpv4(address) ?? 0, bits: Number(bits), kind };
}

const V4_BLOCKED: readonly V4Range[] = [
  v4('0.0.0.0/8', 'unspecified'), // RFC 1122 §3.2.1.3 "this network"
  v4('10.0.0.0/8', 'private'), // RFC 1918
  v4('100.64.0.0/10', 'shared'), // RFC 6598 carrier-grade NAT
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link_local'), // RFC 3927, cloud metadata services live here
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'reserved'), // RFC 6890 IETF protocol assignments
  v4('192.0.2.0/24', 'documentation'), // RFC 5737
  v4('192.88.99.0/24', 'reserved'), // RFC 7526 deprecated 6to4 relay anycast
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'benchmarking'), // RFC 2544
  v4('198.51.100.0/24', 'documentation'),
  v4('203.0.113.0/24', 'documentation'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'), // RFC 1112, includes 255.255.255.255
];

export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

/** Eight 16-bit groups, or null. Accepts `::` compression and a trailing dotted IPv4 part. */
export function parseIpv6(text: string): number[] | null {
  let input = text.split('%', 1)[0];
  const lastColon = input.lastIndexOf(':');
  if (lastColon === -1) return null;
  const last = input.slice(lastColon + 1);
  if (last.includes('.')) {
    const embedded = parseIpv4(last);
    if (embedded === null) return null;
    const high = Math.floor(embedded / 65536).toString(16);
    const low = (embedded % 65536).toString(16);
    input = `${input.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const halves = input.split('::');
  if (halves.length > 2) return null;
  const parse = (half: string): number[] | null => {
    if (half.length === 0) return [];
    const out: number[] = [];
    for (const group of half.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return null;
      out.push(parseInt(group, 16));
    }
    return out;
  };
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  if (head === null || rest === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const given = head.length + rest.length;
  if (given > 7) return null;
  return [...head, ...new Array<number>(8 - given).fill(0), ...rest];
}

function classifyIpv4(value: number): BlockedRange | null {
  for (const range of V4_BLOCKED) {
    const size = 2 ** (32 - range.bits);
    if (Math.floor(value / size) === Math.floor(range.base / size)) return range.kind;
  }
  return null;
}

function embeddedIpv4(groups: number[], from: number): number {
  return groups[from] * 65536 + groups[from + 1];
}

function classifyIpv6(g: number[]): BlockedRange | null {
  const zeroPrefix = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroPrefix(8)) return 'unspecified';
  if (zeroPrefix(7) && g[7] === 1) return 'loopback';
  // ::ffff:a.b.c.d (IPv4-mapped, RFC 4291 §2.5.5.2): the IPv4 address decides.
  if (zeroPrefix(5) && g[5] === 0xffff) return classifyIpv4(embeddedIpv4(g, 6));
  // ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:0:a.b.c.d (SIIT): never legitimate here.
  if (zeroPrefix(6) || (zeroPrefix(4) && g[4] === 0xffff && g[5] === 0)) return 'reserved';
  // 64:ff9b::/96 (RFC 6052 NAT64): the embedded IPv4 address decides.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return classifyIpv4(embeddedIpv4(g, 6));
  }
  // 2002::/16 (6to4): the IPv4 address in bits 16..47 decides.
  if (g[0] === 0x2002) return classifyIpv4(embeddedIpv4(g, 1)) ?? null;
  if (g[0] === 0x2001 && g[1] === 0x0db8) return 'documentation'; // RFC 3849
  if (g[0] === 0x3fff && g[1] < 0x1000) return 'documentation'; // RFC 9637 3fff::/20
  if (g[0] === 0x2001 && g[1] < 0x0200) return 'reserved'; // 2001::/23 incl. Teredo, ORCHID
  if ((g[0] & 0xfe00) === 0xfc00) return 'unique_local'; // fc00::/7
  if ((g[0] & 0xffc0) === 0xfe80) return 'link_local'; // fe80::/10
  if ((g[0] & 0xff00) === 0xff00) return 'multicast';
  if (g[0] === 0x5f00) return 'reserved'; // RFC 9602 SRv6 SIDs
  // Everything outside global unicast 2000::/3 (64:ff9b:1::/48, 100::/64, fec0::/10, …).
  if ((g[0] & 0xe000) !== 0x2000) return 'reserved';
  return null;
}

/** Classifies an IP address literal (IPv6 with or without brackets and zone). */
export function classifyAddress(address: string): BlockedRange | null {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare.split('%')[0]);
  if (family === 4) {
    const value = parseIpv4(bare);
    return value === null ? 'invalid' : classifyIpv4(value);
  }
  if (family === 6) {
    const groups = parseIpv6(bare);
    return groups === null ? 'invalid' : classifyIpv6(groups);
  }
  return 'invalid';
}
