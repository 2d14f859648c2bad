import cluster, { type Worker } from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { logger } from '../common/logger.js';
import type { AppConfig } from '../config/app-config.js';
import { presentsToken } from './metrics-access.guard.js';
import { metricsRegistry } from './metrics-registry.js';

type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

const REQUEST = 'latchkey:metrics-request';
const REPLY = 'latchkey:metrics-reply';
/** A worker that has not answered by then fails the scrape rather than vanish from the sum. */
const REPLY_TIMEOUT_MS = 3_000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}

interface MetricsReply {
  type: typeof REPLY;
  id: number;
  metrics?: WorkerMetrics;
  error?: string;
}

function isReply(message: unknown): message is MetricsReply {
  return (message as { type?: unknown } | null)?.type === REPLY;
}

/**
 * Cluster mode: the workers share one port, so a scrape of /metrics there reaches one worker
 * at random, and its counters would jump between the workers' values. The primary serves
 * `GET /metrics` on METRICS_PORT instead: it asks every worker that is listening for its
 * registry over the cluster IPC channel and answers the sum (prom-client's aggregation:
 * counters, histograms and most gauges add up). Workers still booting are not asked, so a
 * rolling restart does not stall scrapes; a worker's counts leave the sum when it exits, which
 * Prometheus reads as a counter reset.
 */
export function serveClusterMetrics(config: AppConfig): Server {
  const collect = clusterCollector();
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics' || req.method !== 'GET') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const token = config.metrics.token;
    if (token !== null && !presentsToken(req.headers, token)) {
      res
        .writeHead(401, {
          'Content-Type': 'text/plain',
          'WWW-Authenticate': 'Bearer realm="metrics"',
        })
        .end('a valid metrics token is required\n');
      return;
    }
    collect().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(body);
      },
      (err: unknown) => {
        logger.error({ err }, 'could not collect metrics from the workers');
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  server.on('error', (err) => logger.error({ err }, 'the cluster metrics server failed'));
  server.listen(config.metrics.clusterPort, config.http.host);
  return server;
}

/** In the primary: asks the listening workers for their metrics and sums them. */
function clusterCollector(): () => Promise<{ contentType: string; body: string }> {
  const listening = new Set<Worker>();
  const pending = new Map<string, (reply: MetricsReply) => void>();
  let next = 0;
  cluster.on('listening', (worker) => listening.add(worker));
  cluster.on('exit', (worker) => listening.delete(worker));
  cluster.on('message', (worker, message: unknown) => {
    if (isReply(message)) pending.get(`${worker.id}:${message.id}`)?.(message);
  });

  const ask = (worker: Worker, id: number): Promise<WorkerMetrics> =>
    new Promise((resolve, reject) => {
      const key = `${worker.id}:${id}`;
      const timer = setTimeout(() => {
        pending.delete(key);
        reject(new Error(`worker ${worker.process.pid} did not send its metrics`));
      }, REPLY_TIMEOUT_MS);
      pending.set(key, (reply) => {
        clearTimeout(timer);
        pending.delete(key);
        if (reply.metrics) resolve(reply.metrics);
        else reject(new Error(reply.error ?? 'no metrics'));
      });
      worker.send({ type: REQUEST, id } satisfies MetricsRequest);
    });

  return async () => {
    const id = ++next;
    const workers = [...listening].filter((worker) => worker.isConnected());
    const replies = await Promise.all(workers.map((worker) => ask(worker, id)));
    const sum = AggregatorRegistry.aggregate(replies);
    return { contentType: sum.contentType, body: await sum.metrics() };
  };
}

let answering = false;

/** In a worker: answer the primary's requests with this process's registry. */
export function answerPrimaryScrapes(): void {
  if (answering) return;
  answering = true;
  process.on('message', (message: unknown) => {
    const request = message as Partial<MetricsRequest> | null;
    if (request?.type !== REQUEST || typeof request.id !== 'number') return;
    const id = request.id;
    metricsRegistry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: REPLY, id, metrics } satisfies MetricsReply),
      (err: unknown) =>
        process.send?.({ type: REPLY, id, error: String(err) } satisfies MetricsReply),
    );
  });
}
