// Plain JavaScript: Jest loads global setup outside its module transform.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export function adminDatabaseUrl() {
  return process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

/**
 * One fresh PostgreSQL database per run. The e2e workers inherit its URL and a master key
 * through the environment; the first app to boot migrates it (under an advisory lock).
 */
export default async function globalSetup() {
  // Several jest projects (e2e, browser) share one database: create it once.
  if (process.env.LATCHKEY_TEST_DATABASE) return;
  const name = `latchkey_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  process.env.LATCHKEY_TEST_DATABASE = name;
  process.env.DATABASE_URL = url.toString();
  process.env.MASTER_KEY = randomBytes(32).toString('hex');
}
