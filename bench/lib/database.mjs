// Throw-away PostgreSQL databases for one benchmark run, dropped when it ends.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { cpuMsByPid } from './processes.mjs';
import { ADMIN_URL, log } from './util.mjs';

const NAME = /^latchkey_bench_[0-9a-f]+$/;

/** Databases this process created and has not dropped yet. */
const created = new Set();

export function databaseUrl(name) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withAdminClient(body) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

export async function createDatabase() {
  const name = `latchkey_bench_${randomBytes(6).toString('hex')}`;
  await withAdminClient((client) => client.query(`CREATE DATABASE ${name}`));
  created.add(name);
  return name;
}

export async function dropDatabase(name) {
  if (!created.has(name) || !NAME.test(name)) return;
  await withAdminClient((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  created.delete(name);
  log(`dropped database ${name}`);
}

/** Drops every database still left; reports failures and goes on with the others. */
export async function dropAllDatabases() {
  for (const name of [...created]) {
    try {
      await dropDatabase(name);
    } catch (err) {
      log(`dropping database ${name} failed: ${err.message}`);
    }
  }
}

/**
 * A probe of the CPU the PostgreSQL backends serving database `name` spend (PostgreSQL runs on
 * this machine, loopback only): `start()` then `stop()` gives their CPU ms in between, including
 * backends that connected meanwhile.
 */
export function databaseCpuProbe(name) {
  const backends = () =>
    withAdminClient((client) =>
      client.query('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name]),
    ).then((result) => result.rows.map((row) => row.pid));
  let before = new Map();
  return {
    async start() {
      before = cpuMsByPid(await backends());
    },
    async stop() {
      let total = 0;
      for (const [pid, ms] of cpuMsByPid(await backends())) total += ms - (before.get(pid) ?? 0);
      return total;
    },
  };
}
