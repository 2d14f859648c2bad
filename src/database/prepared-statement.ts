import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { returnedRows } from './query-result.js';

/**
 * One SQL statement that PostgreSQL parses and plans once per connection instead of on every
 * execution: a named prepared statement (the extended query protocol's Parse, kept by name).
 *
 * A hot statement sent as plain text is parsed, analysed and planned each time. For the refresh
 * rotation (one statement of several CTEs) that planning cost more PostgreSQL CPU than running
 * it. Once a named statement has run a few times, PostgreSQL settles on a generic plan and only
 * binds and executes. Plans are invalidated by PostgreSQL itself when a migration changes a
 * table they use.
 *
 * Named statements belong to a connection, so a pooler in front of PostgreSQL must keep
 * sessions (docs/operations.md asks for session pooling already, for LISTEN and advisory locks).
 */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

const defined = new Map<string, string>();

/**
 * Declares a prepared statement. Names are unique per process: the server keeps one statement
 * per name on each connection, so one name with two texts would fail at the second.
 */
export function preparedStatement(name: string, text: string): PreparedStatement {
  const known = defined.get(name);
  if (known !== undefined && known !== text) {
    throw new Error(`prepared statement ${name} is already defined with another text`);
  }
  defined.set(name, text);
  return { name, text };
}

/**
 * Runs the statement and returns its rows (RETURNING rows for writes). On PostgreSQL it goes
 * straight to the connection pool, by name; the embedded database, which has no such pool, gets
 * the text through TypeORM.
 */
export async function queryPrepared<T>(
  dataSource: DataSource,
  statement: PreparedStatement,
  values: unknown[],
): Promise<T[]> {
  const pool = poolOf(dataSource);
  if (pool === null) return returnedRows<T>(await dataSource.query(statement.text, values));
  const result = await pool.query({ name: statement.name, text: statement.text, values });
  return result.rows as T[];
}

/** The pg pool under TypeORM's PostgreSQL driver; null for any other driver (PGlite). */
function poolOf(dataSource: DataSource): Pool | null {
  if (dataSource.options.type !== 'postgres' || dataSource.options.driver !== undefined) {
    return null;
  }
  const master = (dataSource.driver as { master?: Pool }).master;
  return master ?? null;
}
