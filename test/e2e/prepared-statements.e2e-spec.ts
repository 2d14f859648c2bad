import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';
import { preparedStatement, queryPrepared } from '../../src/database/prepared-statement.js';

/**
 * Hot statements run as named prepared statements (src/database/prepared-statement.ts): parsed
 * and planned once per connection, then only bound and executed.
 */
describe('prepared statements', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    // One connection, so the statement's server-side state can be read back on it.
    dataSource = await new DataSource({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      extra: { max: 1 },
    }).initialize();
    await dataSource.query(`CREATE TEMP TABLE IF NOT EXISTS prepared_probe (id int, n int)`);
  });

  afterAll(async () => {
    await dataSource.destroy();
  });

  it('are parsed once and then reused by name on the connection', async () => {
    const name = `probe_${randomUUID().replaceAll('-', '')}`;
    const statement = preparedStatement(name, `SELECT $1::int + 1 AS next`);
    for (let i = 0; i < 10; i++) {
      expect(await queryPrepared(dataSource, statement, [i])).toEqual([{ next: i + 1 }]);
    }
    const rows = await dataSource.query<{ statement: string; runs: number }[]>(
      `SELECT statement, (generic_plans + custom_plans)::int AS runs
       FROM pg_prepared_statements WHERE name = $1`,
      [name],
    );
    expect(rows).toEqual([{ statement: `SELECT $1::int + 1 AS next`, runs: 10 }]);
  });

  it('return the rows of a write with RETURNING, and none without', async () => {
    const insert = preparedStatement(
      `probe_insert_${randomUUID().replaceAll('-', '')}`,
      `INSERT INTO prepared_probe (id, n) VALUES ($1, 0)`,
    );
    const bump = preparedStatement(
      `probe_bump_${randomUUID().replaceAll('-', '')}`,
      `UPDATE prepared_probe SET n = n + 1 WHERE id = $1 RETURNING n`,
    );
    expect(await queryPrepared(dataSource, insert, [7])).toEqual([]);
    expect(await queryPrepared(dataSource, bump, [7])).toEqual([{ n: 1 }]);
    expect(await queryPrepared(dataSource, bump, [8])).toEqual([]);
  });

  it('refuse a second text under a name already defined', () => {
    const name = `probe_${randomUUID().replaceAll('-', '')}`;
    preparedStatement(name, 'SELECT 1');
    expect(preparedStatement(name, 'SELECT 1')).toEqual({ name, text: 'SELECT 1' });
    expect(() => preparedStatement(name, 'SELECT 2')).toThrow(
      `prepared statement ${name} is already defined with another text`,
    );
  });
});

describe('prepared statements on the embedded database', () => {
  let dataSource: DataSource;

  beforeAll(async () => {
    // PGlite has no connection pool: the statement's text goes through TypeORM.
    dataSource = await new DataSource({
      type: 'postgres',
      driver: new PGliteDriver({}).driver,
    }).initialize();
    await dataSource.query(`CREATE TABLE prepared_probe (id int, n int)`);
  });

  afterAll(async () => {
    await dataSource.destroy();
  });

  it('return the same rows as on PostgreSQL', async () => {
    const suffix = randomUUID().replaceAll('-', '');
    const insert = preparedStatement(
      `embedded_insert_${suffix}`,
      `INSERT INTO prepared_probe (id, n) VALUES ($1, 0)`,
    );
    const bump = preparedStatement(
      `embedded_bump_${suffix}`,
      `UPDATE prepared_probe SET n = n + 1 WHERE id = $1 RETURNING n`,
    );
    const read = preparedStatement(
      `embedded_read_${suffix}`,
      `SELECT id, n FROM prepared_probe WHERE id = $1`,
    );
    expect(await queryPrepared(dataSource, insert, [7])).toEqual([]);
    expect(await queryPrepared(dataSource, bump, [7])).toEqual([{ n: 1 }]);
    expect(await queryPrepared(dataSource, bump, [8])).toEqual([]);
    expect(await queryPrepared(dataSource, read, [7])).toEqual([{ id: 7, n: 1 }]);
  });
});
