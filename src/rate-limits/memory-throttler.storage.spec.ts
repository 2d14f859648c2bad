import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
import { RateLimitClock } from './rate-limit-store.js';

describe(MemoryThrottlerStorage.name, () => {
  let now: number;
  let sut: MemoryThrottlerStorage;

  beforeEach(() => {
    now = 1_000_000;
    const clock = new RateLimitClock();
    clock.now = () => now;
    sut = new MemoryThrottlerStorage(clock);
  });

  afterEach(() => sut.onApplicationShutdown());

  it('counts hits in a window and blocks the hit past the limit, once', async () => {
    const hits = [];
    for (let i = 0; i < 4; i++) hits.push(await sut.increment('k', 60_000, 3, 0, 't'));
    expect(hits.map((h) => [h.totalHits, h.isBlocked, h.blockedNow])).toEqual([
      [1, false, false],
      [2, false, false],
      [3, false, false],
      [4, true, true],
    ]);
    // While blocked, hits are refused and not counted; only the first one started the block.
    now += 10_000;
    const refused = await sut.increment('k', 60_000, 3, 0, 't');
    expect(refused).toEqual({
      totalHits: 4,
      timeToExpire: 50,
      isBlocked: true,
      timeToBlockExpire: 50,
      blockedNow: false,
    });
  });

  it('blocks to the end of the window when the block duration is 0, then starts afresh', async () => {
    for (let i = 0; i < 3; i++) await sut.increment('k', 60_000, 2, 0, 't');
    now += 59_999;
    expect((await sut.increment('k', 60_000, 2, 0, 't')).isBlocked).toBe(true);
    now += 1;
    expect(await sut.increment('k', 60_000, 2, 0, 't')).toMatchObject({
      totalHits: 1,
      isBlocked: false,
      timeToExpire: 60,
    });
  });

  it('holds a longer block past the window, and reports it to blockedForMs', async () => {
    for (let i = 0; i < 2; i++) await sut.increment('lock', 1_000, 1, 30_000, 't');
    expect(await sut.blockedForMs(['other', 'lock'])).toBe(30_000);
    now += 5_000;
    expect(await sut.increment('lock', 1_000, 1, 30_000, 't')).toMatchObject({
      isBlocked: true,
      timeToBlockExpire: 25,
    });
    expect(await sut.blockedForMs(['lock'])).toBe(25_000);
    now += 25_000;
    expect(await sut.blockedForMs(['lock'])).toBe(0);
    expect(await sut.increment('lock', 1_000, 1, 30_000, 't')).toMatchObject({
      totalHits: 1,
      isBlocked: false,
    });
  });

  it('keeps keys apart', async () => {
    await sut.increment('a', 60_000, 1, 0, 't');
    expect((await sut.increment('a', 60_000, 1, 0, 't')).isBlocked).toBe(true);
    expect((await sut.increment('b', 60_000, 1, 0, 't')).isBlocked).toBe(false);
    expect(await sut.blockedForMs(['b'])).toBe(0);
  });

  it('sweeps counters whose window and block are over, and only those', async () => {
    await sut.increment('short', 1_000, 5, 0, 't');
    await sut.increment('long', 120_000, 5, 0, 't');
    await sut.increment('locked', 1_000, 0, 300_000, 't');
    now += 60_000;
    sut.sweep();
    expect(sut.size).toBe(2);
    expect(await sut.blockedForMs(['locked'])).toBe(240_000);
  });
});
