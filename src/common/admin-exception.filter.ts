import {
  Catch,
  HttpException,
  HttpStatus,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditErrorCode } from '../audit/audit.errors.js';
import { BearerChallengeError } from '../auth-guards/auth-guards.errors.js';
import { ClientsErrorCode } from '../clients/clients.errors.js';
import { ConsentsErrorCode } from '../oauth/authorize/consents.errors.js';
import { RateLimitedError, RateLimitsErrorCode } from '../rate-limits/rate-limits.errors.js';
import { ResourcesErrorCode } from '../resources/resources.errors.js';
import { SessionsErrorCode } from '../sessions/sessions.errors.js';
import { TokensErrorCode } from '../tokens/tokens.errors.js';
import { TrustedIssuersErrorCode } from '../trusted-issuers/trusted-issuers.errors.js';
import { UsersErrorCode } from '../users/users.errors.js';
import { WebauthnErrorCode } from '../webauthn/webauthn.errors.js';
import { CommonErrorCode, DomainError, assertUnreachable } from './admin-errors.js';
import { countAdminError } from '../health/metrics-registry.js';
import { logger } from './logger.js';
import { OAuthError } from './oauth-errors.js';

export type AdminErrorCode =
  | CommonErrorCode
  | ClientsErrorCode
  | ResourcesErrorCode
  | TrustedIssuersErrorCode
  | TokensErrorCode
  | UsersErrorCode
  | SessionsErrorCode
  | WebauthnErrorCode
  | AuditErrorCode
  | ConsentsErrorCode
  | RateLimitsErrorCode;

/** Every admin error code mapped to its status. A new code fails to compile until it is here. */
export function statusOf(code: AdminErrorCode): number {
  switch (code) {
    case CommonErrorCode.ValidationFailed:
    case CommonErrorCode.MalformedJson:
    case ClientsErrorCode.InvalidClientMetadata:
    case ClientsErrorCode.InvalidCursor:
    case ClientsErrorCode.ClientIsPublic:
      return HttpStatus.BAD_REQUEST;
    case CommonErrorCode.Unauthenticated:
      return HttpStatus.UNAUTHORIZED;
    case CommonErrorCode.Forbidden:
      return HttpStatus.FORBIDDEN;
    case CommonErrorCode.NotFound:
    case ClientsErrorCode.ClientNotFound:
    case ClientsErrorCode.InitialAccessTokenNotFound:
    case TokensErrorCode.KeyNotFound:
      return HttpStatus.NOT_FOUND;
    case ClientsErrorCode.ClientIdTaken:
      return HttpStatus.CONFLICT;
    case CommonErrorCode.PayloadTooLarge:
      return HttpStatus.PAYLOAD_TOO_LARGE;
    case CommonErrorCode.RequestTimeout:
      return HttpStatus.REQUEST_TIMEOUT;
    case CommonErrorCode.UnsupportedMediaType:
      return HttpStatus.UNSUPPORTED_MEDIA_TYPE;
    case TokensErrorCode.NoSigningKey:
      return HttpStatus.SERVICE_UNAVAILABLE;
    case ResourcesErrorCode.InvalidResourceMetadata:
    case ResourcesErrorCode.InvalidCursor:
      return HttpStatus.BAD_REQUEST;
    case ResourcesErrorCode.ResourceNotFound:
      return HttpStatus.NOT_FOUND;
    case ResourcesErrorCode.ResourceIdentifierTaken:
      return HttpStatus.CONFLICT;
    case TrustedIssuersErrorCode.InvalidTrustedIssuer:
    case TrustedIssuersErrorCode.InvalidCursor:
      return HttpStatus.BAD_REQUEST;
    case TrustedIssuersErrorCode.TrustedIssuerNotFound:
    case TrustedIssuersErrorCode.LinkUserNotFound:
    case TrustedIssuersErrorCode.SubjectLinkNotFound:
      return HttpStatus.NOT_FOUND;
    case TrustedIssuersErrorCode.TrustedIssuerTaken:
      return HttpStatus.CONFLICT;
    case UsersErrorCode.UnknownRole:
    case UsersErrorCode.InvalidCursor:
    case UsersErrorCode.RoleIsBuiltIn:
    case WebauthnErrorCode.SetupTokenInvalid:
    case WebauthnErrorCode.ChallengeInvalid:
    case WebauthnErrorCode.VerificationFailed:
    case WebauthnErrorCode.UnknownCredential:
    case WebauthnErrorCode.CounterRegression:
      return HttpStatus.BAD_REQUEST;
    case UsersErrorCode.UserNotFound:
    case UsersErrorCode.RoleNotFound:
    case WebauthnErrorCode.CredentialNotFound:
      return HttpStatus.NOT_FOUND;
    case UsersErrorCode.EmailTaken:
    case UsersErrorCode.RoleNameTaken:
    case UsersErrorCode.RoleInUse:
    case WebauthnErrorCode.CredentialAlreadyRegistered:
    case WebauthnErrorCode.LastPasskey:
      return HttpStatus.CONFLICT;
    case SessionsErrorCode.SignInRequired:
      return HttpStatus.UNAUTHORIZED;
    case RateLimitsErrorCode.TooManyRequests:
    case RateLimitsErrorCode.SignInLocked:
      return HttpStatus.TOO_MANY_REQUESTS;
    case AuditErrorCode.InvalidFilter:
    case AuditErrorCode.InvalidCursor:
      return HttpStatus.BAD_REQUEST;
    case AuditErrorCode.AuditEventNotFound:
    case ConsentsErrorCode.ConsentNotFound:
      return HttpStatus.NOT_FOUND;
    case SessionsErrorCode.CsrfTokenInvalid:
    case WebauthnErrorCode.UserDisabled:
      return HttpStatus.FORBIDDEN;
    default:
      return assertUnreachable(code);
  }
}

