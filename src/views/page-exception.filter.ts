import {
  Catch,
  HttpException,
  HttpStatus,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from '../common/admin-errors.js';
import { setRetryAfter, statusOf, type AdminErrorCode } from '../common/admin-exception.filter.js';
import { logger } from '../common/logger.js';
import { OAuthError } from '../common/oauth-errors.js';
import { SessionsErrorCode } from '../sessions/sessions.errors.js';
import { WebauthnErrorCode } from '../webauthn/webauthn.errors.js';
import { ViewsService } from './views.service.js';

const TITLES: Record<number, string> = {
  400: 'Something is wrong with that request',
  403: 'That did not work',
  404: 'Page not found',
  409: 'That cannot be done',
  429: 'Too many attempts',
};

const TITLES_BY_CODE: Partial<Record<string, string>> = {
  [WebauthnErrorCode.SetupTokenInvalid]: 'This link no longer works',
  [SessionsErrorCode.CsrfTokenInvalid]: 'This form has expired',
};

/**
 * Errors on the HTML pages and their form posts: a friendly page with the right 4xx status,
 * or, when the session is gone, a trip to the sign-in page. Never a stack trace.
 */
@Catch()
export class PageExceptionFilter implements ExceptionFilter {
  constructor(private readonly views: ViewsService) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request & { id?: string }>();
    const res = http.getResponse<Response>();
    if (res.headersSent) return;
    if (exception instanceof DomainError && exception.code === SessionsErrorCode.SignInRequired) {
      const back = req.method === 'GET' ? req.originalUrl : '/account';
      this.views.redirect(res, `/login?return_to=${encodeURIComponent(back)}`);
      return;
    }
    const { status, message } = describe(exception);
    setRetryAfter(res, exception);
    if (status >= 500) logger.error({ err: exception, reqId: req.id }, 'page request failed');
    const code = exception instanceof DomainError ? (exception as DomainError<string>).code : '';
    const byCode = TITLES_BY_CODE[code];
    this.views.errorPage(
      res,
      status,
      byCode ?? TITLES[status] ?? (status >= 500 ? 'Something went wrong' : 'That did not work'),
      message,
    );
  }
}

function describe(exception: unknown): { status: number; message: string } {
  if (exception instanceof DomainError) {
    return { status: statusOf(exception.code as AdminErrorCode), message: exception.message };
  }
  if (exception instanceof OAuthError && exception.status < 500) {
    return { status: exception.status, message: exception.description };
  }
  if (exception instanceof HttpException && exception.getStatus() < 500) {
    const status = exception.getStatus();
    return {
      status,
      message: status === 404 ? 'There is nothing at this address.' : 'The form could not be read.',
    };
  }
  return {
    status: HttpStatus.INTERNAL_SERVER_ERROR,
    message: 'An unexpected error occurred. Please try again in a moment.',
  };
}
