import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import cluster from 'node:cluster';
import { Counter, Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { logger } from '../common/logger.js';
import { AppConfig } from '../config/app-config.js';
import { answerPrimaryScrapes } from './cluster-metrics.js';
import { METRIC_PREFIX, collectProcessMetrics, metricsRegistry } from './metrics-registry.js';
import { enableRequestMetrics } from './request-metrics.js';

/** What node-postgres's Pool reports about itself (TypeORM types its pool as `any`). */
interface PoolStats {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options?: { max?: number };
}

/** One running application, read at scrape time. Tests run several in one process: they add up. */
interface ScrapeSource {
  pool: PoolStats | null;
  audit: AuditService;
}

const sources = new Set<ScrapeSource>();

function sum(read: (source: ScrapeSource) => number | undefined): number {
  let total = 0;
  for (const source of sources) total += read(source) ?? 0;
  return total;
}

/** A gauge whose value is computed when scraped: nothing is kept up to date in between. */
function scrapeGauge(name: string, help: string, read: () => number): void {
  if (metricsRegistry.getSingleMetric(name)) return;
  new Gauge({
    name,
    help,
    registers: [metricsRegistry],
    collect() {
      this.set(read());
    },
  });
}

function registerAuditMetrics(): void {
  scrapeGauge(
    `${METRIC_PREFIX}audit_queue_events`,
    'Audit events queued in memory and not yet written to the database.',
    () => sum((source) => source.audit.pending),
  );
  const dropped = `${METRIC_PREFIX}audit_dropped_events_total`;
  if (metricsRegistry.getSingleMetric(dropped)) return;
  new Counter({
    name: dropped,
    help: 'Audit events dropped because the queue was full (the database was down too long).',
    registers: [metricsRegistry],
    collect() {
      this.reset();
      this.inc(sum((source) => source.audit.dropped));
    },
  });
}

/** PostgreSQL only: the embedded database has no pool, and its gauges would only say 0. */
function registerPoolMetrics(): void {
  const pool = (read: (stats: PoolStats) => number | undefined) => () =>
    sum((source) => (source.pool === null ? 0 : read(source.pool)));
  scrapeGauge(
    `${METRIC_PREFIX}db_pool_connections`,
    'Connections the PostgreSQL pool holds, busy or idle.',
    pool((stats) => stats.totalCount),
  );
  scrapeGauge(
    `${METRIC_PREFIX}db_pool_idle_connections`,
    'Connections of the PostgreSQL pool that are idle.',
    pool((stats) => stats.idleCount),
  );
  scrapeGauge(
    `${METRIC_PREFIX}db_pool_waiting_requests`,
    'Queries waiting for a connection of the PostgreSQL pool.',
    pool((stats) => stats.waitingCount),
  );
  scrapeGauge(
    `${METRIC_PREFIX}db_pool_max_connections`,
    'Largest number of connections the PostgreSQL pool opens.',
    pool((stats) => stats.options?.max),
  );
}

/**
 * Owns what /metrics reports about this application: turns request timing on, adds the
 * scrape-time gauges (pool, audit backlog) and, in a cluster worker, answers the primary's
 * requests for this worker's metrics.
 */
@Injectable()
export class MetricsService implements OnModuleInit, OnApplicationShutdown {
  private source: ScrapeSource | undefined;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    if (!this.config.metrics.enabled) return;
    collectProcessMetrics();
    enableRequestMetrics(true);
    registerAuditMetrics();
    if (!this.config.embedded) registerPoolMetrics();
    this.source = { pool: this.config.embedded ? null : this.pool(), audit: this.audit };
    sources.add(this.source);
    if (cluster.isWorker) answerPrimaryScrapes();
    if (this.config.metrics.token === null && this.config.env === 'production') {
      logger.warn('METRICS_TOKEN is not set: /metrics is readable by anyone who can reach it');
    }
  }

  onApplicationShutdown(): void {
    if (this.source) sources.delete(this.source);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() };
  }

  private pool(): PoolStats | null {
    const master: unknown = (this.dataSource.driver as { master?: unknown }).master;
    return typeof master === 'object' && master !== null && 'totalCount' in master
      ? (master as PoolStats)
      : null;
  }
}
