// Throughput at scale: the hot paths on an empty database and on one seeded with 100k clients,
// 100k users and 1M refresh tokens (bench/seed.mjs), side by side, with the difference in %, and
// the peak resident memory of the server's workers under load. Loopback only; every database and
// server is created for the run and removed when it ends, also on error or CTRL-C.
//
//   npm run bench:scale
//
// Both databases are set up the same way, and their servers are loaded in alternation, scenario
// by scenario, so that a noisy neighbour on a shared machine does not fall on one side only.
//
// Scenarios: client_credentials with one client (cached after its first use), client_credentials
// rotating over more clients than the client cache holds (every lookup misses and reads the
// clients table), introspection of a JWT access token (no database), introspection of a refresh
// token (one indexed read of refresh_tokens), refresh_token rotation (one conditional UPDATE
// plus INSERT), discovery and JWKS.
//
// Settings (environment): BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (64),
// BENCH_ROUNDS (1; the median is reported), BENCH_WORKERS (1; the servers' WORKERS),
// BENCH_COLD_CLIENTS (2000) and BENCH_CLIENT_CACHE_SIZE (500; the servers' CLIENT_CACHE_SIZE),
// BENCH_REFRESH_POOL_RATE (4000 tokens per second of a run), BENCH_ONLY (run only the
// scenarios whose name contains one of these comma-separated words), SEED_CLIENTS, SEED_USERS,
// SEED_REFRESH_TOKENS (see bench/seed.mjs), TEST_DATABASE_ADMIN_URL.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { createDatabase, databaseUrl, dropAllDatabases } from './lib/database.mjs';
import {
  cli,
  createClient,
  createServiceClient,
  serverArgs,
  serverEnv,
  token,
} from './lib/latchkey.mjs';
import { scenario, stopAllLoad, stopCurrentRun } from './lib/load.mjs';
import { freePort, startServer, stopAllServers, waitUntilReady } from './lib/processes.mjs';
import { HOST, basic, log, positiveInt } from './lib/util.mjs';
import { seedDatabase, seedSizes } from './seed.mjs';

const SETTINGS = {
  seconds: positiveInt('BENCH_SECONDS', 10),
  warmupSeconds: positiveInt('BENCH_WARMUP_SECONDS', 2),
  connections: positiveInt('BENCH_CONNECTIONS', 64),
};
const ROUNDS = positiveInt('BENCH_ROUNDS', 1);
const WORKERS = process.env.BENCH_WORKERS ?? '1';
const COLD_CLIENTS = positiveInt('BENCH_COLD_CLIENTS', 2000);
const CLIENT_CACHE_SIZE = positiveInt('BENCH_CLIENT_CACHE_SIZE', 500);
const REFRESH_POOL_RATE = positiveInt('BENCH_REFRESH_POOL_RATE', 4000);
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null;
const FORM = 'application/x-www-form-urlencoded';
const REDIRECT_URI = 'https://app.example.com/callback';
const MB = 1024 * 1024;

const pools = [];
let cleaning = null;

// ---------------------------------------------------------------------------------------------
// Set-up of one side

async function startSide(label, { seeded }) {
  const name = await createDatabase();
  log(`${label}: created database ${name}`);
  const port = await freePort();
  const baseUrl = `http://${HOST}:${port}`;
  const url = databaseUrl(name);
  const env = serverEnv({
    DATABASE_URL: url,
    MASTER_KEY: randomBytes(32).toString('hex'),
    PORT: String(port),
    HOST,
    ISSUER: baseUrl,
    WORKERS,
    CLIENT_CACHE_SIZE: String(CLIENT_CACHE_SIZE),
    // Limits far above the load, but switched on, so every request pays for its checks.
    RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
    RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '1000000',
  });
  await cli(env, ['migrate']);
  if (seeded) {
    const sizes = seedSizes();
    log(
      `${label}: seeding ${sizes.clients} clients, ${sizes.users} users, ` +
        `${sizes.refreshTokens} refresh tokens`,
    );
    const started = performance.now();
    const result = await seedDatabase(url, sizes, (m) => log(`${label}: seed: ${m}`));
    log(
      `${label}: seeded in ${((performance.now() - started) / 1000).toFixed(0)} s: ` +
        JSON.stringify(result.counts),
    );
  }
  // The bootstrap output holds the admin secret: parse it, never print it.
  const admin = JSON.parse((await cli(env, ['bootstrap', '--json'])).trim());
  if (!admin.client_secret) throw new Error('bootstrap returned no admin secret');
  const server = startServer(serverArgs(), env, label);
  log(`${label}: server pid ${server.pid} on ${baseUrl}, WORKERS=${WORKERS}`);
  await waitUntilReady(`${baseUrl}/health/ready`, server);

  const adminToken = await token(baseUrl, admin, {
    grant_type: 'client_credentials',
    scope: 'admin',
    resource: `${baseUrl}/admin`,
  });
  const service = await createServiceClient(baseUrl, adminToken);
  const app = await createClient(baseUrl, adminToken, {
    client_name: 'bench web app',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [REDIRECT_URI],
  });
  const db = new pg.Pool({ connectionString: url, max: 2 });
  pools.push(db);
  const side = {
    label,
    server,
    baseUrl,
    db,
    service,
    app,
    coldClients: await insertServiceClients(db, COLD_CLIENTS),
    accessToken: await token(baseUrl, service, {
      grant_type: 'client_credentials',
      scope: 'reports:read',
    }),
  };
  [side.introspectRefreshToken] = await mintRefreshTokens(side, 1);
  return side;
}

