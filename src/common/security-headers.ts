import type { NextFunction, RequestHandler } from 'express';
import helmet from 'helmet';
import type { RawRequest, RawResponse } from './http.js';

/**
 * The one owner of the security headers: helmet's set on every response, a minimal CSP on
 * JSON and redirects, a strict one on the HTML pages, and `no-store` by default.
 *
 * Referrer-Policy is `no-referrer` everywhere: the pages' URLs carry authorization requests, and
 * the policy of our redirect to the client also governs the Referer of that navigation, whose
 * URL carries the authorization code (RFC 9700 §4.2.4).
 */

/** Responses that are not HTML: nothing may load from them, nothing may frame them. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Swagger UI at /docs: its own scripts from 'self', but React writes style attributes, so
 * styles may be inline there (never scripts). It renders admin metadata only, no secrets.
 */
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
  "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; " +
  "base-uri 'none'";

/** Where a page may send a form, and where its images come from, beyond its own origin. */
export interface PagePolicy {
  /**
   * URIs a form post on the page may end up at. Browsers apply `form-action` to every redirect
   * that follows the post (CSP3 §6.4.1), and the consent and sign-out answers are 303 redirects
   * to the client's registered redirect URI.
   */
  formTargets?: readonly (string | null | undefined)[];
  /** Images shown on the page from elsewhere (the client's logo on the consent page). */
  images?: readonly (string | null | undefined)[];
}

/**
 * The CSP of an HTML page: no inline script or style at all, scripts, styles and fetches only
 * from our own origin, never framed, no <base>.
 */
export function pageCsp(policy: PagePolicy = {}): string {
  const images = sources(policy.images);
  const forms = sources(policy.formTargets);
  return (
    "default-src 'none'; script-src 'self'; style-src 'self'; " +
    `img-src 'self'${images}; connect-src 'self'; form-action 'self'${forms}; ` +
    "frame-ancestors 'none'; base-uri 'none'"
  );
}

/**
 * The CSP source expression of each absolute URI: its origin for http(s), its scheme for a
 * native app's private-use scheme (RFC 8252 §7.1). Built from the parsed URL, so nothing from
 * the client's registration can add a directive.
 */
function sources(uris: readonly (string | null | undefined)[] | undefined): string {
  const seen = new Set<string>();
  for (const uri of uris ?? []) {
    if (uri === null || uri === undefined) continue;
    const source = sourceOf(uri);
    if (source !== null) seen.add(source);
  }
  let out = '';
  for (const source of seen) out += ` ${source}`;
  return out;
}

function sourceOf(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol === 'https:' || url.protocol === 'http:') return url.origin;
  return /^[a-z][a-z0-9+.-]*:$/.test(url.protocol) ? url.protocol : null;
}

/** Sets the page CSP, replacing the minimal one every response starts with. */
export function setPageCsp(res: RawResponse, policy: PagePolicy = {}): void {
  res.setHeader('Content-Security-Policy', pageCsp(policy));
}

/** Marks a response as publicly cacheable, undoing the `no-store` default. */
export function allowPublicCaching(res: RawResponse, maxAgeSeconds: number): void {
  res.setHeader('Cache-Control', `public, max-age=${maxAgeSeconds}`);
  res.removeHeader('Pragma');
}

export interface SecurityHeaders {
  /**
   * Headers for the raw protocol endpoints, computed once at start from the same helmet
   * configuration: the hot path sets them in one loop instead of running a middleware chain.
   */
  readonly protocol: readonly (readonly [string, string])[];
  /** helmet plus the `no-store` default, for every request the protocol router passes on. */
  readonly middleware: RequestHandler;
}

/**
 * Builds the headers for an issuer. HSTS only over https: on an http issuer (loopback
 * development) it would be ignored by browsers, and it must never pin a host by accident.
 */
export function securityHeaders(issuer: string): SecurityHeaders {
  const https = new URL(issuer).protocol === 'https:';
  const secured = helmet({
    // Set below: a page replaces it per response, so the text is built here, not by helmet.
    contentSecurityPolicy: false,
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: https
      ? { maxAge: 31_536_000, includeSubDomains: true, preload: false }
      : false,
    xFrameOptions: { action: 'deny' },
  });
  const protocol: [string, string][] = [['Content-Security-Policy', API_CSP], ...snapshot(secured)];
  const middleware = (req: RawRequest, res: RawResponse, next: NextFunction): void => {
    const path = req.url ?? '';
    const docs = path === '/docs' || path.startsWith('/docs/') || path.startsWith('/docs?');
    res.setHeader('Content-Security-Policy', docs ? DOCS_CSP : API_CSP);
    // Anything not explicitly public may carry a token, a secret or personal data.
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    secured(req, res, next);
  };
  return { protocol, middleware: middleware as RequestHandler };
}

/** Runs helmet once against a recording response and keeps the headers it set. */
function snapshot(secured: RequestHandler): [string, string][] {
  const headers: [string, string][] = [];
  const recorder = {
    setHeader(name: string, value: string) {
      headers.push([name, value]);
    },
    removeHeader() {},
  };
  let failure: unknown;
  secured(
    {} as Parameters<RequestHandler>[0],
    recorder as unknown as Parameters<RequestHandler>[1],
    (err?: unknown) => {
      failure = err;
    },
  );
  if (failure !== undefined) throw new Error('the security headers could not be built');
  return headers;
}

/** Sets the precomputed headers on a protocol response. */
export function applyProtocolHeaders(
  res: RawResponse,
  headers: readonly (readonly [string, string])[],
): void {
  for (const [name, value] of headers) res.setHeader(name, value);
}
