import { Inject, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { TooManyRequests } from '../common/oauth-errors.js';
import { AppConfig } from '../config/app-config.js';
import { RATE_LIMIT_STORE, type RateLimitStore } from './rate-limit-store.js';

/** The request families with a limit of their own, each counted per minute. */
export type RateLimitFamily =
  'token' | 'token-client' | 'authorize' | 'webauthn' | 'anonymous' | 'registration' | 'cimd-fetch';

export const RATE_LIMIT_WINDOW_MS = 60_000;

/**
 * Per-minute request limits, shared by the hot protocol endpoints (which call `consume`) and
 * the Nest routes (whose guard calls `hit`). The first refused request
 * of a window is audited (`rate_limit.exceeded`); the rest of that window's refusals are not,
 * so a flood cannot flood the audit trail too.
 */
@Injectable()
export class RateLimiter {
  private readonly limits: Readonly<Record<RateLimitFamily, number>>;

  constructor(
    config: AppConfig,
    @Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore,
    private readonly audit: AuditService,
  ) {
    const limits = config.rateLimits;
    this.limits = {
      token: limits.tokenPerMinute,
      'token-client': limits.tokenPerClientPerMinute,
      authorize: limits.authorizePerMinute,
      webauthn: limits.webauthnPerMinute,
      anonymous: limits.anonymousPerMinute,
      registration: limits.registrationPerMinute,
      'cimd-fetch': limits.cimdFetchPerMinute,
    };
  }

  /** Requests per minute for a family; 0 means no limit. */
  limitOf(family: RateLimitFamily): number {
    return this.limits[family];
  }

  /**
   * Counts one request of `subject` (an address or a client id) in `family`, and throws the
   * OAuth 429 when it is over the limit.
   */
  async consume(family: RateLimitFamily, subject: string, description?: string): Promise<void> {
    const retryAfter = await this.hit(family, subject);
    if (retryAfter > 0) throw new TooManyRequests(retryAfter, description);
  }

  /** Counts one request; the seconds until it may be retried when over the limit, else 0. */
  async hit(family: RateLimitFamily, subject: string): Promise<number> {
    const limit = this.limits[family];
    if (limit === 0) return 0;
    const record = await this.store.increment(
      `${family}:${subject}`,
      RATE_LIMIT_WINDOW_MS,
      limit,
      0,
      family,
    );
    if (!record.isBlocked) return 0;
    if (record.blockedNow) {
      this.audit.record({
        type: 'rate_limit.exceeded',
        clientId: family === 'token-client' ? subject : null,
        details: { limit: family, per_minute: limit },
      });
    }
    return Math.max(1, record.timeToBlockExpire);
  }
}
