import { Histogram } from 'prom-client';
import type { RawRequest } from '../common/http.js';
import { ROUTES } from '../common/routes.js';
import { METRIC_PREFIX, metricsRegistry } from './metrics-registry.js';

type RequestLabel = 'route' | 'method' | 'status_class';
type RequestLabels = Record<RequestLabel, string>;

const requestDuration = new Histogram<RequestLabel>({
  name: `${METRIC_PREFIX}http_request_duration_seconds`,
  help: 'Time from receiving a request to finishing its response, by route pattern, method and status class.',
  labelNames: ['route', 'method', 'status_class'],
  // An authorization server answers in milliseconds; the upper buckets catch stalls.
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
});

/** Any route that matched no known pattern (404s, static files): never the raw path. */
export const OTHER_ROUTE = 'other';
/** RFC 7592: the path carries the client id, which must not become a label value. */
const REGISTRATION_MANAGEMENT_ROUTE = `${ROUTES.register}/:client_id`;
const REGISTRATION_PREFIX = `${ROUTES.register}/`;
const PROTOCOL_ROUTES: ReadonlySet<string> = new Set(Object.values(ROUTES));
const METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);
const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

let enabled = false;

/** Switched on once by `MetricsService` when METRICS_ENABLED; off, requests pay nothing. */
export function enableRequestMetrics(on: boolean): void {
  enabled = on;
}

export function requestMetricsEnabled(): boolean {
  return enabled;
}

/**
 * The bounded route label of a finished request: the protocol endpoint's path, the pattern of
 * the Nest route that served it (`/admin/clients/:id`, `/setup/:token`), or `other`. Never the
 * raw URL: paths carry ids and one-time tokens, and every distinct value is a new series.
 */
export function routeLabel(req: RawRequest, path: string): string {
  if (PROTOCOL_ROUTES.has(path)) return path;
  const pattern = (req as { route?: { path?: unknown } }).route?.path;
  if (typeof pattern === 'string') return pattern;
  if (path.startsWith(REGISTRATION_PREFIX)) return REGISTRATION_MANAGEMENT_ROUTE;
  return OTHER_ROUTE;
}

/** route → method → status class → the labels object, so the hot path allocates nothing. */
const labelCache = new Map<string, Map<string, RequestLabels[]>>();

function labelsFor(route: string, method: string, statusClass: number): RequestLabels {
  let byMethod = labelCache.get(route);
  if (byMethod === undefined) {
    byMethod = new Map();
    labelCache.set(route, byMethod);
  }
  let byStatus = byMethod.get(method);
  if (byStatus === undefined) {
    byStatus = [];
    byMethod.set(method, byStatus);
  }
  return (byStatus[statusClass] ??= {
    route,
    method,
    status_class: STATUS_CLASSES[statusClass],
  });
}

/**
 * Records one finished request. `route` must come from a closed set (see `routeLabel`); the
 * method is folded to the standard ones, so an odd method cannot mint series either.
 */
export function observeRequest(
  route: string,
  method: string | undefined,
  status: number,
  seconds: number,
): void {
  const knownMethod = method !== undefined && METHODS.has(method) ? method : OTHER_ROUTE;
  const statusClass = status >= 100 && status < 600 ? Math.floor(status / 100) : 5;
  requestDuration.observe(labelsFor(route, knownMethod, statusClass), seconds);
}
