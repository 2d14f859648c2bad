import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { logger } from '../common/logger.js';
import { SKIPPED, withAdvisoryLock } from '../database/advisory-lock.js';
import { returnedRows } from '../database/query-result.js';

const INTERVAL_MS = 60 * 60 * 1000;
const BATCH_SIZE = 1000;
/** pg_try_advisory_lock key of this job: one node at a time runs it. */
const LOCK_KEY = 0x4c6b0002;

/**
 * Deletes audit events older than AUDIT_RETENTION_DAYS (0 keeps them forever), in batches so
 * a large backlog never holds one long transaction, under an advisory lock so only one node
 * works at a time.
 */
@Injectable()
export class AuditRetentionService implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    if (this.config.audit.retentionDays === 0) return;
    this.timer = setInterval(() => void this.runScheduled(), INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * One run: deletes expired events and returns how many. Returns 0 without deleting when
   * retention is off, or when another node (or run) holds the lock.
   */
  async removeExpiredEvents(): Promise<number> {
    const days = this.config.audit.retentionDays;
    if (days === 0) return 0;
    const total = await withAdvisoryLock(this.dataSource, LOCK_KEY, async (runner) => {
      let removed = 0;
      for (;;) {
        const rows = returnedRows<{ id: string }>(
          await runner.query(
            `DELETE FROM audit_events WHERE id IN (
               SELECT id FROM audit_events
               WHERE at < now() - make_interval(days => $1)
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
             RETURNING id`,
            [days, BATCH_SIZE],
          ),
        );
        removed += rows.length;
        if (rows.length < BATCH_SIZE) return removed;
      }
    });
    return total === SKIPPED ? 0 : total;
  }

  private async runScheduled(): Promise<void> {
    try {
      const removed = await this.removeExpiredEvents();
      if (removed > 0) logger.info({ removed }, 'removed expired audit events');
    } catch (err) {
      logger.error({ err }, 'audit retention cleanup failed');
    }
  }
}
