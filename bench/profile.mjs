// CPU profile of one hot route under load, on loopback only: runs the built server with
// `node --cpu-prof`, puts a bounded autocannon load on the chosen route, stops the server with
// SIGTERM (which writes the profile) and prints where the CPU time of the measured run went,
// by function and by file. Creates its own PostgreSQL database and removes it, the server and
// the profile directory when it ends, also on error or CTRL-C.
//
//   BENCH_SCENARIO=refresh npm run bench:profile
//
// Settings (environment): BENCH_SCENARIO (client_credentials; one of discovery, jwks,
// client_credentials, introspection, refresh, or several separated by commas, each profiled in
// a server of its own), BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (64),
// BENCH_TOP (30 rows per table), BENCH_REFRESH_POOL_RATE (4000 refresh tokens minted per second
// of a run), BENCH_PROFILE_KEEP (set to keep the .cpuprofile files; their directory is printed),
// TEST_DATABASE_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
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
import { cannon, stopAllLoad, stopCurrentRun } from './lib/load.mjs';
import {
  freePort,
  startServer,
  stopAllServers,
  stopServer,
  treeCpuMs,
  waitUntilReady,
} from './lib/processes.mjs';
import { HOST, ROOT, basic, log, positiveInt } from './lib/util.mjs';

const SECONDS = positiveInt('BENCH_SECONDS', 10);
const WARMUP_SECONDS = positiveInt('BENCH_WARMUP_SECONDS', 2);
const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 64);
const TOP = positiveInt('BENCH_TOP', 30);
const REFRESH_POOL_RATE = positiveInt('BENCH_REFRESH_POOL_RATE', 4000);
const KEEP = Boolean(process.env.BENCH_PROFILE_KEEP);
const FORM = 'application/x-www-form-urlencoded';
const REDIRECT_URI = 'https://app.example.com/callback';

let cleaning = null;
const pools = [];
const profileDir = mkdtempSync(join(tmpdir(), 'latchkey-profile-'));

// ---------------------------------------------------------------------------------------------
// Scenarios: each returns the autocannon options of a run of `seconds`.

function form(client) {
  return { 'Content-Type': FORM, Authorization: basic(client.client_id, client.client_secret) };
}

const SCENARIOS = {
  discovery: (s) => ({ url: `${s.baseUrl}/.well-known/openid-configuration` }),
  jwks: (s) => ({ url: `${s.baseUrl}/.well-known/jwks.json` }),
  client_credentials: (s) => ({
    url: `${s.baseUrl}/oauth/token`,
    method: 'POST',
    headers: form(s.service),
    body: 'grant_type=client_credentials&scope=reports%3Aread',
  }),
  introspection: (s) => ({
    url: `${s.baseUrl}/oauth/introspect`,
    method: 'POST',
    headers: form(s.service),
    body: new URLSearchParams({ token: s.accessToken }).toString(),
  }),
  refresh: async (s, seconds) => {
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
};

function chosenScenarios() {
  const names = (process.env.BENCH_SCENARIO || 'client_credentials')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(name in SCENARIOS)) {
      throw new Error(
        `BENCH_SCENARIO: unknown scenario ${name} (one of ${Object.keys(SCENARIOS).join(', ')})`,
      );
    }
  }
  return names;
}

/**
 * Refresh tokens of the web app, one family each, as an authorization-code redemption with
 * `openid offline_access` by the first admin leaves them (refresh-tokens.service.ts `issue`,
 * token-families.service.ts `create`), so each rotation also signs an ID token; the secrets are
 * stored as their SHA-256.
 */
async function mintRefreshTokens(s, count) {
  const tokens = Array.from(
    { length: count },
    () => `lk_rt_${randomBytes(32).toString('base64url')}`,
  );
  const families = tokens.map(() => randomUUID());
  const hashes = tokens.map((t) => createHash('sha256').update(t).digest('base64url'));
  await s.db.query(
    `WITH owner AS (
       SELECT id FROM users WHERE 'admin' = ANY (roles) ORDER BY created_at LIMIT 1
     ), families AS (
       INSERT INTO token_families (id, client_id, user_id, auth_time, amr)
       SELECT f, $3, owner.id, now(), '{webauthn,user}' FROM unnest($1::uuid[]) AS f, owner
       RETURNING id
     )
     INSERT INTO refresh_tokens (token_hash, family_id, scope, expires_at)
     SELECT h, f, 'openid offline_access', now() + interval '30 days'
     FROM unnest($2::text[], $1::uuid[]) AS t(h, f)
     WHERE EXISTS (SELECT 1 FROM families)`,
    [families, hashes, s.app.client_id],
  );
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Server

async function prepareDatabase() {
  const name = await createDatabase();
  log(`created database ${name}`);
  const env = serverEnv({
    DATABASE_URL: databaseUrl(name),
    MASTER_KEY: randomBytes(32).toString('hex'),
    WORKERS: '1',
  });
  await cli(env, ['migrate']);
  // The bootstrap output holds the admin secret: parse it, never print it.
  const admin = JSON.parse((await cli(env, ['bootstrap', '--json'])).trim());
  if (!admin.client_secret) throw new Error('bootstrap returned no admin secret');
  const db = new pg.Pool({ connectionString: databaseUrl(name), max: 2 });
  pools.push(db);
  return { env, admin, db, clients: null };
}

/** The server under `--cpu-prof`, with a service client and a web app client. */
async function startProfiled(database, dir) {
  const port = await freePort();
  const baseUrl = `http://${HOST}:${port}`;
  const env = {
    ...database.env,
    PORT: String(port),
    HOST,
    ISSUER: baseUrl,
    // One address, one client, tens of thousands of requests a minute: limits far above that,
    // but switched on, so every profiled request still pays for its rate-limit checks.
    RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
    RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '1000000',
  };
  const server = startServer(serverArgs(['--cpu-prof', '--cpu-prof-dir', dir]), env, 'latchkey');
  log(`server pid ${server.pid} on ${baseUrl}, profiling into ${dir}`);
  await waitUntilReady(`${baseUrl}/health/ready`, server);
  if (database.clients === null) {
    const adminToken = await token(baseUrl, database.admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: `${baseUrl}/admin`,
    });
    database.clients = {
      service: await createServiceClient(baseUrl, adminToken),
      app: await createClient(baseUrl, adminToken, {
        client_name: 'bench web app',
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: [REDIRECT_URI],
      }),
    };
  }
  const { service, app } = database.clients;
  const accessToken = await token(baseUrl, service, {
    grant_type: 'client_credentials',
    scope: 'reports:read',
  });
  return { server, baseUrl, service, app, accessToken, db: database.db };
}