/**
 * Service clients with known secrets, written as ClientsService.create() writes them. Straight
 * into the table: the admin API would only make the set-up slower, and a new client needs no
 * cache invalidation (no node has looked it up yet).
 */
async function insertServiceClients(db, count) {
  const clients = Array.from({ length: count }, () => ({
    client_id: randomUUID(),
    client_secret: `lk_cs_${randomBytes(32).toString('base64url')}`,
  }));
  await db.query(
    `INSERT INTO clients (id, name, type, secret_hash, secret_rotated_at, grant_types,
       allowed_scopes, token_endpoint_auth_method)
     SELECT id, 'bench cold client', 'confidential', h, now(), '{client_credentials}',
       '{reports:read}', 'client_secret_basic'
     FROM unnest($1::text[], $2::text[]) AS t(id, h)`,
    [clients.map((c) => c.client_id), clients.map((c) => sha256(c.client_secret))],
  );
  return clients;
}

/**
 * Refresh tokens of the web app, one family each, as an authorization-code redemption by the
 * first admin leaves them (refresh-tokens.service.ts `issue`, token-families.service.ts
 * `create`); the secrets are stored as their SHA-256.
 */
async function mintRefreshTokens(side, count) {
  const tokens = Array.from(
    { length: count },
    () => `lk_rt_${randomBytes(32).toString('base64url')}`,
  );
  const families = tokens.map(() => randomUUID());
  await side.db.query(
    `WITH owner AS (
       SELECT id FROM users WHERE 'admin' = ANY (roles) ORDER BY created_at LIMIT 1
     ), families AS (
       INSERT INTO token_families (id, client_id, user_id, auth_time, amr)
       SELECT f, $3, owner.id, now(), '{webauthn,user}' FROM unnest($1::uuid[]) AS f, owner
       RETURNING id
     )
     INSERT INTO refresh_tokens (token_hash, family_id, scope, expires_at)
     SELECT h, f, 'offline_access user', now() + interval '30 days'
     FROM unnest($2::text[], $1::uuid[]) AS t(h, f)
     WHERE EXISTS (SELECT 1 FROM families)`,
    [families, tokens.map(sha256), side.app.client_id],
  );
  return tokens;
}

function sha256(value) {
  return createHash('sha256').update(value).digest('base64url');
}

// ---------------------------------------------------------------------------------------------
// Scenarios

function form(client) {
  return { 'Content-Type': FORM, Authorization: basic(client.client_id, client.client_secret) };
}

