import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The process's Prometheus registry. Counters and the request histogram are process-wide facts,
 * recorded from wherever they happen (a cache lookup, the token endpoint) without dependency
 * injection; the scrape-time gauges are added by `MetricsService` for the running application.
 */
export const metricsRegistry = new Registry();

export const METRIC_PREFIX = 'latchkey_';

let defaultsCollected = false;

/** Process metrics (CPU, memory, event-loop lag, GC): once per process, when metrics are on. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: metricsRegistry, prefix: METRIC_PREFIX });
}

/** One series of a `CounterCells` counter: the hot path adds to `value`, nothing else. */
export interface CounterCell {
  value: number;
}

/**
 * A counter whose label sets are known up front (cache names, grant types). Each series is a
 * plain number the hot path increments (a property write, where prom-client's `inc` hashes
 * the labels on every call); the scrape copies the numbers into the prom-client counter.
 */
export class CounterCells<Label extends string> {
  private readonly cells: { labels: Record<Label, string>; cell: CounterCell }[] = [];

  constructor(name: string, help: string, labelNames: readonly Label[]) {
    const cells = this.cells;
    new Counter<Label>({
      name,
      help,
      labelNames,
      registers: [metricsRegistry],
      collect() {
        this.reset();
        for (const { labels, cell } of cells) this.inc(labels, cell.value);
      },
    });
  }

  /** The series for these labels; call at start-up and keep the result. */
  cell(labels: Record<Label, string>): CounterCell {
    const found = this.cells.find((entry) =>
      Object.entries(labels).every(([name, value]) => entry.labels[name as Label] === value),
    );
    if (found) return found.cell;
    const cell = { value: 0 };
    this.cells.push({ labels: { ...labels }, cell });
    return cell;
  }
}

const cacheRequests = new CounterCells(
  `${METRIC_PREFIX}cache_requests_total`,
  'Lookups in in-memory caches, by cache and result (hit or miss).',
  ['cache', 'result'],
);

/** The hit and miss series of one cache. */
export function cacheCounters(cache: string): { hit: CounterCell; miss: CounterCell } {
  return {
    hit: cacheRequests.cell({ cache, result: 'hit' }),
    miss: cacheRequests.cell({ cache, result: 'miss' }),
  };
}

export const tokensIssued = new CounterCells(
  `${METRIC_PREFIX}tokens_issued_total`,
  'Access tokens issued, by grant type (anonymous for /oauth/anonymous) and client type.',
  ['grant_type', 'client_type'],
);

/**
 * Error answers are off the fast path, and their labels come from closed sets (RFC error codes,
 * endpoint paths, admin error codes), so plain prom-client counters do.
 */
const oauthErrors = new Counter({
  name: `${METRIC_PREFIX}oauth_errors_total`,
  help: 'OAuth error responses (RFC 6749 section 5.2 and authorization errors), by endpoint and error code.',
  labelNames: ['endpoint', 'error'],
  registers: [metricsRegistry],
});

const adminErrors = new Counter({
  name: `${METRIC_PREFIX}admin_errors_total`,
  help: 'Error responses of the admin API, pages and ceremonies, by error code.',
  labelNames: ['code'],
  registers: [metricsRegistry],
});

export function countOAuthError(endpoint: string, error: string): void {
  oauthErrors.inc({ endpoint, error });
}

export function countAdminError(code: string): void {
  adminErrors.inc({ code });
}