// ---------------------------------------------------------------------------------------------
// Profile analysis

/** node_modules/<package> (scoped too), node:<module>, the project file, or the V8 pseudo-entry. */
function fileOf(url, functionName) {
  if (!url) return `(${functionName.replace(/^\(|\)$/g, '') || 'native'})`;
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const parts = path.slice(modules + '/node_modules/'.length).split('/');
    const pkg = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    return `${pkg} (${parts.slice(pkg.split('/').length).join('/')})`;
  }
  return relative(ROOT, path);
}

/**
 * Self time of every sample taken between `fromUs` and `toUs` (the measured run, on the
 * monotonic clock V8 stamps its samples with), by function and by file.
 */
function analyze(profile, fromUs, toUs) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let t = profile.startTime;
  let inWindow = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    // A sample covers the time until the next one.
    const covers = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    if (t < fromUs || t > toUs) continue;
    inWindow += 1;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, covers));
  }
  const byFunction = new Map();
  const byFile = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const { callFrame } = nodes.get(id);
    if (callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const file = fileOf(callFrame.url, callFrame.functionName);
    const where = callFrame.url ? `${file}:${callFrame.lineNumber + 1}` : file;
    const fn = `${callFrame.functionName || '(anonymous)'}  ${where}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  }
  return { byFunction, byFile, total, idle, samples: inWindow };
}

function topTable(title, map, total, requests) {
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  const lines = [`| ${title} | self ms | % of busy | µs/req |`, '|---|---:|---:|---:|'];
  for (const [name, us] of rows) {
    lines.push(
      `| ${name.replace(/\|/g, '\\|')} | ${(us / 1000).toFixed(0)} | ${((100 * us) / total).toFixed(1)} | ${(us / requests).toFixed(1)} |`,
    );
  }
  return lines.join('\n');
}

function nowUs() {
  return Number(process.hrtime.bigint() / 1000n);
}

// ---------------------------------------------------------------------------------------------

async function profileScenario(database, name) {
  const dir = mkdtempSync(join(profileDir, `${name}-`));
  const s = await startProfiled(database, dir);
  const optionsFor = async (seconds) => SCENARIOS[name](s, seconds);
  const warmUp = await optionsFor(WARMUP_SECONDS);
  const measured = await optionsFor(SECONDS);
  log(`${name}: warm-up ${WARMUP_SECONDS} s`);
  await cannon({ connections: CONNECTIONS, ...warmUp, duration: WARMUP_SECONDS });
  log(`${name}: ${SECONDS} s with ${CONNECTIONS} connections, profiled`);
  const cpuBefore = treeCpuMs(s.server.pid);
  const from = nowUs();
  const result = await cannon({ connections: CONNECTIONS, ...measured, duration: SECONDS });
  const to = nowUs();
  const cpuMs = treeCpuMs(s.server.pid) - cpuBefore;
  await stopServer(s.server);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the server wrote no profile into ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  let analysis = analyze(profile, from, to);
  if (analysis.samples === 0) {
    log('no sample inside the measured run (clock mismatch?): analysing the whole profile');
    analysis = analyze(profile, -Infinity, Infinity);
  }
  const requests = result.requests.total;
  const { byFunction, byFile, total, idle } = analysis;
  return [
    '',
    `## ${name}`,
    '',
    `${requests} requests in ${result.duration.toFixed(1)} s (${(requests / result.duration).toFixed(0)} req/s, ` +
      `non-2xx ${result.non2xx}, errors ${result.errors}); server CPU ${(cpuMs / requests).toFixed(3)} ms/req ` +
      `(with the profiler's own overhead); profiled busy time ${(total / 1000).toFixed(0)} ms ` +
      `(${(total / requests).toFixed(1)} µs/req), idle ${(idle / 1000).toFixed(0)} ms.`,
    '',
    topTable('function (self time)', byFunction, total, requests),
    '',
    topTable('file or package (self time)', byFile, total, requests),
    '',
    KEEP ? `Profile: ${join(dir, file)}` : '',
  ].join('\n');
}

async function main() {
  const names = chosenScenarios();
  const database = await prepareDatabase();
  for (const name of names) process.stdout.write(await profileScenario(database, name));
  process.stdout.write(
    `\nProfiled with node ${process.version} --cpu-prof, WORKERS=1, ${CONNECTIONS} connections, ` +
      `${SECONDS} s after ${WARMUP_SECONDS} s warm-up; self time of the measured run only.\n`,
  );
  return 0;
}

function cleanup() {
  cleaning ??= (async () => {
    stopAllLoad();
    await stopAllServers();
    for (const pool of pools.splice(0)) await pool.end().catch(() => {});
    await dropAllDatabases();
    if (!KEEP) rmSync(profileDir, { recursive: true, force: true });
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
  log(`failed: ${cleaning ? err.message : (err.stack ?? err.message)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
