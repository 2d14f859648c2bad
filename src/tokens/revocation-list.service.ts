import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EventBus } from '../database/event-bus.service.js';
import { logger } from '../common/logger.js';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * Revoked access-token ids. Persisted until the token's `exp` and mirrored in memory in every
 * process (NOTIFY), so checking a token needs no database round trip.
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
      const [jti, exp] = data.split(' ');
      if (jti && exp) this.revoked.set(jti, Number(exp));
    });
    await this.load();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  isRevoked(jti: string): boolean {
    return this.revoked.has(jti);
  }

  async revoke(jti: string, exp: number): Promise<void> {
    if (exp * 1000 <= Date.now()) return;
    await this.dataSource.query(
      `INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, to_timestamp($2))
       ON CONFLICT (jti) DO NOTHING`,
      [jti, exp],
    );
    await this.bus.publish('revoked_jti', `${jti} ${exp}`);
  }

  private async load(): Promise<void> {
    const rows = await this.dataSource.query<{ jti: string; exp: string }[]>(
      `SELECT jti, extract(epoch FROM expires_at)::bigint AS exp FROM revoked_jtis WHERE expires_at > now()`,
    );
    this.revoked = new Map(rows.map((row) => [row.jti, Number(row.exp)]));
  }

  /** Forgets expired entries in memory and deletes them from the table. */
  private async sweep(): Promise<void> {
    const now = Date.now() / 1000;
    for (const [jti, exp] of this.revoked) if (exp < now) this.revoked.delete(jti);
    try {
      await this.dataSource.query(
        `DELETE FROM revoked_jtis WHERE jti IN (
           SELECT jti FROM revoked_jtis WHERE expires_at < now() LIMIT 1000)`,
      );
    } catch (err) {
      logger.warn({ err }, 'revocation sweep failed');
    }
  }
}
