import { jest } from '@jest/globals';
import { AuditWriter, type AuditRow, type AuditWriterOptions } from './audit-writer.js';

function row(n: number): AuditRow {
  return {
    at: new Date(0).toISOString(),
    type: `test.event_${n}`,
    clientId: null,
    userId: null,
    actorType: null,
    actorId: null,
    ip: null,
    userAgent: null,
    requestId: null,
    details: '{}',
    before: null,
    after: null,
  };
}

interface Harness {
  writer: AuditWriter;
  /** Every batch passed to insert, failed attempts included. */
  attempts: AuditRow[][];
  /** Batches that were written. */
  written: AuditRow[][];
  errors: object[];
  warnings: object[];
  /** Makes the next n inserts fail. */
  failNext(n: number): void;
  /** Makes every insert holding this row fail as PostgreSQL refusing its data would. */
  poison(row: AuditRow): void;
}

function harness(options: Partial<AuditWriterOptions> = {}): Harness {
  const attempts: AuditRow[][] = [];
  const written: AuditRow[][] = [];
  const errors: object[] = [];
  const warnings: object[] = [];
  let failures = 0;
  let poison: AuditRow | null = null;
  const writer = new AuditWriter({
    flushIntervalMs: 200,
    maxBatch: 3,
    maxQueue: 10,
    insert: (rows) => {
      attempts.push([...rows]);
      if (poison !== null && rows.includes(poison)) {
        return Promise.reject(Object.assign(new Error('value too long'), { code: '23514' }));
      }
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new Error('connection refused'));
      }
      written.push([...rows]);
      return Promise.resolve();
    },
    log: {
      warn: (obj) => warnings.push(obj),
      error: (obj) => errors.push(obj),
    },
    ...options,
  });
  return {
    writer,
    attempts,
    written,
    errors,
    warnings,
    failNext: (n) => {
      failures = n;
    },
    poison: (bad) => {
      poison = bad;
    },
  };
}

