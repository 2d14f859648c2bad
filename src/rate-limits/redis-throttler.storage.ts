import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { logger } from '../common/logger.js';
import { NOT_LIMITED, type RateLimitRecord, type RateLimitStore } from './rate-limit-store.js';

/**
 * One hit, atomically (the same fixed-window rules as the in-memory store).
 * KEYS[1]: the hit counter, KEYS[2]: the block marker. ARGV: window ms, limit, block ms
 * (0: block to the end of the window). Returns {hits, window ms left, blocked, block ms left,
 * blocked by this hit}.
 */
export const HIT_SCRIPT = `
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 then left = 0 end
  return {hits, left, 1, blocked, 0}
end
local hits = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  left = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], left)
end
if hits > tonumber(ARGV[2]) then
  local block = tonumber(ARGV[3])
  if block <= 0 then block = left end
  redis.call('SET', KEYS[2], '1', 'PX', block)
  return {hits, left, 1, block, 1}
end
return {hits, left, 0, 0, 0}
`;
const HIT_SCRIPT_SHA = createHash('sha1').update(HIT_SCRIPT).digest('hex');

/** At most one "Redis is unavailable" warning per this many ms, however many requests fail. */
const WARN_INTERVAL_MS = 30_000;
/** How long start-up waits for the first connection before serving without it. */
const READY_TIMEOUT_MS = 2_000;

export interface RedisStoreOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
}

/**
 * Counters in Redis, so that limits and locks hold across instances. Each hit is one Lua
 * script (INCR, PEXPIRE and the block marker together), so concurrent instances cannot race.
 * Both keys of a counter share a hash tag, so the script also runs on Redis Cluster.
 *
 * Redis being down or slow must not take the server down with it: every call fails open (the
 * request is let through) after `commandTimeoutMs`, with a warning logged at most every 30 s.
 * Commands are never queued while disconnected, so an outage costs no waiting at all.
 */
export class RedisThrottlerStorage implements RateLimitStore, OnModuleInit, OnApplicationShutdown {
  private readonly redis: Redis;
  private readonly prefix: string;
  private lastWarnedAt = 0;

  constructor(options: RedisStoreOptions) {
    this.prefix = `${options.keyPrefix}rl:`;
    this.redis = new Redis(options.url, {
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
      // Names the connection in CLIENT LIST, for operators sharing one Redis.
      connectionName: `${options.keyPrefix}rate-limits`,
    });
    this.redis.on('error', (err: unknown) => this.warn(err));
  }

  async onModuleInit(): Promise<void> {
    if (this.redis.status === 'ready') return;
    // The first connection attempt decides (or the timeout): an unreachable Redis is not fatal,
    // and reconnecting goes on in the background.
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
      timer.unref();
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
      this.redis.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!connected) {
      logger.warn('Redis is not reachable yet; rate limits are not enforced until it is');
    }
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    _throttlerName: string,
  ): Promise<RateLimitRecord> {
    const tagged = `${this.prefix}{${key}}`;
    try {
      const reply = await this.runHit([`${tagged}:h`, `${tagged}:b`], [ttl, limit, blockDuration]);
      return toRecord(reply);
    } catch (err) {
      this.warn(err);
      return NOT_LIMITED;
    }
  }

  async blockedForMs(keys: readonly string[]): Promise<number> {
    try {
      const left = await Promise.all(
        keys.map((key) => this.redis.pttl(`${this.prefix}{${key}}:b`)),
      );
      return Math.max(0, ...left);
    } catch (err) {
      this.warn(err);
      return 0;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /** EVALSHA, and EVAL once when the server does not know the script yet (or was flushed). */
  private async runHit(keys: string[], args: number[]): Promise<unknown> {
    try {
      return await this.redis.evalsha(HIT_SCRIPT_SHA, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.redis.eval(HIT_SCRIPT, keys.length, ...keys, ...args);
    }
  }

  private warn(err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarnedAt < WARN_INTERVAL_MS) return;
    this.lastWarnedAt = now;
    logger.warn(
      { reason: err instanceof Error ? err.message : String(err) },
      'Redis is unavailable; requests are let through without rate limits',
    );
  }
}

function toRecord(reply: unknown): RateLimitRecord {
  if (!Array.isArray(reply) || reply.length !== 5) throw new Error('unexpected script reply');
  const [hits, left, blocked, blockLeft, blockedNow] = reply.map(Number);
  return {
    totalHits: hits,
    timeToExpire: Math.ceil(left / 1000),
    isBlocked: blocked === 1,
    timeToBlockExpire: Math.ceil(blockLeft / 1000),
    blockedNow: blockedNow === 1,
  };
}
