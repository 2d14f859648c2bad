import { mkdirSync } from 'node:fs';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { PGliteDriver } from 'typeorm-pglite';
import type { AppConfig } from '../config/app-config.js';
import { MIGRATIONS } from './migrations.js';

/** TypeORM options for PostgreSQL (DATABASE_URL) or embedded PGlite (DATA_DIR). */
export function dataSourceOptions(config: AppConfig): DataSourceOptions {
  const base = {
    type: 'postgres' as const,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    // Ids default to the built-in gen_random_uuid() in the migrations; PGlite has neither
    // uuid-ossp nor pgcrypto, so TypeORM must not try to install them.
    installExtensions: false,
  };
  if (config.database.url !== null) {
    return { ...base, url: config.database.url, extra: { max: 10, application_name: 'latchkey' } };
  }
  mkdirSync(config.database.dataDir, { recursive: true });
  return { ...base, driver: new PGliteDriver({ dataDir: `${config.database.dataDir}/pg` }).driver };
}

/** Opens a data source for the CLI and tests, outside of Nest. */
export async function openDataSource(config: AppConfig): Promise<DataSource> {
  return new DataSource(dataSourceOptions(config)).initialize();
}

/** Runs pending migrations, serialised across processes on PostgreSQL by an advisory lock. */
export async function runMigrations(ds: DataSource): Promise<string[]> {
  // PGlite is single-process; on PostgreSQL the lock is held on one dedicated connection.
  const runner = ds.options.driver === undefined ? ds.createQueryRunner() : null;
  await runner?.query('SELECT pg_advisory_lock(7401001)');
  try {
    const done = await ds.runMigrations({ transaction: 'each' });
    return done.map((m) => m.name);
  } finally {
    await runner?.query('SELECT pg_advisory_unlock(7401001)');
    await runner?.release();
  }
}
