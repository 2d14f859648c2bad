import type { NextFunction, Request, Response } from 'express';
import { CommonErrorCode } from './admin-errors.js';

const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * JSON bodies for the admin API, read and parsed here so that every failure is answered in the
 * admin error format: 415 for another content type, 413 past the limit, 400 for bad JSON.
 */
export function adminJsonBody(limitBytes: number) {
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
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limitBytes) {
        done = true;
        fail(res, 413, CommonErrorCode.PayloadTooLarge, 'request body is too large');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
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
    });
    req.on('error', () => {
      done = true;
    });
  };
}

function fail(res: Response, status: number, code: CommonErrorCode, message: string): void {
  if (res.headersSent) return;
  res.status(status).setHeader('Cache-Control', 'no-store');
  res.setHeader('Connection', 'close');
  res.json({ statusCode: status, code, message, requestId: (res.req as { id?: string }).id });
}
