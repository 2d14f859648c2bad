import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NextFunction } from 'express';
import { requestPath, type RawRequest, type RawResponse } from './http.js';
import { logger } from './logger.js';
import { observeRequest, requestMetricsEnabled, routeLabel } from '../health/request-metrics.js';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** User agents are attacker-chosen: keep what is stored about them bounded. */
const USER_AGENT_MAX = 512;

/** Who is calling, as far as the audit trail cares. Read through `currentRequest()`. */
export interface RequestContextStore {
  readonly requestId: string;
  readonly ip: string | null;
  readonly userAgent: string | null;
  /** Subject of the bearer token that authenticated this request, once a guard has checked it. */
  readonly principalSubject: string | null;
}

/**
 * The ip and user agent are resolved on first read: most requests record no audit event, and
 * `req.ip` walks the trust-proxy chain.
 */
class LazyRequestContext implements RequestContextStore {
  constructor(
    readonly requestId: string,
    private readonly req: RawRequest,
  ) {}

  get ip(): string | null {
    return this.req.ip ?? this.req.socket.remoteAddress ?? null;
  }

  get userAgent(): string | null {
    const agent = this.req.headers['user-agent'];
    return typeof agent === 'string' && agent !== '' ? agent.slice(0, USER_AGENT_MAX) : null;
  }

  get principalSubject(): string | null {
    const principal = (this.req as { principal?: { sub?: unknown } }).principal;
    return typeof principal?.sub === 'string' ? principal.sub : null;
  }
}

const storage = new AsyncLocalStorage<RequestContextStore>();

/** The request being served, or undefined outside one (start-up, timers, the CLI). */
export function currentRequest(): RequestContextStore | undefined {
  return storage.getStore();
}

/**
 * Gives every request an id (a sane incoming X-Request-Id is kept), returns it in the response,
 * and, when the response finishes, records its duration (one clock read at each end, one
 * histogram observation) and writes one access-log line. The path is logged without its
 * query string, which can carry codes and tokens.
 */
export function requestContext(req: RawRequest, res: RawResponse, next: NextFunction): void {
  runInRequestContext(req, res, next);
}

/**
 * `requestContext` without express: the protocol dispatcher serves its endpoints straight from
 * the HTTP server, and runs each of them through this.
 */
export function runInRequestContext<T>(req: RawRequest, res: RawResponse, serve: () => T): T {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : randomUUID();
  req.id = id;
  res.setHeader('X-Request-Id', id);
  const log = logger.isLevelEnabled('info');
  const measure = requestMetricsEnabled();
  if (log || measure) whenFinished(req, res, id, log, measure);
  return storage.run(new LazyRequestContext(id, req), serve);
}

function whenFinished(
  req: RawRequest,
  res: RawResponse,
  id: string,
  log: boolean,
  measure: boolean,
): void {
  const started = process.hrtime.bigint();
  res.once('finish', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const path = requestPath(req.url);
    if (measure) observeRequest(routeLabel(req, path), req.method, res.statusCode, seconds);
    if (!log) return;
    logger.info(
      {
        reqId: id,
        method: req.method,
        path: redactPath(path),
        status: res.statusCode,
        ms: seconds * 1e3,
        ip: req.ip,
      },
      'request',
    );
  });
}

/** Setup links carry their one-time token in the path: keep it out of the access log. */
function redactPath(path: string): string {
  return path.startsWith('/setup/') ? '/setup/[redacted]' : path;
}
