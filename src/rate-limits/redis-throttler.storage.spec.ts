import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { setLogger } from '../common/logger.js';
import { NOT_LIMITED } from './rate-limit-store.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

/** These run the Lua script on the local Redis, under a prefix of their own, deleted after. */
const REDIS_URL = 'redis://127.0.0.1:6379';

describe(RedisThrottlerStorage.name, () => {
  const prefix = `latchkey-unit-${randomUUID()}:`;
  let sut: RedisThrottlerStorage;
  let redis: Redis;

  beforeAll(async () => {
    setLogger(pino({ level: 'silent' }));
    sut = new RedisThrottlerStorage({ url: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 1000 });
    await sut.onModuleInit();
    redis = new Redis(REDIS_URL);
  });

  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    await sut.onApplicationShutdown();
  });

  const key = () => randomUUID();

  it('counts hits in a window and blocks the hit past the limit, once', async () => {
    const k = key();
    const hits = [];
    for (let i = 0; i < 5; i++) hits.push(await sut.increment(k, 60_000, 3, 0, 't'));
    expect(hits.map((h) => [h.totalHits, h.isBlocked, h.blockedNow])).toEqual([
      [1, false, false],
      [2, false, false],
      [3, false, false],
      [4, true, true],
      [4, true, false],
    ]);
    expect(hits[0].timeToExpire).toBe(60);
    // With a block duration of 0 the block ends with the window.
    const counter = await redis.pttl(`${prefix}rl:{${k}}:h`);
    const block = await redis.pttl(`${prefix}rl:{${k}}:b`);
    expect(Math.abs(counter - block)).toBeLessThan(50);
  });

  it('holds a block of its own length, reported by blockedForMs, then starts afresh', async () => {
    const k = key();
    await sut.increment(k, 200, 1, 400, 't');
    const locked = await sut.increment(k, 200, 1, 400, 't');
    expect(locked).toMatchObject({ isBlocked: true, blockedNow: true, timeToBlockExpire: 1 });
    const left = await sut.blockedForMs([key(), k]);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(400);
    await sleep(450);
    expect(await sut.blockedForMs([k])).toBe(0);
    expect(await sut.increment(k, 200, 1, 400, 't')).toMatchObject({
      totalHits: 1,
      isBlocked: false,
    });
  });

  it('counts every hit once under concurrency (the script is atomic)', async () => {
    const k = key();
    const results = await Promise.all(
      Array.from({ length: 50 }, () => sut.increment(k, 60_000, 20, 0, 't')),
    );
    expect(results.filter((r) => !r.isBlocked)).toHaveLength(20);
    expect(results.filter((r) => r.blockedNow)).toHaveLength(1);
    expect(await redis.get(`${prefix}rl:{${k}}:h`)).toBe('21');
  });

  it('loads the script again after Redis forgot it', async () => {
    await redis.script('FLUSH');
    expect(await sut.increment(key(), 60_000, 5, 0, 't')).toMatchObject({ totalHits: 1 });
  });

  it('lets everything through when Redis is unreachable', async () => {
    const down = new RedisThrottlerStorage({
      url: 'redis://127.0.0.1:1',
      keyPrefix: prefix,
      commandTimeoutMs: 100,
    });
    try {
      await down.onModuleInit();
      expect(await down.increment('k', 60_000, 0, 0, 't')).toEqual(NOT_LIMITED);
      expect(await down.blockedForMs(['k'])).toBe(0);
    } finally {
      await down.onApplicationShutdown();
    }
  });
});
