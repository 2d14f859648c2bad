import pg from 'pg';
import { adminDatabaseUrl } from './global-setup.mjs';

export default async function globalTeardown() {
  const name = process.env.LATCHKEY_TEST_DATABASE;
  if (!name || !/^latchkey_test_[0-9a-f]+$/.test(name)) return;
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
