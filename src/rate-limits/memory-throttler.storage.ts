import type { OnApplicationShutdown } from '@nestjs/common';
import type { RateLimitClock, RateLimitRecord, RateLimitStore } from './rate-limit-store.js';

interface Counter {
  hits: number;
  /** When the current window ends, epoch ms. */
  windowEndsAt: number;
  /** When the running block ends, epoch ms; 0 when not blocked. */
  blockedUntil: number;
}

const SWEEP_INTERVAL_MS = 60_000;

/**
 * Counters in this process's memory, for a single instance (or when no Redis is configured).
 * One Map lookup per hit and a counter mutated in place: this sits on the token hot path.
 * (The throttler package's own storage keeps one timestamp per hit, which costs O(limit) per
 * request at high limits.) A timer drops finished windows, so memory stays bounded by the
 * keys seen within one window or lock period.
 */
export class MemoryThrottlerStorage implements RateLimitStore, OnApplicationShutdown {
  private readonly counters = new Map<string, Counter>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(private readonly clock: RateLimitClock) {
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    _throttlerName: string,
  ): Promise<RateLimitRecord> {
    return Promise.resolve(this.hit(key, ttl, limit, blockDuration));
  }

  /** The synchronous core of `increment`. */
  hit(key: string, ttl: number, limit: number, blockDuration: number): RateLimitRecord {
    const now = this.clock.now();
    let counter = this.counters.get(key);
    if (counter !== undefined && counter.blockedUntil > now) {
      return {
        totalHits: counter.hits,
        timeToExpire: seconds(counter.windowEndsAt - now),
        isBlocked: true,
        timeToBlockExpire: seconds(counter.blockedUntil - now),
        blockedNow: false,
      };
    }
    if (counter === undefined) {
      counter = { hits: 0, windowEndsAt: now + ttl, blockedUntil: 0 };
      this.counters.set(key, counter);
    } else if (counter.windowEndsAt <= now) {
      counter.hits = 0;
      counter.windowEndsAt = now + ttl;
      counter.blockedUntil = 0;
    }
    counter.hits += 1;
    const timeToExpire = seconds(counter.windowEndsAt - now);
    if (counter.hits <= limit) {
      return {
        totalHits: counter.hits,
        timeToExpire,
        isBlocked: false,
        timeToBlockExpire: 0,
        blockedNow: false,
      };
    }
    counter.blockedUntil = blockDuration > 0 ? now + blockDuration : counter.windowEndsAt;
    return {
      totalHits: counter.hits,
      timeToExpire,
      isBlocked: true,
      timeToBlockExpire: seconds(counter.blockedUntil - now),
      blockedNow: true,
    };
  }

  blockedForMs(keys: readonly string[]): Promise<number> {
    const now = this.clock.now();
    let longest = 0;
    for (const key of keys) {
      const blockedUntil = this.counters.get(key)?.blockedUntil ?? 0;
      if (blockedUntil - now > longest) longest = blockedUntil - now;
    }
    return Promise.resolve(longest);
  }

  /** Drops counters whose window and block are both over. */
  sweep(): void {
    const now = this.clock.now();
    for (const [key, counter] of this.counters) {
      if (counter.windowEndsAt <= now && counter.blockedUntil <= now) this.counters.delete(key);
    }
  }

  get size(): number {
    return this.counters.size;
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweepTimer);
  }
}

/** Whole seconds, rounded up, never below 1 for a time still running (Retry-After). */
function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}
