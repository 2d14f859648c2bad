import { Global, Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AppConfig } from '../config/app-config.js';
import { LockoutService } from './lockout.service.js';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
import { RATE_LIMIT_STORE, RateLimitClock, type RateLimitStore } from './rate-limit-store.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimiter } from './rate-limiter.service.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

function createStore(config: AppConfig, clock: RateLimitClock): RateLimitStore {
  if (config.redisUrl === null) return new MemoryThrottlerStorage(clock);
  return new RedisThrottlerStorage({
    url: config.redisUrl,
    keyPrefix: config.rateLimits.redisKeyPrefix,
    commandTimeoutMs: config.rateLimits.redisCommandTimeoutMs,
  });
}

/**
 * Rate limits and brute-force locks. Global, like the configuration, because the hot protocol
 * endpoints, client authentication, passkeys and the guarded controllers of several modules all
 * count in the one store, and `RateLimitGuard` must resolve in any module.
 */
@Global()
@Module({
  imports: [AuditModule],
  providers: [
    RateLimitClock,
    { provide: RATE_LIMIT_STORE, useFactory: createStore, inject: [AppConfig, RateLimitClock] },
    RateLimiter,
    LockoutService,
    RateLimitGuard,
  ],
  exports: [RateLimitClock, RATE_LIMIT_STORE, RateLimiter, LockoutService, RateLimitGuard],
})
export class RateLimitsModule {}
