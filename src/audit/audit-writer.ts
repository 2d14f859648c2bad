/** One queued audit event, already serialised for the INSERT. */
export interface AuditRow {
  at: string;
  type: string;
  clientId: string | null;
  userId: string | null;
  actorType: string | null;
  actorId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  details: string;
  before: string | null;
  after: string | null;
}

interface WriterLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface AuditWriterOptions {
  flushIntervalMs: number;
  maxBatch: number;
  maxQueue: number;
  /** Writes one batch with a single statement. */
  insert(rows: readonly AuditRow[]): Promise<unknown>;
  log: WriterLog;
}

/** Longest wait between attempts while the database keeps failing. */
const MAX_BACKOFF_MS = 10_000;
/** While events are being dropped, one warning per this interval at most (with the count). */
const DROP_WARNING_INTERVAL_MS = 10_000;

/**
 * An in-memory queue written in batches: when `maxBatch` events are queued, or `flushIntervalMs`
 * after the first unwritten one, whichever comes first. A failed batch is retried once at once;
 * if that fails too it goes back to the head of the queue and the next attempt backs off, so an
 * outage costs neither the events nor a flood of failing statements. The queue is bounded: past
 * `maxQueue` the oldest events are dropped and counted.
 */
export class AuditWriter {
  private queue: AuditRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private dropped = 0;
  private droppedSinceWarning = 0;
  private lastDropWarning = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(private readonly options: AuditWriterOptions) {}

  /** Number of events waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }

  /** Events dropped because the queue was full, since start. */
  get droppedCount(): number {
    return this.dropped;
  }

  enqueue(row: AuditRow): void {
    this.queue.push(row);
    this.trim();
    if (this.closed) {
      void this.flush();
    } else if (
      this.running === undefined &&
      this.failures === 0 &&
      this.queue.length >= this.options.maxBatch
    ) {
      void this.run(false);
    } else {
      // A run in progress writes further full batches itself; the rest waits for the timer.
      this.schedule(this.delay());
    }
  }

  /**
   * Writes everything queued now, one batch per statement. Waits for a run in progress first,
   * so a resolved flush has seen every earlier event.
   */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    if (this.queue.length === 0) return;
    await this.run(true);
  }

  /** Stops the timer and writes everything still queued (application shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    await this.flush();
  }

  /** One run at a time; `all` writes a partial batch too (timer, flush), else full ones only. */
  private run(all: boolean): Promise<void> {
    if (all) this.clearTimer();
    const running = this.drain(all).finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.schedule(this.delay());
    });
    this.running = running;
    return running;
  }

  private async drain(all: boolean): Promise<void> {
    // Events arriving during the run join it only as full batches: no trickle of tiny INSERTs.
    let owed = all ? this.queue.length : 0;
    while (owed > 0 || this.queue.length >= this.options.maxBatch) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      owed -= batch.length;
      const outcome = await this.write(batch);
      if (outcome === 'written') {
        this.failures = 0;
        continue;
      }
      if (outcome === 'rejected') {
        await this.writeEach(batch);
        continue;
      }
      this.failures += 1;
      if (this.closed) {
        this.options.log.error(
          { lost: batch.length + this.queue.length },
          'audit events could not be written before shutdown',
        );
        this.queue = [];
        return;
      }
      this.queue.unshift(...batch);
      this.trim();
      return;
    }
  }

  /**
   * One statement, retried once. Logs the failure, never the rows (they name users and ips).
   * 'rejected' when PostgreSQL refused the data itself: retrying the batch cannot help.
   */
  private async write(batch: AuditRow[]): Promise<'written' | 'failed' | 'rejected'> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      try {
        await this.options.insert(batch);
        return 'written';
      } catch (err) {
        this.options.log.error(
          { err: errorSummary(err), events: batch.length, attempt },
          'could not write audit events',
        );
        if (attempt === 2 && isDataError(err)) return 'rejected';
      }
    }
    return 'failed';
  }

  /** A batch PostgreSQL refused: each event on its own, so one bad event costs only itself. */
  private async writeEach(batch: AuditRow[]): Promise<void> {
    let lost = 0;
    for (const row of batch) {
      try {
        await this.options.insert([row]);
      } catch {
        lost += 1;
      }
    }
    if (lost > 0) this.options.log.error({ lost }, 'audit events refused by the database');
  }

  private trim(): void {
    const excess = this.queue.length - this.options.maxQueue;
    if (excess <= 0) return;
    this.queue.splice(0, excess);
    this.dropped += excess;
    this.droppedSinceWarning += excess;
    // An outage drops an event per request: warn with a count, not once per event.
    const now = Date.now();
    if (now - this.lastDropWarning < DROP_WARNING_INTERVAL_MS) return;
    this.options.log.warn(
      { dropped: this.droppedSinceWarning, droppedTotal: this.dropped },
      'audit queue full: oldest events dropped',
    );
    this.droppedSinceWarning = 0;
    this.lastDropWarning = now;
  }

  private delay(): number {
    if (this.failures === 0) return this.options.flushIntervalMs;
    return Math.min(this.options.flushIntervalMs * 2 ** this.failures, MAX_BACKOFF_MS);
  }

  private schedule(ms: number): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
    // Pending audit writes must not keep a process alive; shutdown flushes them explicitly.
    this.timer.unref();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation). */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** Driver errors can quote the statement's parameters; keep only what identifies the failure. */
function errorSummary(err: unknown): { message: string; code?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
}
