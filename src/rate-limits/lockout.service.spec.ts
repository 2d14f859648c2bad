import type { AppConfig } from '../config/app-config.js';
import { LockoutService } from './lockout.service.js';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
import { RateLimitClock } from './rate-limit-store.js';

describe(LockoutService.name, () => {
  let now: number;
  let store: MemoryThrottlerStorage;
  let sut: LockoutService;

  beforeEach(() => {
    now = 5_000_000;
    const clock = new RateLimitClock();
    clock.now = () => now;
    store = new MemoryThrottlerStorage(clock);
    const config = { bruteForce: { maxDelayMs: 0 } } as AppConfig;
    sut = new LockoutService(config, store);
  });

  afterEach(() => store.onApplicationShutdown());

  it('locks a counter at its threshold, reports it once, and for the lock period', async () => {
    const narrow = { key: 'narrow', maxFailures: 2 };
    const wide = { key: 'wide', maxFailures: 4 };
    expect(await sut.fail([narrow, wide], 60)).toBeNull();
    expect(await sut.lockedForSeconds([narrow, wide])).toBe(0);
    expect(await sut.fail([narrow, wide], 60)).toBe(narrow);
    expect(await sut.lockedForSeconds([narrow, wide])).toBe(60);
    expect(await sut.lockedForSeconds([wide])).toBe(0);

    now += 30_000;
    expect(await sut.lockedForSeconds([narrow])).toBe(30);
    now += 30_000;
    expect(await sut.lockedForSeconds([narrow])).toBe(0);
  });

  it('grows the delay from the second failure, doubling, up to the bound', () => {
    const bounded = new LockoutService({ bruteForce: { maxDelayMs: 500 } } as AppConfig, store);
    expect([1, 2, 3, 4, 5, 40].map((n) => bounded.delayAfter(n))).toEqual([
      0, 100, 200, 400, 500, 500,
    ]);
    expect(sut.delayAfter(10)).toBe(0);
  });
});
