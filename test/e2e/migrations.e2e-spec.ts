import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import {
  dataSourceOptions,
  openDataSource,
  runMigrations,
} from '../../src/database/data-source.js';
import { MIGRATIONS } from '../../src/database/migrations.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';

/** Every object a migration may create in the public schema, except TypeORM's own bookkeeping. */
const SCHEMA_SQL = `
  SELECT 'column' AS kind, c.table_name || '.' || c.column_name AS name,
         c.data_type || ' ' || c.is_nullable || ' ' || coalesce(c.column_default, '') AS detail
  FROM information_schema.columns c
  WHERE c.table_schema = 'public' AND c.table_name <> 'migrations'
  UNION ALL
  SELECT 'index', indexname, indexdef FROM pg_indexes
  WHERE schemaname = 'public' AND tablename <> 'migrations'
  UNION ALL
  SELECT 'constraint', con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con
  LEFT JOIN pg_class rel ON rel.oid = con.conrelid
  WHERE con.connamespace = 'public'::regnamespace AND coalesce(rel.relname, '') <> 'migrations'
  UNION ALL
  SELECT 'relation', relname, relkind::text FROM pg_class
  WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v', 'm', 'S', 'p')
    AND relname NOT IN ('migrations', 'migrations_id_seq')
  UNION ALL
  SELECT 'type', typname, typtype::text FROM pg_type
  WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd', 'r')
  UNION ALL
  SELECT 'function', proname, pg_get_function_identity_arguments(oid) FROM pg_proc
  WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trigger', tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL
  SELECT 'extension', extname, '' FROM pg_extension WHERE extname <> 'plpgsql'
  ORDER BY 1, 2, 3`;

type Schema = { kind: string; name: string; detail: string }[];

const FOUNDATION_TABLES = ['clients', 'signing_keys', 'revoked_jtis'];
const MIGRATION_NAMES = MIGRATIONS.map((migration) => new migration().name);

async function schemaOf(ds: DataSource): Promise<Schema> {
  return ds.query<Schema>(SCHEMA_SQL);
}

