import type { NextFunction, Request, Response } from 'express';
import { AsyncResource } from 'node:async_hooks';
import { CommonErrorCode } from './admin-errors.js';
import type { BodyLimits } from './http.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * JSON bodies for the admin API, read and parsed here so that every failure is answered in the
 * admin error format: 415 for another content type, 413 past the size limit, 408 past the time
 * limit, 400 for bad JSON.
 */
export function adminJsonBody(limits: BodyLimits) {
  const limitBytes = limits.bodyLimitBytes;
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!WITH_BODY.has(req.method)) return next();
    const length = Number(req.headers['content-length'] ?? 0);
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (length === 0 && !chunked) {
      req.body = {};
      return next();
    }
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
    if (type !== 'application/json') {
      return fail(
        res,
        415,
        CommonErrorCode.UnsupportedMediaType,
        'content type must be application/json',
      );
    }
    if (length > limitBytes)
      return fail(res, 413, CommonErrorCode.PayloadTooLarge, 'request body is too large');
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // A body that never ends must not hold the request and its socket forever.
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      fail(res, 408, CommonErrorCode.RequestTimeout, 'request body was not received in time');
    }, limits.bodyReadTimeoutMs);
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limitBytes) {
        done = true;
        clearTimeout(timer);
        fail(res, 413, CommonErrorCode.PayloadTooLarge, 'request body is too large');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    // Stream events fire outside the request's async context: bind the handler to it, so the
    // request context (request id, caller address) reaches the route.
    req.on(
      'end',
      AsyncResource.bind(() => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        let hasNul = false;
        try {
          req.body = JSON.parse(Buffer.concat(chunks).toString('utf8'), (_key, value: unknown) => {
            if (typeof value === 'string' && value.includes('\u0000')) hasNul = true;
            return value;
          }) as unknown;
        } catch {
          return fail(res, 400, CommonErrorCode.MalformedJson, 'request body is not valid JSON');
        }
        // PostgreSQL text cannot hold NUL: refuse it here rather than fail the query with a 500.
        if (hasNul) {
          return fail(
            res,
            400,
            CommonErrorCode.ValidationFailed,
            'strings must not contain NUL characters',
          );
        }
        if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
          return fail(
            res,
            400,
            CommonErrorCode.ValidationFailed,
            'request body must be a JSON object',
          );
        }
        next();
      }),
    );
    req.on('error', () => {
      done = true;
      clearTimeout(timer);
    });
  };
}

function fail(res: Response, status: number, code: CommonErrorCode, message: string): void {
  if (res.headersSent) return;
  res.status(status).setHeader('Cache-Control', 'no-store');
  res.setHeader('Connection', 'close');
  res.json({ statusCode: status, code, message, requestId: (res.req as { id?: string }).id });
}
