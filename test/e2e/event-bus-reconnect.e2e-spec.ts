import pg from 'pg';
import { EventBus } from '../../src/database/event-bus.service.js';
import { adminDatabaseUrl, createTestDatabase, dropTestDatabase } from '../utils/database.js';
import { eventually, startTestApp, type TestApp } from '../utils/test-app.js';

/**
 * The LISTEN connection is what keeps a node's caches in step with the others. When PostgreSQL
 * is away for longer than one reconnect attempt, the node must keep trying until it is back,
 * not give up after the first failure.
 */
describe('EventBus: reconnecting after PostgreSQL was away', () => {
  let databaseName = '';
  let a: TestApp;
  let b: TestApp;
  const admin = new pg.Client({ connectionString: adminDatabaseUrl() });

  beforeAll(async () => {
    const database = await createTestDatabase();
    databaseName = database.name;
    a = await startTestApp({ DATABASE_URL: database.url });
    b = await startTestApp({ DATABASE_URL: database.url });
    await admin.connect();
  });

  afterAll(async () => {
    await admin.query(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS true`).catch(() => {});
    await admin.end();
    await a?.close();
    await b?.close();
    await dropTestDatabase(databaseName);
  });

  it('keeps retrying while connections are refused, then delivers again', async () => {
    const received: string[] = [];
    a.app.get(EventBus).subscribe('roles', (data) => received.push(data));

    // No new connections for a while, and the listening ones cut: every reconnect attempt in
    // that window fails.
    await admin.query(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS false`);
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = $1 AND query LIKE 'LISTEN%'`,
      [databaseName],
    );
    await new Promise((resolve) => setTimeout(resolve, 3500));
    await admin.query(`ALTER DATABASE ${databaseName} ALLOW_CONNECTIONS true`);

    // A reconnect flushes every cache ('*'); then a change published on b reaches a again.
    const delivered = await eventually(
      async () => {
        await b.app.get(EventBus).publish('roles', 'after-outage');
        return received.includes('after-outage');
      },
      15_000,
      200,
    );
    expect(delivered).toBe(true);
    expect(received).toContain('*');
  }, 40_000);
});