async function tablesOf(ds: DataSource): Promise<string[]> {
  const rows = await ds.query<{ table_name: string }[]>(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return rows.map((row) => row.table_name);
}

async function appliedOf(ds: DataSource): Promise<string[]> {
  const rows = await ds.query<{ name: string }[]>(`SELECT name FROM migrations ORDER BY id`);
  return rows.map((row) => row.name);
}

/** Undoes migrations one by one; returns the schema after each step, newest first. */
async function undoAll(ds: DataSource): Promise<Schema[]> {
  const steps: Schema[] = [];
  for (let i = 0; i < MIGRATIONS.length + 1 && (await appliedOf(ds)).length > 0; i++) {
    await ds.undoLastMigration();
    steps.push(await schemaOf(ds));
  }
  return steps;
}

describe('migrations on PostgreSQL', () => {
  let database: { name: string; url: string };
  let config: AppConfig;

  beforeAll(async () => {
    database = await createTestDatabase();
    config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' });
  }, 60_000);

  afterAll(async () => {
    await dropTestDatabase(database.name);
  }, 60_000);

  it('runs every migration up, down, and up again, each down undoing exactly its up', async () => {
    // The schema after the first k migrations, built by running them up one at a time.
    const upTo: Schema[] = [];
    const empty = await openDataSource(config);
    try {
      upTo.push(await schemaOf(empty));
      expect(await tablesOf(empty)).toEqual([]);
    } finally {
      await empty.destroy();
    }
    for (let k = 1; k <= MIGRATIONS.length; k++) {
      const partial = await new DataSource({
        ...dataSourceOptions(config),
        migrations: MIGRATIONS.slice(0, k),
      }).initialize();
      try {
        expect(await runMigrations(partial)).toEqual([MIGRATION_NAMES[k - 1]]);
        upTo.push(await schemaOf(partial));
      } finally {
        await partial.destroy();
      }
    }

    const ds = await openDataSource(config);
    try {
      expect(await runMigrations(ds)).toEqual([]);
      expect(await appliedOf(ds)).toEqual(MIGRATION_NAMES);
      expect(await tablesOf(ds)).toEqual(expect.arrayContaining(FOUNDATION_TABLES));
      expect(await schemaOf(ds)).toEqual(upTo[MIGRATIONS.length]);

      const afterEachDown = await undoAll(ds);

      expect(afterEachDown).toHaveLength(MIGRATIONS.length);
      afterEachDown.forEach((schema, step) => {
        expect({ undone: MIGRATION_NAMES[MIGRATIONS.length - 1 - step], schema }).toEqual({
          undone: MIGRATION_NAMES[MIGRATIONS.length - 1 - step],
          schema: upTo[MIGRATIONS.length - 1 - step],
        });
      });
      expect(await appliedOf(ds)).toEqual([]);
      expect(await tablesOf(ds)).toEqual(['migrations']);
      expect(await schemaOf(ds)).toEqual([]);

      expect(await runMigrations(ds)).toEqual(MIGRATION_NAMES);
      expect(await appliedOf(ds)).toEqual(MIGRATION_NAMES);
      expect(await schemaOf(ds)).toEqual(upTo[MIGRATIONS.length]);
    } finally {
      await ds.destroy();
    }
  }, 60_000);

  it('creates the foundation tables with their named constraints and indexes', async () => {
    const fresh = await createTestDatabase();
    const ds = await openDataSource(loadConfig({ DATABASE_URL: fresh.url, LOG_LEVEL: 'silent' }));
    try {
      await runMigrations(ds);
      const names = (await schemaOf(ds))
        .filter((row) => row.kind === 'constraint' || row.kind === 'index')
        .map((row) => row.name);

      expect(names).toEqual(
        expect.arrayContaining([
          'pk_clients',
          'ck_clients_type',
          'ck_clients_secret',
          'ix_clients_created_at',
          'pk_signing_keys',
          'ux_signing_keys_active_use',
          'pk_revoked_jtis',
          'ix_revoked_jtis_expires_at',
        ]),
      );
    } finally {
      await ds.destroy();
      await dropTestDatabase(fresh.name);
    }
  }, 60_000);

  it('lets concurrent runners apply each migration once', async () => {
    const fresh = await createTestDatabase();
    const freshConfig = loadConfig({ DATABASE_URL: fresh.url, LOG_LEVEL: 'silent' });
    const sources = await Promise.all([openDataSource(freshConfig), openDataSource(freshConfig)]);
    try {
      const applied = await Promise.all(sources.map((ds) => runMigrations(ds)));

      expect(applied.flat().sort()).toEqual([...MIGRATION_NAMES].sort());
      expect(await appliedOf(sources[0])).toEqual(MIGRATION_NAMES);
    } finally {
      await Promise.all(sources.map((ds) => ds.destroy()));
      await dropTestDatabase(fresh.name);
    }
  }, 60_000);
});

describe('migrations on the embedded database (PGlite)', () => {
  let dataDir: string;

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'latchkey-migrations-'));
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs every migration up, down, and up again', async () => {
    const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    expect(config.embedded).toBe(true);
    const ds = await openDataSource(config);
    try {
      expect(await runMigrations(ds)).toEqual(MIGRATION_NAMES);
      const schema = await schemaOf(ds);
      expect(await tablesOf(ds)).toEqual(expect.arrayContaining(FOUNDATION_TABLES));

      expect(await undoAll(ds)).toHaveLength(MIGRATIONS.length);
      expect(await tablesOf(ds)).toEqual(['migrations']);
      expect(await schemaOf(ds)).toEqual([]);

      expect(await runMigrations(ds)).toEqual(MIGRATION_NAMES);
      expect(await schemaOf(ds)).toEqual(schema);
    } finally {
      await ds.destroy();
    }
  }, 90_000);
});
