import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { logger } from '../common/logger.js';
import { EventBus } from '../database/event-bus.service.js';
import { SKIPPED, withAdvisoryLock } from '../database/advisory-lock.js';
import { returnedRows } from '../database/query-result.js';

const INTERVAL_MS = 60 * 60 * 1000;
const BATCH_SIZE = 500;
/** pg_try_advisory_lock key of this job: one node at a time runs it. */
const LOCK_KEY = 0x4c6b0001;

/**
 * Deletes self-registered (`dcr`) and metadata-document (`cimd`) clients nobody has used for
 * STALE_CLIENT_DAYS. Open registration lets anyone create clients; without this the table only
 * grows. Admin-created clients are never touched.
 */
@Injectable()
export class RegistrationCleanupService implements OnModuleInit, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly bus: EventBus,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.runScheduled(), INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /**
   * One run: deletes stale clients in batches and returns how many. Returns 0 without deleting
   * when another node (or run) holds the lock.
   */
  async removeStaleClients(): Promise<number> {
    const total = await withAdvisoryLock(this.dataSource, LOCK_KEY, async (runner) => {
      let removed = 0;
      for (;;) {
        const rows = returnedRows<{ id: string; source: string }>(
          await runner.query(
            `DELETE FROM clients WHERE id IN (
               SELECT id FROM clients
               WHERE source IN ('dcr', 'cimd')
                 AND COALESCE(last_used_at, created_at) < now() - make_interval(days => $1)
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
             RETURNING id, source`,
            [this.config.registration.staleClientDays, BATCH_SIZE],
          ),
        );
        for (const row of rows) {
          await this.bus.publish('clients', row.id);
          this.audit.record({
            type: 'client.stale_removed',
            clientId: row.id,
            details: {
              source: row.source,
              stale_client_days: this.config.registration.staleClientDays,
            },
          });
        }
        removed += rows.length;
        if (rows.length < BATCH_SIZE) return removed;
      }
    });
    return total === SKIPPED ? 0 : total;
  }

  private async runScheduled(): Promise<void> {
    try {
      const removed = await this.removeStaleClients();
      if (removed > 0) logger.info({ removed }, 'removed stale clients');
    } catch (err) {
      logger.error({ err }, 'stale client cleanup failed');
    }
  }
}
