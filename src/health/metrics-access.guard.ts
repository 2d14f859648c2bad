import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { BearerChallengeError } from '../auth-guards/auth-guards.errors.js';
import { CommonErrorCode, DomainError } from '../common/admin-errors.js';
import { constantTimeEqual } from '../common/crypto.js';
import { AppConfig } from '../config/app-config.js';

const CHALLENGE = 'Bearer realm="metrics"';

/**
 * /metrics shows operational data (traffic, error rates, pool use): off with
 * METRICS_ENABLED=false, and behind a bearer token when METRICS_TOKEN is set.
 */
@Injectable()
export class MetricsAccessGuard implements CanActivate {
  constructor(private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const { enabled, token } = this.config.metrics;
    if (!enabled) throw new DomainError(CommonErrorCode.NotFound, 'not found');
    const headers = context.switchToHttp().getRequest<{ headers: IncomingHttpHeaders }>().headers;
    if (token !== null && !presentsToken(headers, token)) {
      throw new BearerChallengeError(
        CommonErrorCode.Unauthenticated,
        'a valid metrics token is required',
        CHALLENGE,
      );
    }
    return true;
  }
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`, compared in constant time. */
export function presentsToken(headers: IncomingHttpHeaders, token: string): boolean {
  const header = headers.authorization ?? '';
  const match = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
  return match !== null && constantTimeEqual(match[1], token);
}
