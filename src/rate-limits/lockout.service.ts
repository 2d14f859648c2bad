import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppConfig } from '../config/app-config.js';
import { RATE_LIMIT_STORE, type RateLimitStore } from './rate-limit-store.js';

/** One failure counter: a key and the failures it takes to lock it. */
export interface FailureCounter {
  key: string;
  maxFailures: number;
}

/** Failures up to this many add no delay: a typo or one stale secret costs nothing. */
const FREE_FAILURES = 1;
const BASE_DELAY_MS = 100;

/**
 * Brute-force protection (RFC 9700 §4.8 asks the AS to limit guessing of credentials): each
 * failed attempt counts on several counters, answers after a delay that doubles with every
 * failure (bounded by BRUTE_FORCE_MAX_DELAY_MS), and a counter that reaches its threshold
 * locks for the lock period. Failures are counted over that same period, in the shared store,
 * so a lock holds across instances when Redis is configured.
 */
@Injectable()
export class LockoutService {
  constructor(
    private readonly config: AppConfig,
    @Inject(RATE_LIMIT_STORE) private readonly store: RateLimitStore,
  ) {}

  /** Seconds until every running lock of these counters has ended; 0 when none is locked. */
  async lockedForSeconds(counters: readonly FailureCounter[]): Promise<number> {
    const ms = await this.store.blockedForMs(counters.map((counter) => counter.key));
    return ms <= 0 ? 0 : Math.ceil(ms / 1000);
  }

  /**
   * Counts one failure on every counter, then waits the slow-down delay. Returns the counter
   * that this failure locked (the caller audits it), or null.
   */
  async fail(
    counters: readonly FailureCounter[],
    lockSeconds: number,
  ): Promise<FailureCounter | null> {
    const lockMs = lockSeconds * 1000;
    const records = await Promise.all(
      counters.map((counter) =>
        // The hit that takes the count past maxFailures - 1 is the maxFailures-th failure.
        this.store.increment(counter.key, lockMs, counter.maxFailures - 1, lockMs, 'lockout'),
      ),
    );
    const lockedIndex = records.findIndex((record) => record.blockedNow);
    const failures = Math.max(...records.map((record) => record.totalHits));
    const delay = this.delayAfter(failures);
    if (delay > 0) await sleep(delay);
    return lockedIndex === -1 ? null : counters[lockedIndex];
  }

  /** 0 for the first failures, then 100 ms doubling, up to the configured bound. */
  delayAfter(failures: number): number {
    if (failures <= FREE_FAILURES) return 0;
    const doublings = Math.min(failures - FREE_FAILURES - 1, 16);
    return Math.min(this.config.bruteForce.maxDelayMs, BASE_DELAY_MS * 2 ** doublings);
  }
}
