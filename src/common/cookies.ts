import type { IncomingHttpHeaders } from 'node:http';

/**
 * The value of one cookie from a Cookie header (RFC 6265 §5.4), parsed by hand: no cookie
 * parser middleware runs on these routes. A name sent twice yields the first value, as
 * browsers send the most specific cookie first.
 */
export function readCookie(headers: IncomingHttpHeaders, name: string): string | null {
  const header = headers.cookie;
  if (typeof header !== 'string' || header.length === 0) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    return value.length > 0 ? value : null;
  }
  return null;
}

export interface CookieOptions {
  maxAgeSeconds: number;
  secure: boolean;
  path?: string;
  sameSite?: 'Lax' | 'Strict';
}

/**
 * A Set-Cookie value; always HttpOnly. A max age of 0 deletes the cookie. Browsers drop a cookie
 * whose name prefix it does not honour (RFC 6265bis §4.1.3), so breaking one is a bug here, not
 * a silently missing session.
 */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  if (name.startsWith('__Host-') && (!options.secure || (options.path ?? '/') !== '/')) {
    throw new Error(`cookie ${name}: __Host- needs Secure and Path=/`);
  }
  if (name.startsWith('__Secure-') && !options.secure) {
    throw new Error(`cookie ${name}: __Secure- needs Secure`);
  }
  const parts = [
    `${name}=${value}`,
    `Path=${options.path ?? '/'}`,
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    `SameSite=${options.sameSite ?? 'Lax'}`,
  ];
  if (options.maxAgeSeconds === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (options.secure) parts.push('Secure');
  return parts.join('; ');
}
