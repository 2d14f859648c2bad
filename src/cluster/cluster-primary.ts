import cluster, { type Worker } from 'node:cluster';
import { logger } from '../common/logger.js';
import { loadConfig } from '../config/app-config.js';
import { serveClusterMetrics } from '../health/cluster-metrics.js';
import { workerExecArgv } from './heap-flags.js';
import { DRAIN_MESSAGE } from './worker-drain.js';

/** The signal that asks the primary for a rolling restart of its workers. */
export const ROLLING_RESTART_SIGNAL = 'SIGUSR2';

/** A new worker must listen within this time, or the rolling restart stops (ms). */
const READY_TIMEOUT_MS = 60_000;
/** A retired worker that has not finished draining by then gets SIGTERM, then SIGKILL (ms). */
const DRAIN_TIMEOUT_MS = 15_000;
const KILL_TIMEOUT_MS = 5_000;
/** Replacing a crashed worker waits this long, doubled for every crash in a row (ms)… */
const RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** …where a worker that ran at least this long ends the row (ms). */
const STABLE_UPTIME_MS = 30_000;

/**
 * The primary of cluster mode: forks `count` workers sharing the port, replaces a worker that
 * dies (with an exponential back-off while new ones keep dying, so a broken start-up does not
 * spin), and on SIGUSR2 replaces every worker one at a time: each new worker listens before the
 * old one is asked to drain (worker-drain.ts), so no request fails during the restart.
 */
export function runPrimary(count: number, env: Record<string, string>): void {
  const startedAt = new Map<number, number>();
  const retiring = new Set<number>();
  let stopping = false;
  let restarting = false;
  let crashesInARow = 0;

  cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
  const fork = (): Worker => {
    const worker = cluster.fork(env);
    startedAt.set(worker.id, Date.now());
    return worker;
  };

  const retire = (worker: Worker): void => {
    retiring.add(worker.id);
    if (!worker.isConnected()) return;
    worker.send(DRAIN_MESSAGE);
    escalate(worker);
  };

  cluster.on('exit', (worker, exitCode, signal) => {
    const uptime = Date.now() - (startedAt.get(worker.id) ?? Date.now());
    startedAt.delete(worker.id);
    if (retiring.delete(worker.id) || stopping) return;
    crashesInARow = uptime >= STABLE_UPTIME_MS ? 1 : crashesInARow + 1;
    const delay = Math.min(RESTART_DELAY_MS * 2 ** (crashesInARow - 1), MAX_RESTART_DELAY_MS);
    // `exitCode`, not `code`: fields named `code` are redacted (authorization codes).
    logger.error(
      { pid: worker.process.pid, exitCode, signal, uptimeMs: uptime, restartInMs: delay },
      'worker exited; starting a new one',
    );
    // Not unref'd: when every worker is gone, this timer is what keeps the primary alive.
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  const rollingRestart = async (): Promise<void> => {
    if (restarting || stopping) return;
    restarting = true;
    const old = Object.values(cluster.workers ?? {}).filter(
      (worker): worker is Worker => worker !== undefined && !retiring.has(worker.id),
    );
    logger.info({ workers: old.length }, 'rolling restart of the workers');
    try {
      for (const worker of old) {
        if (stopping) return;
        const replacement = fork();
        if (!(await listening(replacement))) {
          logger.error(
            { pid: replacement.process.pid },
            'a new worker did not start listening; rolling restart stopped, the others keep running',
          );
          return;
        }
        retire(worker);
      }
      logger.info('rolling restart done');
    } finally {
      restarting = false;
    }
  };

  for (let i = 0; i < count; i++) fork();
  // The configuration was validated by the caller; read here so main.ts need not pass it on.
  const config = loadConfig();
  const metrics = config.metrics.enabled ? serveClusterMetrics(config) : undefined;
  process.on(ROLLING_RESTART_SIGNAL, () => void rollingRestart());
  const stop = (): void => {
    stopping = true;
    metrics?.close();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  logger.info({ workers: count }, 'latchkey cluster started');
}

/** Resolves true once the worker listens, false if it exits or times out first. */
function listening(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      worker.off('listening', onListening);
      worker.off('exit', onExit);
      resolve(ok);
    };
    const onListening = (): void => done(true);
    const onExit = (): void => done(false);
    const timer = setTimeout(() => done(false), READY_TIMEOUT_MS);
    worker.once('listening', onListening);
    worker.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL, for a retired worker that does not finish draining in time. */
function escalate(worker: Worker): void {
  const term = setTimeout(() => {
    logger.warn({ pid: worker.process.pid }, 'worker still draining: sending SIGTERM');
    worker.process.kill('SIGTERM');
    const kill = setTimeout(() => worker.process.kill('SIGKILL'), KILL_TIMEOUT_MS);
    kill.unref();
    worker.once('exit', () => clearTimeout(kill));
  }, DRAIN_TIMEOUT_MS);
  term.unref();
  worker.once('exit', () => clearTimeout(term));
}
