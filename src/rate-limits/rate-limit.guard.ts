import { Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { RawRequest } from '../common/http.js';
import { addressOf } from './client-address.js';
import { RateLimiter, type RateLimitFamily } from './rate-limiter.service.js';
import { RateLimitedError, RateLimitsErrorCode } from './rate-limits.errors.js';

const FAMILY = 'latchkey:rate-limit-family';

/** Puts a controller (or one handler) under a family's per-address limit; use with the guard. */
export const RateLimited = (family: RateLimitFamily) => SetMetadata(FAMILY, family);

/**
 * The per-address limit of the browser and JSON routes, counted in the shared store (the same
 * `ThrottlerStorage` contract as @nestjs/throttler's guard; that guard itself is a CommonJS
 * module that requires the ESM-only @nestjs/common, which the test runner cannot load).
 * A refusal is a 429 domain error with `Retry-After`, so each controller's own filter renders
 * it (JSON for the ceremonies, a page for the pages), and /authorize never redirects it: the
 * guard runs before the client and its redirect URI are verified (RFC 6749 §4.1.2.1).
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const family = this.reflector.getAllAndOverride<RateLimitFamily | undefined>(FAMILY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (family === undefined) return true;
    const req = context.switchToHttp().getRequest<RawRequest>();
    const retryAfter = await this.limiter.hit(family, addressOf(req));
    if (retryAfter > 0) {
      throw new RateLimitedError(
        RateLimitsErrorCode.TooManyRequests,
        'too many requests; retry later',
        retryAfter,
      );
    }
    return true;
  }
}