/** Lets the promise chains started by timers or enqueue run to completion. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('AuditWriter', () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('writes nothing until the interval passes, then one batch', async () => {
    const sut = harness();
    sut.writer.enqueue(row(1));
    sut.writer.enqueue(row(2));
    await settle();
    expect(sut.attempts).toHaveLength(0);

    jest.advanceTimersByTime(199);
    await settle();
    expect(sut.attempts).toHaveLength(0);

    jest.advanceTimersByTime(1);
    await settle();
    expect(sut.written).toEqual([[row(1), row(2)]]);
    expect(sut.writer.pending).toBe(0);
  });

  it('flushes at once when a full batch is queued, and leaves the rest to the timer', async () => {
    const sut = harness();
    for (let n = 1; n <= 4; n++) sut.writer.enqueue(row(n));
    await settle();
    expect(sut.written).toEqual([[row(1), row(2), row(3)]]);
    jest.advanceTimersByTime(200);
    await settle();
    expect(sut.written).toEqual([[row(1), row(2), row(3)], [row(4)]]);
  });

  it('keeps batching full while a slow statement runs: one run, no trickle', async () => {
    const releases: (() => void)[] = [];
    const batches: number[] = [];
    const writer = new AuditWriter({
      flushIntervalMs: 200,
      maxBatch: 100,
      maxQueue: 10_000,
      insert: (rows) => {
        batches.push(rows.length);
        return new Promise<void>((resolve) => releases.push(resolve));
      },
      log: { warn: () => undefined, error: () => undefined },
    });
    for (let n = 0; n < 250; n++) writer.enqueue(row(n));
    await settle();
    expect(batches).toEqual([100]);
    releases.shift()?.();
    await settle();
    expect(batches).toEqual([100, 100]);
    releases.shift()?.();
    await settle();
    // The last 50 are not a full batch: they wait for the timer.
    expect(batches).toEqual([100, 100]);
    jest.advanceTimersByTime(200);
    await settle();
    expect(batches).toEqual([100, 100, 50]);
    releases.shift()?.();
    await settle();
    expect(writer.pending).toBe(0);
  });

  it('writes everything still queued on close, and later events at once', async () => {
    const sut = harness();
    sut.writer.enqueue(row(1));
    sut.writer.enqueue(row(2));
    await sut.writer.close();
    expect(sut.written).toEqual([[row(1), row(2)]]);

    // After close (shutdown hooks of other modules) an event is not left to a timer.
    sut.writer.enqueue(row(3));
    await settle();
    expect(sut.written).toEqual([[row(1), row(2)], [row(3)]]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('retries a failed batch once at once, logging the failure without the rows', async () => {
    const sut = harness();
    sut.failNext(1);
    sut.writer.enqueue(row(1));
    await sut.writer.flush();
    expect(sut.attempts).toEqual([[row(1)], [row(1)]]);
    expect(sut.written).toEqual([[row(1)]]);
    expect(sut.errors).toEqual([{ err: { message: 'connection refused' }, events: 1, attempt: 1 }]);
  });

  it('keeps a batch that failed twice and writes it on a later attempt', async () => {
    const sut = harness();
    sut.failNext(2);
    sut.writer.enqueue(row(1));
    await sut.writer.flush();
    expect(sut.written).toEqual([]);
    expect(sut.writer.pending).toBe(1);

    // Backed off: not at the normal interval, but later.
    jest.advanceTimersByTime(200);
    await settle();
    expect(sut.attempts).toHaveLength(2);
    jest.advanceTimersByTime(200);
    await settle();
    expect(sut.written).toEqual([[row(1)]]);
    expect(sut.writer.pending).toBe(0);
  });

  it('drops the oldest events with a counted warning when the queue is full', async () => {
    const sut = harness({ maxBatch: 100, maxQueue: 3 });
    for (let n = 1; n <= 5; n++) sut.writer.enqueue(row(n));
    expect(sut.writer.pending).toBe(3);
    expect(sut.writer.droppedCount).toBe(2);
    // One warning per interval, counting what was dropped since the last one.
    expect(sut.warnings).toEqual([{ dropped: 1, droppedTotal: 1 }]);
    jest.advanceTimersByTime(10_000);
    await settle();
    expect(sut.written).toEqual([[row(3), row(4), row(5)]]);
    for (let n = 6; n <= 9; n++) sut.writer.enqueue(row(n));
    expect(sut.warnings).toEqual([
      { dropped: 1, droppedTotal: 1 },
      { dropped: 2, droppedTotal: 3 },
    ]);
    await sut.writer.flush();
    expect(sut.written).toEqual([
      [row(3), row(4), row(5)],
      [row(7), row(8), row(9)],
    ]);
  });

  it('writes the other events of a batch the database refused, one by one', async () => {
    const sut = harness();
    const bad = row(2);
    sut.poison(bad);
    sut.writer.enqueue(row(1));
    sut.writer.enqueue(bad);
    sut.writer.enqueue(row(3));
    await sut.writer.flush();
    expect(sut.written).toEqual([[row(1)], [row(3)]]);
    expect(sut.writer.pending).toBe(0);
    expect(sut.errors.at(-1)).toEqual({ lost: 1 });
  });

  it('gives up on close after the retry, and says how many events were lost', async () => {
    const sut = harness();
    sut.writer.enqueue(row(1));
    sut.writer.enqueue(row(2));
    sut.failNext(2);
    await sut.writer.close();
    expect(sut.written).toEqual([]);
    expect(sut.errors.at(-1)).toEqual({ lost: 2 });
    expect(sut.writer.pending).toBe(0);
  });

  it('lets concurrent flushes share the run in progress', async () => {
    const sut = harness();
    sut.writer.enqueue(row(1));
    const first = sut.writer.flush();
    sut.writer.enqueue(row(2));
    await Promise.all([first, sut.writer.flush()]);
    expect(sut.written.flat()).toEqual([row(1), row(2)]);
  });
});
