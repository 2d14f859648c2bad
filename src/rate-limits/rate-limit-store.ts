import type { ThrottlerStorage } from '@nestjs/throttler';

/** The throttler's record type, which its package index does not export by name. */
type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** What one counted hit reports; `blockedNow` is true only for the hit that started a block. */
export interface RateLimitRecord extends ThrottlerStorageRecord {
  blockedNow: boolean;
}

/**
 * The counters behind every rate limit and lock: @nestjs/throttler's storage contract, plus a
 * read-only look at running blocks (a lock is checked before the credential, without counting).
 *
 * `increment` counts in fixed windows of `ttl` ms that start at a key's first hit. The hit that
 * takes the count past `limit` blocks the key for `blockDuration` ms (0: to the end of the
 * window); while blocked, hits are refused without being counted.
 */
export interface RateLimitStore extends ThrottlerStorage {
  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<RateLimitRecord>;
  /** Milliseconds until the longest running block of these keys ends; 0 when none is blocked. */
  blockedForMs(keys: readonly string[]): Promise<number>;
}

export const RATE_LIMIT_STORE = Symbol('rate-limit-store');

/** The time rate-limit windows are measured in; its own provider so tests can move it. */
export class RateLimitClock {
  now(): number {
    return Date.now();
  }
}

/** What a store answers when it cannot answer: let the request through (fail open). */
export const NOT_LIMITED: RateLimitRecord = Object.freeze({
  totalHits: 0,
  timeToExpire: 0,
  isBlocked: false,
  timeToBlockExpire: 0,
  blockedNow: false,
});
