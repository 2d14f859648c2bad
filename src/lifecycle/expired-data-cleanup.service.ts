import { Injectable, type BeforeApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, type QueryRunner } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { logger } from '../common/logger.js';
import { SKIPPED, withAdvisoryLock } from '../database/advisory-lock.js';
import { returnedRows } from '../database/query-result.js';
import { CLEANED, EXPIRY_RULES, type Cleaned, type ExpiryRule } from './expiry-rules.js';

/** Rows one batch statement deletes at most: a few milliseconds of work and row locks. */
export const CLEANUP_BATCH_SIZE = 1000;
/** Pause between two full batches, in ms, so the hot path's queries get the database too. */
const BATCH_PAUSE_MS = 20;
/** Batches of one rule in one run at most; a larger backlog is left for the next run. */
const MAX_BATCHES_PER_RULE = 500;
/** pg_try_advisory_lock key of this job: one node at a time runs it. */
export const CLEANUP_LOCK_KEY = 0x4c6b0003;

export type CleanupCounts = Record<Cleaned, number>;

export type CleanupResult =
  /** Another run holds the lock, on this node or another one; nothing was deleted. */
  { status: 'skipped' } | { status: 'done'; removed: CleanupCounts };

/**
 * Deletes codes, tokens, sessions, challenges and links that can no longer be used
 * (expiry-rules.ts says which, and why each is safe), every CLEANUP_INTERVAL_SECONDS. Each
 * batch is one short statement of its own, under a session-level advisory lock held on one
 * dedicated connection, so exactly one node works at a time and no long transaction or table
 * lock ever touches the hot tables.
 */
@Injectable()
export class ExpiredDataCleanupService implements OnModuleInit, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<CleanupResult> | null = null;
  private stopping = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {}

  onModuleInit(): void {
    const seconds = this.config.cleanup.intervalSeconds;
    if (seconds === 0) return;
    this.timer = setInterval(() => void this.runScheduled(), seconds * 1000);
    this.timer.unref();
  }

  /** Stops between two batches and waits for that, before the connections close. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * One run over every rule, returning how many rows each table lost. `skipped` when a run is
   * already going in this process or another node holds the lock.
   */
  async removeExpired(): Promise<CleanupResult> {
    // Advisory locks are re-entrant within one database session, and the embedded database
    // has only one: two runs in one process are kept apart here instead.
    if (this.running !== null) return { status: 'skipped' };
    this.running = this.lockedRun();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  private async lockedRun(): Promise<CleanupResult> {
    const removed = await withAdvisoryLock(this.dataSource, CLEANUP_LOCK_KEY, async (runner) => {
      const counts = Object.fromEntries(CLEANED.map((name) => [name, 0])) as CleanupCounts;
      for (const rule of EXPIRY_RULES) await this.apply(runner, rule, counts);
      return counts;
    });
    return removed === SKIPPED ? { status: 'skipped' } : { status: 'done', removed };
  }

  /** Runs one rule batch by batch until a batch comes back short (or the run must stop). */
  private async apply(
    runner: QueryRunner,
    rule: ExpiryRule,
    removed: CleanupCounts,
  ): Promise<void> {
    const params = [CLEANUP_BATCH_SIZE, ...rule.params(this.config)];
    for (let batch = 0; batch < MAX_BATCHES_PER_RULE && !this.stopping; batch++) {
      const [row] = returnedRows<Record<string, number>>(await runner.query(rule.sql, params));
      for (const name of CLEANED) removed[name] += row[name] ?? 0;
      if (row.examined < CLEANUP_BATCH_SIZE) return;
      await sleep(BATCH_PAUSE_MS);
    }
  }

  private async runScheduled(): Promise<void> {
    try {
      const result = await this.removeExpired();
      if (result.status === 'skipped') {
        logger.debug('expired-data cleanup skipped: another run holds the lock');
        return;
      }
      const total = CLEANED.reduce((sum, name) => sum + result.removed[name], 0);
      if (total > 0) logger.info({ removed: result.removed }, 'removed expired data');
      else logger.debug('expired-data cleanup found nothing to remove');
    } catch (err) {
      logger.error({ err }, 'expired-data cleanup failed');
    }
  }
}
