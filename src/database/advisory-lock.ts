import type { DataSource, QueryRunner } from 'typeorm';
import { returnedRows } from './query-result.js';

/** What `withAdvisoryLock` answers when another session holds the lock. */
export const SKIPPED = Symbol('skipped');

/**
 * Runs `body` on one dedicated connection while holding the session-level advisory lock `key`,
 * so that one node (or run) at a time does a scheduled job. Resolves to `SKIPPED` without
 * running it when another session holds the lock. Each statement of `body` commits on its own:
 * the lock, not a transaction, keeps runs apart.
 */
export async function withAdvisoryLock<T>(
  dataSource: DataSource,
  key: number,
  body: (runner: QueryRunner) => Promise<T>,
): Promise<T | typeof SKIPPED> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const [lock] = returnedRows<{ locked: boolean }>(
      await runner.query(`SELECT pg_try_advisory_lock($1) AS locked`, [key]),
    );
    if (!lock.locked) return SKIPPED;
    try {
      return await body(runner);
    } finally {
      await runner.query(`SELECT pg_advisory_unlock($1)`, [key]);
    }
  } finally {
    await runner.release();
  }
}
