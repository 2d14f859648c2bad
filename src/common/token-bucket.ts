/** A token bucket: `ratePerSecond` tokens a second, bursts up to the same number. */
export class TokenBucket {
  private tokens: number;
  private refilledAt = Date.now();

  constructor(private readonly ratePerSecond: number) {
    this.tokens = ratePerSecond;
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(
      this.ratePerSecond,
      this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerSecond,
    );
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