export interface AdminErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: unknown;
  requestId?: string;
}

/**
 * The one exception filter of the Nest (admin, health, docs) routes:
 * `{statusCode, code, message, details?}`. Unknown errors become a 500 with the request id and
 * are logged; no stack trace or SQL reaches the client.
 */
@Catch()
export class AdminExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request & { id?: string }>();
    const res = http.getResponse<Response>();
    const body = toBody(exception, req.id);
    countAdminError(body.code);
    if (exception instanceof BearerChallengeError)
      res.setHeader('WWW-Authenticate', exception.challenge);
    if (!res.headersSent) setRetryAfter(res, exception);
    if (body.statusCode >= 500)
      logger.error({ err: exception, reqId: req.id }, 'admin request failed');
    if (res.headersSent) return;
    res.status(body.statusCode).setHeader('Cache-Control', 'no-store').json(body);
  }
}

function toBody(exception: unknown, requestId: string | undefined): AdminErrorBody {
  if (exception instanceof DomainError) {
    const code = exception.code as AdminErrorCode;
    return {
      statusCode: statusOf(code),
      code,
      message: exception.message,
      details: exception.details,
    };
  }
  if (exception instanceof HttpException) return fromHttpException(exception);
  // Form parsing on browser routes reports in OAuth terms (415, 413, bad encoding).
  if (exception instanceof OAuthError && exception.status < 500) {
    return { statusCode: exception.status, code: exception.error, message: exception.description };
  }
  return {
    statusCode: HttpStatus.INTERNAL_SERVER_ERROR,
    code: 'internal_error',
    message: 'an unexpected error occurred',
    requestId,
  };
}

/** Nest's own exceptions: validation (ValidationPipe), unknown routes, and the like. */
function fromHttpException(exception: HttpException): AdminErrorBody {
  const status: number = exception.getStatus();
  const response = exception.getResponse();
  const messages =
    typeof response === 'object' && response !== null && 'message' in response
      ? response.message
      : undefined;
  if (status === 400) {
    return {
      statusCode: status,
      code: CommonErrorCode.ValidationFailed,
      message: 'the request is not valid',
      details: Array.isArray(messages)
        ? messages
        : typeof messages === 'string'
          ? [messages]
          : undefined,
    };
  }
  if (status === 404)
    return { statusCode: status, code: CommonErrorCode.NotFound, message: 'not found' };
  return {
    statusCode: status,
    code: status >= 500 ? 'internal_error' : 'request_failed',
    message: status >= 500 ? 'an unexpected error occurred' : exception.message,
  };
}

/**
 * RFC 6585 §4: a 429 says when to come back. Rate limits raised on the Nest routes, and OAuth
 * 429s that surface there (a metadata-document fetch limit hit during /authorize).
 */
export function setRetryAfter(res: Response, exception: unknown): void {
  if (exception instanceof RateLimitedError) {
    res.setHeader('Retry-After', String(exception.retryAfterSeconds));
  } else if (exception instanceof OAuthError && exception.status === 429) {
    for (const [name, value] of Object.entries(exception.headers())) res.setHeader(name, value);
  }
}
