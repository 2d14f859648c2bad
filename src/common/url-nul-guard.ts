import type { NextFunction, Request, Response } from 'express';
import { CommonErrorCode } from './admin-errors.js';

/** A percent-encoded NUL, in any letter case. */
const ENCODED_NUL = /%00/i;

/**
 * PostgreSQL text cannot hold NUL (U+0000). Route parameters such as a role name or a linked
 * subject go to queries as they are, and a `%00` in them failed the query with a 500. No id or
 * filter of the admin API can contain NUL, so such a URL is refused up front, in the admin
 * format, like a NUL inside a JSON body (see admin-body.ts).
 */
export function refuseEncodedNul(req: Request, res: Response, next: NextFunction): void {
  if (!ENCODED_NUL.test(req.originalUrl)) return next();
  res.status(400).setHeader('Cache-Control', 'no-store');
  res.json({
    statusCode: 400,
    code: CommonErrorCode.ValidationFailed,
    message: 'the URL must not contain NUL characters',
    requestId: (req as Request & { id?: string }).id,
  });
}
