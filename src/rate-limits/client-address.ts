import { isIPv4 } from 'node:net';
import { parseIpv6 } from '../common/ip-ranges.js';
import type { RawRequest } from '../common/http.js';
import { currentRequest } from '../common/request-context.js';

/**
 * The address a limit counts against: express `req.ip`, which follows the configured
 * `trust proxy` (TRUST_PROXY), so behind a load balancer it is the client, not the balancer.
 */
export function addressOf(req: RawRequest): string {
  return addressKey(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

/** The address of the request being served, or null outside a request (timers, the CLI). */
export function currentAddress(): string | null {
  const ip = currentRequest()?.ip;
  return ip === undefined || ip === null ? null : addressKey(ip);
}

/**
 * IPv4 as is; IPv4-mapped IPv6 as the IPv4 address; other IPv6 addresses by their /64, the
 * block one subscriber usually holds (RFC 6177), so cycling through one's own addresses does
 * not escape a limit. Anything unparseable is used verbatim.
 */
export function addressKey(ip: string): string {
  if (isIPv4(ip)) return ip;
  const groups = parseIpv6(ip);
  if (groups === null) return ip;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  }
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}
