import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { CommonErrorCode } from '../common/admin-errors.js';
import { BearerChallengeError } from './auth-guards.errors.js';

/**
 * RFC 6750 §3 answers of the bearer guard in apps other than Latchkey (Latchkey's own filter
 * does the same for its admin API): the status, the `WWW-Authenticate` challenge, and
 * `{statusCode, code, message}`.
 */
@Catch(BearerChallengeError)
export class BearerChallengeFilter implements ExceptionFilter {
  catch(exception: BearerChallengeError, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    const statusCode = exception.code === CommonErrorCode.Forbidden ? 403 : 401;
    res
      .status(statusCode)
      .setHeader('WWW-Authenticate', exception.challenge)
      .setHeader('Cache-Control', 'no-store')
      .json({ statusCode, code: exception.code, message: exception.message });
  }
}
