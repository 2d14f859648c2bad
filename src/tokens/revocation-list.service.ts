import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EventBus } from '../database/event-bus.service.js';
import { logger } from '../common/logger.js';
import { cacheCounters } from '../health/metrics-registry.js';

const SWEEP_INTERVAL_MS = 60_000;
/**
 * How long past its `exp` a revoked jti is still remembered, in seconds. Verification accepts a
 * token up to its clock tolerance (5 s) past `exp`, so forgetting a revocation at `exp` exactly
 * would let a revoked token through for those seconds.
 */
export const REVOCATION_RETAIN_SECONDS = 60;
/** `jti exp` lines per notification: well under PostgreSQL's 8000-byte NOTIFY payload limit. */
const NOTIFY_BATCH = 100;
/** The whole list is in memory: a hit is a revoked token presented, a miss a live one. */
const lookups = cacheCounters('revocation_list');

/**
 * Revoked access-token ids. Persisted until the token's `exp` (plus REVOCATION_RETAIN_SECONDS)
 * and mirrored in memory in every process (NOTIFY), so checking a token needs no database round
 * trip. The expired-data cleanup job (src/lifecycle/) deletes rows past that, on one node.
 */
@Injectable()
export class RevocationListService implements OnModuleInit, OnApplicationShutdown {
  /** jti → exp, in seconds since the epoch. */
  private revoked = new Map<string, number>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: EventBus,
  ) {}

  async onModuleInit(): Promise<void> {
    this.bus.subscribe('revoked_jti', (data) => {
      if (data === '*') {
        void this.load().catch((err: unknown) => logger.error({ err }, 'revocation reload failed'));
        return;
      }
      // One notification may carry several `jti exp` lines (revokeMany).
      for (const line of data.split('\n')) {
        const [jti, exp] = line.split(' ');
        if (jti && exp) this.revoked.set(jti, Number(exp));
      }
    });
    await this.load();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  isRevoked(jti: string): boolean {
    const revoked = this.revoked.has(jti);
    if (revoked) lookups.hit.value++;
    else lookups.miss.value++;
    return revoked;
  }

  async revoke(jti: string, exp: number): Promise<void> {
    await this.revokeMany([{ jti, exp }]);
  }

  /**
   * Revokes many tokens with one INSERT and as few notifications as fit (NOTIFY payloads are
   * limited to 8000 bytes): revoking a token family can touch every access token it issued.
   */
  async revokeMany(entries: readonly { jti: string; exp: number }[]): Promise<void> {
    const now = Date.now() / 1000;
    const live = entries.filter((entry) => entry.exp + REVOCATION_RETAIN_SECONDS > now);
    if (live.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO revoked_jtis (jti, expires_at)
       SELECT jti, to_timestamp(exp) FROM unnest($1::text[], $2::bigint[]) AS t(jti, exp)
       ON CONFLICT (jti) DO NOTHING`,
      [live.map((entry) => entry.jti), live.map((entry) => entry.exp)],
    );
    for (let i = 0; i < live.length; i += NOTIFY_BATCH) {
      const lines = live.slice(i, i + NOTIFY_BATCH).map((entry) => `${entry.jti} ${entry.exp}`);
      await this.bus.publish('revoked_jti', lines.join('\n'));
    }
  }

  private async load(): Promise<void> {
    const rows = await this.dataSource.query<{ jti: string; exp: string }[]>(
      `SELECT jti, extract(epoch FROM expires_at)::bigint AS exp
       FROM revoked_jtis WHERE expires_at > now() - make_interval(secs => $1)`,
      [REVOCATION_RETAIN_SECONDS],
    );
    // Merge rather than replace: a revocation notified while the query ran may be missing from
    // its rows, and revocations are never undone (the sweep drops them once expired).
    for (const row of rows) this.revoked.set(row.jti, Number(row.exp));
  }

  /**
   * Forgets entries no verifier would accept any more, in memory only: the table's rows are
   * deleted by the cleanup job, once for the cluster rather than by every process.
   */
  private sweep(): void {
    const now = Date.now() / 1000;
    for (const [jti, exp] of this.revoked) {
      if (exp + REVOCATION_RETAIN_SECONDS < now) this.revoked.delete(jti);
    }
  }
}
