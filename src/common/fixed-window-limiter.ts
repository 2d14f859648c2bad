/**
 * A fixed-window counter per key, in this process's memory. Counters of a past window are
 * dropped wholesale when the next one starts, so memory stays bounded by one window's callers.
 * Shared counters across instances come with the Redis-backed throttler.
 */
export class FixedWindowLimiter {
  private window = -1;
  private counts = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one hit; returns the seconds until the window ends when over the limit, else 0. */
  hit(key: string, now = Date.now()): number {
    const window = Math.floor(now / this.windowMs);
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count <= this.limit) return 0;
    return Math.max(1, Math.ceil(((window + 1) * this.windowMs - now) / 1000));
  }
}