const SCENARIOS = [
  {
    name: 'token (client_credentials, cached client)',
    options: (s) => ({
      url: `${s.baseUrl}/oauth/token`,
      method: 'POST',
      headers: form(s.service),
      body: 'grant_type=client_credentials&scope=reports%3Aread',
    }),
  },
  {
    name: 'token (client_credentials, uncached clients)',
    options: (s) => {
      let next = 0;
      return {
        url: `${s.baseUrl}/oauth/token`,
        method: 'POST',
        headers: { 'Content-Type': FORM },
        body: 'grant_type=client_credentials&scope=reports%3Aread',
        requests: [
          {
            setupRequest: (request) => {
              const client = s.coldClients[next++ % s.coldClients.length];
              return {
                ...request,
                headers: { ...request.headers, ...form(client) },
              };
            },
          },
        ],
      };
    },
  },
  {
    name: 'introspect (JWT)',
    options: (s) => ({
      url: `${s.baseUrl}/oauth/introspect`,
      method: 'POST',
      headers: form(s.service),
      body: new URLSearchParams({ token: s.accessToken }).toString(),
    }),
  },
  {
    name: 'introspect (refresh token)',
    options: (s) => ({
      url: `${s.baseUrl}/oauth/introspect`,
      method: 'POST',
      headers: form(s.app),
      body: new URLSearchParams({
        token: s.introspectRefreshToken,
        token_type_hint: 'refresh_token',
      }).toString(),
    }),
  },
  {
    name: 'refresh_token rotation',
    options: (s) => async (seconds) => {
      const pool = await mintRefreshTokens(s, REFRESH_POOL_RATE * seconds);
      let next = 0;
      return {
        url: `${s.baseUrl}/oauth/token`,
        method: 'POST',
        headers: form(s.app),
        requests: [
          {
            setupRequest: (request) => {
              // Every token was used: end this run early rather than send spent ones.
              if (next >= pool.length) stopCurrentRun();
              const refreshToken = pool[Math.min(next++, pool.length - 1)];
              return {
                ...request,
                body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}`,
              };
            },
          },
        ],
      };
    },
  },
  { name: 'discovery', options: (s) => ({ url: `${s.baseUrl}/.well-known/openid-configuration` }) },
  { name: 'JWKS', options: (s) => ({ url: `${s.baseUrl}/.well-known/jwks.json` }) },
];

function measure(side, definition) {
  return scenario(
    `${side.label}: ${definition.name}`,
    definition.options(side),
    side.server.pid,
    SETTINGS,
  );
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summarize(runs) {
  return {
    rps: median(runs.map((r) => r.okPerSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpu: median(runs.map((r) => r.cpuMs / Math.max(1, r.ok))),
    failed: runs.reduce((sum, r) => sum + r.non2xx + r.errors, 0),
    rssMax: Math.max(...runs.map((r) => r.peakRss)),
  };
}

function report(results) {
  const pct = (a, b) => `${(((b - a) / a) * 100).toFixed(1)}%`;
  const lines = [
    '| scenario | empty req/s | seeded req/s | Δ | empty p99 ms | seeded p99 ms | empty CPU ms/req | seeded CPU ms/req | failed (empty/seeded) | peak worker RSS MB (empty/seeded) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { name, empty, seeded } of results) {
    const e = summarize(empty);
    const s = summarize(seeded);
    lines.push(
      `| ${name} | ${e.rps.toFixed(0)} | ${s.rps.toFixed(0)} | ${pct(e.rps, s.rps)} | ${e.p99} | ${s.p99} | ` +
        `${e.cpu.toFixed(3)} | ${s.cpu.toFixed(3)} | ${e.failed}/${s.failed} | ` +
        `${(e.rssMax / MB).toFixed(0)}/${(s.rssMax / MB).toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const sizes = seedSizes();
  // Seed first: it is the long step, and its load must not fall on the other side's runs.
  const seeded = await startSide('seeded', { seeded: true });
  const empty = await startSide('empty', { seeded: false });
  const chosen = SCENARIOS.filter(
    (definition) => ONLY === null || ONLY.some((word) => definition.name.includes(word)),
  );
  const results = chosen.map((definition) => ({
    name: definition.name,
    empty: [],
    seeded: [],
  }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, definition] of chosen.entries()) {
      // Alternate which side goes first, so neither always runs on a warmer machine.
      const order = (round + i) % 2 === 0 ? [empty, seeded] : [seeded, empty];
      for (const side of order) {
        results[i][side.label].push(await measure(side, definition));
      }
    }
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      '',
      report(results),
      '',
      `Machine: ${cpu}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
        `Node ${process.version}, ${os.type()} ${os.release()}`,
      `Run: ${new Date().toISOString()}, ${ROUNDS} round(s) of ${SETTINGS.seconds} s per scenario ` +
        `after ${SETTINGS.warmupSeconds} s warm-up, ${SETTINGS.connections} connections, ` +
        `WORKERS=${WORKERS}, CLIENT_CACHE_SIZE=${CLIENT_CACHE_SIZE} with ${COLD_CLIENTS} rotating clients. ` +
        `Seeded: ${sizes.clients} clients, ${sizes.users} users, ${sizes.refreshTokens} refresh tokens. ` +
        'req/s counts 2xx answers; RSS is the largest VmRSS of a serving process, sampled every ' +
        '250 ms over the warm-up and the run.',
      '',
    ].join('\n'),
  );
  const failed = results.some((r) => [...r.empty, ...r.seeded].some((run) => run.ok === 0));
  return failed ? 1 : 0;
}

function cleanup() {
  cleaning ??= (async () => {
    stopAllLoad();
    await stopAllServers();
    for (const db of pools.splice(0)) await db.end().catch(() => {});
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
  log(`failed: ${err.stack ?? err.message}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
