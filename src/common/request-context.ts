import { randomUUID } from 'node:crypto';
import type { NextFunction } from 'express';
import type { RawRequest, RawResponse } from './http.js';
import { logger } from './logger.js';

const INCOMING_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (a sane incoming X-Request-Id is kept), returns it in the response,
 * and writes one access-log line when the response finishes. The path is logged without its
 * query string, which can carry codes and tokens.
 */
export function requestContext(req: RawRequest, res: RawResponse, next: NextFunction): void {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : randomUUID();
  req.id = id;
  res.setHeader('X-Request-Id', id);
  if (logger.isLevelEnabled('info')) {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const url = req.url ?? '';
      const query = url.indexOf('?');
      logger.info(
        {
          reqId: id,
          method: req.method,
          path: redactPath(query === -1 ? url : url.slice(0, query)),
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          ip: req.ip,
        },
        'request',
      );
    });
  }
  next();
}

/** Setup links carry their one-time token in the path: keep it out of the access log. */
function redactPath(path: string): string {
  return path.startsWith('/setup/') ? '/setup/[redacted]' : path;
}
