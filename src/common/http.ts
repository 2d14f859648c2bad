import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  InvalidRequest,
  PayloadTooLarge,
  RequestTimeout,
  UnsupportedMediaType,
  toOAuthError,
  type OAuthError,
} from './oauth-errors.js';
import { logger } from './logger.js';
import { countOAuthError } from '../health/metrics-registry.js';
import { routeLabel } from '../health/request-metrics.js';

/** Parameters of a form body: one value each, or the names that came more than once. */
export interface FormParams {
  values: Map<string, string>;
  multi: Map<string, string[]>;
}

/** A request as the hot-path handlers see it: plain node objects, no framework in between. */
export type RawRequest = IncomingMessage & { id?: string; body?: unknown; ip?: string };
export type RawResponse = ServerResponse;

/** How much of a body is read, and for how long (`AppConfig.http`). */
export interface BodyLimits {
  bodyLimitBytes: number;
  bodyReadTimeoutMs: number;
}

const FORM_TYPE = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';

/**
 * Reads and parses an application/x-www-form-urlencoded body directly (hot path: no body-parser,
 * no qs). Rejects other content types, bodies over the size limit or slower than the time limit,
 * and invalid percent-encoding.
 */
export async function readForm(req: RawRequest, limits: BodyLimits): Promise<FormParams> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  if (type !== FORM_TYPE) {
    throw new UnsupportedMediaType(`content type must be ${FORM_TYPE}`);
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.bodyLimitBytes) throw new PayloadTooLarge('request body is too large');
  const body = await readBody(req, limits);
  return parseForm(body);
}

/**
 * Reads a JSON object body (RFC 7591 registration requests) with the same limits as `readForm`.
 * Strings holding NUL are refused here: PostgreSQL text cannot store them.
 */
export async function readJson(
  req: RawRequest,
  limits: BodyLimits,
): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  if (type !== JSON_TYPE) {
    throw new UnsupportedMediaType(`content type must be ${JSON_TYPE}`);
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.bodyLimitBytes) throw new PayloadTooLarge('request body is too large');
  const body = await readBody(req, limits);
  let hasNul = false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body, (_key, value: unknown) => {
      if (typeof value === 'string' && value.includes('\u0000')) hasNul = true;
      return value;
    });
  } catch {
    throw new InvalidRequest('request body is not valid JSON');
  }
  if (hasNul) throw new InvalidRequest('strings must not contain NUL characters');
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidRequest('request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

export function parseForm(body: string): FormParams {
  const values = new Map<string, string>();
  const multi = new Map<string, string[]>();
  if (body.length === 0) return { values, multi };
  for (const pair of body.split('&')) {
    if (pair.length === 0) continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    const seen = multi.get(name);
    if (seen) {
      seen.push(value);
    } else if (values.has(name)) {
      multi.set(name, [values.get(name) as string, value]);
    } else {
      values.set(name, value);
    }
  }
  for (const name of multi.keys()) values.delete(name);
  return { values, multi };
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.includes('+') ? text.replace(/\+/g, ' ') : text);
  } catch {
    throw new InvalidRequest('request body is not valid form encoding');
  }
}

/**
 * The whole body, as text. A body that never ends must not hold the request (and its socket)
 * forever: past the time limit it fails, and the error's `Connection: close` drops the socket.
 */
function readBody(req: RawRequest, limits: BodyLimits): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (error: Error) => {
      failed = true;
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      if (!failed) fail(new RequestTimeout('request body was not received in time'));
    }, limits.bodyReadTimeoutMs);
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limits.bodyLimitBytes) {
        fail(new PayloadTooLarge('request body is too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (err) => {
      if (!failed) fail(new InvalidRequest('request body could not be read', err));
    });
  });
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8' };
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

/** Writes a JSON body. `noStore` marks responses that carry tokens or secrets. */
export function sendJson(res: RawResponse, status: number, body: unknown, noStore = true): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...JSON_HEADERS,
    ...(noStore ? NO_STORE : {}),
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** The one serializer of OAuth errors (RFC 6749 §5.2). */
export function sendOAuthError(req: RawRequest, res: RawResponse, err: unknown): void {
  const oauthError: OAuthError = toOAuthError(err);
  if (oauthError.status >= 500) {
    logger.error({ err: oauthError.internalCause, reqId: req.id }, 'protocol endpoint failed');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  countOAuthError(routeLabel(req, requestPath(req.url)), oauthError.error);
  for (const [name, value] of Object.entries(oauthError.headers())) res.setHeader(name, value);
  sendJson(res, oauthError.status, {
    error: oauthError.error,
    error_description: safeDescription(oauthError.description),
  });
}

/** A request target's path, without its query string (which can carry codes and tokens). */
export function requestPath(url: string | undefined): string {
  if (url === undefined) return '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

const MAX_DESCRIPTION_LENGTH = 200;

/**
 * RFC 6749 §5.2: error_description holds only %x20-21 / %x23-5B / %x5D-7E. Descriptions may
 * quote client input (a parameter name, an unknown grant type), so anything outside that set is
 * replaced and a long quote is cut: a request cannot put NUL, unicode or 64 KiB into the answer.
 */
function safeDescription(description: string): string {
  const safe = description.replace(/"/g, "'").replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
  return safe.length > MAX_DESCRIPTION_LENGTH
    ? `${safe.slice(0, MAX_DESCRIPTION_LENGTH - 3)}...`
    : safe;
}
