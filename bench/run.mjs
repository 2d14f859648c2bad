// Load test of the hot paths, on loopback only: token issuance (client_credentials),
// introspection, discovery and JWKS. It creates its own PostgreSQL database, runs the built
// server as a child process, and removes both when it ends, also on error or CTRL-C.
//
//   npm run bench
//
// Settings (environment): BENCH_SECONDS (10), BENCH_CONNECTIONS (64), BENCH_WARMUP_SECONDS (2),
// BENCH_WORKERS (1; passed to the server as WORKERS), TEST_DATABASE_ADMIN_URL
// (postgres://postgres@127.0.0.1:5432/postgres).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createDatabase, databaseUrl, dropAllDatabases } from './lib/database.mjs';
import { cli, createServiceClient, serverArgs, serverEnv, token } from './lib/latchkey.mjs';
import { scenario as measure, stopAllLoad } from './lib/load.mjs';
import { freePort, startServer, stopAllServers, waitUntilReady } from './lib/processes.mjs';
import { HOST, basic, log, positiveInt } from './lib/util.mjs';

const SECONDS = positiveInt('BENCH_SECONDS', 10);
const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 64);
const WARMUP_SECONDS = positiveInt('BENCH_WARMUP_SECONDS', 2);
const WORKERS = process.env.BENCH_WORKERS ?? '1';

let cleaning = null;

function scenario(name, options, serverPid) {
  return measure(name, options, serverPid, {
    seconds: SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    connections: CONNECTIONS,
  });
}

function table(rows) {
  const lines = [
    '| scenario | req/s | p50 ms | p99 ms | non-2xx | errors | server CPU ms/req | peak worker RSS MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.name} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} | ${r.cpuMsPerRequest.toFixed(3)} | ${(r.peakRss / 2 ** 20).toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const name = await createDatabase();
  log(`created database ${name}`);
  const port = await freePort();
  const baseUrl = `http://${HOST}:${port}`;
  const env = serverEnv({
    DATABASE_URL: databaseUrl(name),
    MASTER_KEY: randomBytes(32).toString('hex'),
    PORT: String(port),
    HOST,
    ISSUER: baseUrl,
    WORKERS,
    // One address, one client, tens of thousands of requests a minute: limits far above that,
    // but switched on, so every measured request still pays for its rate-limit checks.
    RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
    RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '1000000',
  });

  await cli(env, ['migrate']);
  // The bootstrap output holds the admin secret: parse it, never print it.
  const admin = JSON.parse((await cli(env, ['bootstrap', '--json'])).trim());
  if (!admin.client_secret) throw new Error('bootstrap returned no admin secret');

  const server = startServer(serverArgs(), env);
  log(`server pid ${server.pid} on ${baseUrl}, WORKERS=${WORKERS}`);
  await waitUntilReady(`${baseUrl}/health/ready`, server);

  const adminToken = await token(baseUrl, admin, {
    grant_type: 'client_credentials',
    scope: 'admin',
    resource: `${baseUrl}/admin`,
  });
  const service = await createServiceClient(baseUrl, adminToken);
  const serviceAuth = basic(service.client_id, service.client_secret);
  const accessToken = await token(baseUrl, service, {
    grant_type: 'client_credentials',
    scope: 'reports:read',
  });
  const form = { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: serviceAuth };

  const pid = server.pid;
  const rows = [];
  rows.push(
    await scenario(
      'token (client_credentials)',
      {
        url: `${baseUrl}/oauth/token`,
        method: 'POST',
        headers: form,
        body: 'grant_type=client_credentials&scope=reports%3Aread',
      },
      pid,
    ),
  );
  rows.push(
    await scenario(
      'introspect (JWT)',
      {
        url: `${baseUrl}/oauth/introspect`,
        method: 'POST',
        headers: form,
        body: new URLSearchParams({ token: accessToken }).toString(),
      },
      pid,
    ),
  );
  rows.push(
    await scenario('discovery', { url: `${baseUrl}/.well-known/openid-configuration` }, pid),
  );
  rows.push(await scenario('JWKS', { url: `${baseUrl}/.well-known/jwks.json` }, pid));

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      '',
      table(rows),
      '',
      `Machine: ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}, ${os.type()} ${os.release()}`,
      `Run: ${new Date().toISOString()}, ${SECONDS} s per scenario after ${WARMUP_SECONDS} s warm-up, ` +
        `${CONNECTIONS} connections, WORKERS=${WORKERS}, PostgreSQL on loopback. ` +
        'Load generator and server share the machine; server CPU is utime+stime of the server process tree; ' +
        'RSS is the largest VmRSS of a serving process, sampled every 250 ms over warm-up and run.',
      '',
    ].join('\n'),
  );
  return rows.some((r) => r.completed === 0) ? 1 : 0;
}

function cleanup() {
  cleaning ??= (async () => {
    stopAllLoad();
    await stopAllServers();
    await dropAllDatabases();
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  log(`failed: ${err.message}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
