// Latchkey side by side with node-oidc-provider (the OpenID-certified Node server), on loopback
// only: the same bounded load against each, in alternation, for client_credentials issuance,
// introspection, refresh-token rotation, discovery and JWKS; plus full authorization-code flows
// per second for Latchkey alone. Latchkey runs on PostgreSQL; the peer runs twice, once with its
// memory storage and once with a PostgreSQL adapter (bench/peer/pg-adapter.mjs). Every server is
// a child process and every database is created for the run; both are removed when it ends,
// also on error or CTRL-C.
//
//   npm run bench:peer
//
// Settings (environment): BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (2), BENCH_CONNECTIONS (64),
// BENCH_ROUNDS (2; the median is reported), BENCH_WORKERS (1; Latchkey's WORKERS), BENCH_ONLY
// (run only the scenarios whose name contains one of these comma-separated words; no flows),
// BENCH_FLOW_CONCURRENCY (8; authorization-code flows in flight), BENCH_REFRESH_POOL_RATE
// (4000; refresh tokens minted per second of a run: a run that uses them all up ends early),
// TEST_DATABASE_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import {
  createDatabase,
  databaseCpuProbe,
  databaseUrl,
  dropAllDatabases,
} from './lib/database.mjs';
import {
  cli,
  createClient,
  createServiceClient,
  serverArgs,
  serverEnv,
  token,
  tokenResponse,
} from './lib/latchkey.mjs';
import { scenario, stopAllLoad, stopCurrentRun } from './lib/load.mjs';
import { enrollAndSignIn } from './lib/passkey.mjs';
import {
  freePort,
  startServer,
  stopAllServers,
  treeCpuMs,
  waitUntilReady,
} from './lib/processes.mjs';
import { HOST, basic, log, positiveInt } from './lib/util.mjs';

const SECONDS = positiveInt('BENCH_SECONDS', 10);
const WARMUP_SECONDS = positiveInt('BENCH_WARMUP_SECONDS', 2);
const CONNECTIONS = positiveInt('BENCH_CONNECTIONS', 64);
const ROUNDS = positiveInt('BENCH_ROUNDS', 2);
const WORKERS = process.env.BENCH_WORKERS ?? '1';
const FLOW_CONCURRENCY = positiveInt('BENCH_FLOW_CONCURRENCY', 8);
const REFRESH_POOL_RATE = positiveInt('BENCH_REFRESH_POOL_RATE', 4000);
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',') : null;
const SETTINGS = { seconds: SECONDS, warmupSeconds: WARMUP_SECONDS, connections: CONNECTIONS };

const REDIRECT_URI = 'https://app.example.com/callback';
const USER_SCOPE = 'openid offline_access';
const FORM = 'application/x-www-form-urlencoded';
/** Access tokens for the cold-introspection row: twice the server's verified-token cache. */
const INTROSPECT_POOL = 20_000;
/** Rows inserted per statement when seeding refresh tokens. */
const SEED_BATCH = 5000;

let cleaning = null;
const pools = [];

// ---------------------------------------------------------------------------------------------
// Latchkey

async function startLatchkey() {
  const name = await createDatabase();
  log(`created database ${name} for Latchkey`);
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
    RATE_LIMIT_AUTHORIZE_PER_MINUTE: '1000000',
    RATE_LIMIT_WEBAUTHN_PER_MINUTE: '1000000',
  });
  await cli(env, ['migrate']);
  // The bootstrap output holds the admin secret and setup link: parse them, never print them.
  const admin = JSON.parse((await cli(env, ['bootstrap', '--json'])).trim());
  if (!admin.client_secret || !admin.setup_url) throw new Error('bootstrap returned no admin');

  const server = startServer(serverArgs(), env, 'latchkey');
  log(`Latchkey pid ${server.pid} on ${baseUrl}, WORKERS=${WORKERS}`);
  await waitUntilReady(`${baseUrl}/health/ready`, server);

  const adminToken = await token(baseUrl, admin, {
    grant_type: 'client_credentials',
    scope: 'admin',
    resource: `${baseUrl}/admin`,
  });
  const service = await createServiceClient(baseUrl, adminToken);
  const codeClient = await createClient(baseUrl, adminToken, {
    client_name: 'bench web app',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: [REDIRECT_URI],
  });
  // The first admin signs in with a passkey enrolled from the bootstrap setup link.
  const jar = await enrollAndSignIn(baseUrl, admin.setup_url);
  const db = new pg.Pool({ connectionString: databaseUrl(name), max: 2 });
  pools.push(db);
  const target = {
    name: 'Latchkey',
    server,
    baseUrl,
    tokenUrl: `${baseUrl}/oauth/token`,
    introspectionUrl: `${baseUrl}/oauth/introspect`,
    discoveryUrl: `${baseUrl}/.well-known/openid-configuration`,
    jwksUrl: `${baseUrl}/.well-known/jwks.json`,
    service,
    codeClient,
    cookie: jar.header(),
    db,
    database: databaseCpuProbe(name),
  };
  // Consent once, through the consent form, so later flows find it granted.
  const code = await authorizeCode(target, { consent: true });
  const redeemed = await tokenResponse(target.tokenUrl, codeClient, {
    grant_type: 'authorization_code',
    code: code.code,
    redirect_uri: REDIRECT_URI,
    code_verifier: code.verifier,
  });
  if (!redeemed.refresh_token) throw new Error('the code redemption returned no refresh token');
  target.templateRefreshToken = redeemed.refresh_token;
  target.introspectToken = await token(baseUrl, service, {
    grant_type: 'client_credentials',
    scope: 'reports:read',
  });
  target.mintRefreshTokens = (count) => seedLatchkeyRefreshTokens(target, count);
  return target;
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function unescapeHtml(text) {
  return text.replace(/&(amp|lt|gt|quot|#x27|#x60|#x3D|#39);/g, (_, name) => {
    const map = {
      amp: '&',
      lt: '<',
      gt: '>',
      quot: '"',
      '#x27': "'",
      '#x60': '`',
      '#x3D': '=',
      '#39': "'",
    };
    return map[name];
  });
}

/**
 * GET /oauth/authorize as the signed-in browser; with `consent`, approves the consent form it
 * expects to get. Returns the code from the redirect to the client.
 */
async function authorizeCode(target, { consent = false } = {}) {
  const { verifier, challenge } = pkce();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: target.codeClient.client_id,
    redirect_uri: REDIRECT_URI,
    scope: USER_SCOPE,
    state: randomBytes(12).toString('base64url'),
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  let response = await fetch(`${target.baseUrl}/oauth/authorize?${query}`, {
    headers: { cookie: target.cookie },
    redirect: 'manual',
  });
  if (consent) {
    const page = await response.text();
    if (response.status !== 200) throw new Error(`authorize: ${response.status}, no consent form`);
    const field = (name) => {
      const match = page.match(new RegExp(`name='${name}' value='([^']*)'`));
      if (!match) throw new Error(`the consent form has no ${name}`);
      return unescapeHtml(match[1]);
    };
    response = await fetch(`${target.baseUrl}/oauth/authorize/decision`, {
      method: 'POST',
      headers: { cookie: target.cookie, 'content-type': FORM, origin: target.baseUrl },
      body: new URLSearchParams({
        request: field('request'),
        csrf: field('csrf'),
        decision: 'approve',
      }).toString(),
      redirect: 'manual',
    });
  } else {
    await response.body?.cancel();
  }
  const location = response.headers.get('location') ?? '';
  const code = location.startsWith(REDIRECT_URI)
    ? new URL(location).searchParams.get('code')
    : null;
  if (!code)
    throw new Error(`authorize: ${response.status} without a code (${location.slice(0, 120)})`);
  return { code, verifier };
}

/**
 * Refresh tokens as `count` authorization-code redemptions would leave them: one family each,
 * a copy of the family and first refresh token that a real redemption created (every column
 * but the identifiers and timestamps), the secret stored as its SHA-256 like
 * src/tokens/refresh-tokens.service.ts does. Going through /authorize and /token for each
 * would only make the set-up slower, not the rotation measured any different.
 */
async function seedLatchkeyRefreshTokens(target, count) {
  const { db } = target;
  const columns = async (table, skip) => {
    const { rows } = await db.query(
      `SELECT column_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
      [table],
    );
    return rows.map((r) => r.column_name).filter((c) => !skip.includes(c));
  };
  const familyColumns = await columns('token_families', [
    'id',
    'created_at',
    'revoked_at',
    'revoked_reason',
  ]);
  const tokenColumns = await columns('refresh_tokens', [
    'id',
    'token_hash',
    'family_id',
    'parent_id',
    'created_at',
    'expires_at',
    'rotated_at',
    'successor_id',
    'successor_enc',
  ]);
  const templateHash = createHash('sha256').update(target.templateRefreshToken).digest('base64url');
  const tokens = [];
  for (let start = 0; start < count; start += SEED_BATCH) {
    const n = Math.min(SEED_BATCH, count - start);
    const familyIds = Array.from({ length: n }, () => randomUUID());
    const batch = Array.from({ length: n }, () => `lk_rt_${randomBytes(32).toString('base64url')}`);
    const hashes = batch.map((t) => createHash('sha256').update(t).digest('base64url'));
    const fc = familyColumns.join(', ');
    const tc = tokenColumns.join(', ');
    await db.query(
      `WITH template AS (
         SELECT r.expires_at - r.created_at AS ttl, ${tokenColumns.map((c) => `r.${c}`).join(', ')},
           ${familyColumns.map((c) => `f.${c} AS f_${c}`).join(', ')}
         FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
         WHERE r.token_hash = $3
       ), families AS (
         INSERT INTO token_families (id, ${fc})
         SELECT u.id, ${familyColumns.map((c) => `t.f_${c}`).join(', ')}
         FROM unnest($1::uuid[]) AS u(id) CROSS JOIN template t
         RETURNING id
       )
       INSERT INTO refresh_tokens (token_hash, family_id, expires_at, ${tc})
       SELECT x.h, x.f, now() + t.ttl, ${tokenColumns.map((c) => `t.${c}`).join(', ')}
       FROM unnest($2::text[], $1::uuid[]) AS x(h, f) CROSS JOIN template t
       WHERE EXISTS (SELECT 1 FROM families)`,
      [familyIds, hashes, templateHash],
    );
    tokens.push(...batch);
  }
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// node-oidc-provider

async function startPeer(storage) {
  const port = await freePort();
  const baseUrl = `http://${HOST}:${port}`;
  const client = {
    client_id: `bench-${randomBytes(6).toString('hex')}`,
    client_secret: randomBytes(32).toString('base64url'),
  };
  const resource = 'https://api.bench.example';
  const extra = {
    PORT: String(port),
    HOST,
    ISSUER: baseUrl,
    PEER_STORAGE: storage,
    PEER_CLIENT_ID: client.client_id,
    PEER_CLIENT_SECRET: client.client_secret,
    PEER_RESOURCE: resource,
    PEER_OPAQUE_RESOURCE: 'urn:bench:opaque',
    PEER_REDIRECT_URI: REDIRECT_URI,
  };
  let database = null;
  if (storage === 'postgres') {
    const name = await createDatabase();
    log(`created database ${name} for the peer`);
    extra.DATABASE_URL = databaseUrl(name);
    database = databaseCpuProbe(name);
  }
  const label = `peer-${storage}`;
  const server = startServer(['bench/peer/oidc-provider-server.mjs'], serverEnv(extra), label);
  log(`node-oidc-provider (${storage}) pid ${server.pid} on ${baseUrl}`);
  const discoveryUrl = `${baseUrl}/.well-known/openid-configuration`;
  await waitUntilReady(discoveryUrl, server);
  const discovery = await (await fetch(discoveryUrl)).json();
  const target = {
    name: `peer (${storage})`,
    server,
    baseUrl,
    tokenUrl: discovery.token_endpoint,
    introspectionUrl: discovery.introspection_endpoint,
    discoveryUrl,
    jwksUrl: discovery.jwks_uri,
    service: client,
    database,
  };
  // The peer refuses to introspect JWTs (they are for local validation): an opaque token.
  target.introspectToken = (
    await tokenResponse(target.tokenUrl, client, {
      grant_type: 'client_credentials',
      scope: 'reports:read',
      resource: 'urn:bench:opaque',
    })
  ).access_token;
  const jwt = (
    await tokenResponse(target.tokenUrl, client, {
      grant_type: 'client_credentials',
      scope: 'reports:read',
    })
  ).access_token;
  if (jwt.split('.').length !== 3) throw new Error('the peer did not issue a JWT access token');
  if (storage === 'postgres') {
    target.mintRefreshTokens = async (count) => {
      const response = await fetch(`${baseUrl}/bench/refresh-tokens?count=${count}`, {
        method: 'POST',
      });
      if (!response.ok) throw new Error(`seeding the peer's refresh tokens: ${response.status}`);
      return response.json();
    };
  }
  return target;
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const SCENARIOS = [
  {
    name: 'client_credentials (ES256 JWT)',
    options: (t) => ({
      url: t.tokenUrl,
      method: 'POST',
      headers: {
        'Content-Type': FORM,
        Authorization: basic(t.service.client_id, t.service.client_secret),
      },
      body: 'grant_type=client_credentials&scope=reports%3Aread',
    }),
  },
  {
    name: 'introspection',
    options: (t) => ({
      url: t.introspectionUrl,
      method: 'POST',
      headers: {
        'Content-Type': FORM,
        Authorization: basic(t.service.client_id, t.service.client_secret),
      },
      body: new URLSearchParams({ token: t.introspectToken }).toString(),
    }),
  },
  {
    // The row above introspects one token again and again, as a resource server does for the
    // calls a token makes; Latchkey then verifies its signature once. Here every request brings
    // a token not seen lately (a pool twice the size of the verified-token cache, in a cycle), so
    // each one pays for its ES256 verification.
    name: 'introspection, a new token each time',
    applies: (t) => t.name === 'Latchkey',
    options: (t) => async () => {
      t.introspectPool ??= await mintAccessTokens(t, INTROSPECT_POOL);
      const pool = t.introspectPool;
      let next = 0;
      return {
        url: t.introspectionUrl,
        method: 'POST',
        headers: {
          'Content-Type': FORM,
          Authorization: basic(t.service.client_id, t.service.client_secret),
        },
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              body: `token=${pool[next++ % pool.length]}`,
            }),
          },
        ],
      };
    },
  },
  {
    name: 'refresh_token rotation',
    // The peer's memory storage is an LRU of 1000 entries: no room for a pool of tokens.
    applies: (t) => typeof t.mintRefreshTokens === 'function',
    options: (t) => async (seconds) => {
      const client = t.name === 'Latchkey' ? t.codeClient : t.service;
      const count = REFRESH_POOL_RATE * seconds;
      const started = Date.now();
      const pool = await t.mintRefreshTokens(count);
      log(
        `${t.name}: minted ${count} refresh tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      let next = 0;
      return {
        url: t.tokenUrl,
        method: 'POST',
        headers: {
          'Content-Type': FORM,
          Authorization: basic(client.client_id, client.client_secret),
        },
        requests: [
          {
            setupRequest: (request) => {
              if (next >= pool.length) {
                // Every token was used: end this run early rather than send spent ones.
                stopCurrentRun();
              }
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
  { name: 'discovery', options: (t) => ({ url: t.discoveryUrl }) },
  { name: 'JWKS', options: (t) => ({ url: t.jwksUrl }) },
];

/** `count` client_credentials access tokens of the service client, 32 requests at a time. */
async function mintAccessTokens(target, count) {
  const started = Date.now();
  const tokens = [];
  const worker = async () => {
    while (tokens.length < count && !cleaning) {
      tokens.push(
        await token(target.baseUrl, target.service, {
          grant_type: 'client_credentials',
          scope: 'reports:read',
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  log(
    `${target.name}: minted ${tokens.length} access tokens in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return tokens;
}

/** N browsers in a closed loop: authorize (consent already granted) → token, for `seconds`. */
async function codeFlows(target, seconds) {
  const latencies = [];
  let failures = 0;
  const deadline = Date.now() + seconds * 1000;
  const cpuBefore = treeCpuMs(target.server.pid);
  const started = performance.now();
  const browser = async () => {
    while (Date.now() < deadline && !cleaning) {
      const begin = performance.now();
      try {
        const { code, verifier } = await authorizeCode(target);
        await tokenResponse(target.tokenUrl, target.codeClient, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: verifier,
        });
        latencies.push(performance.now() - begin);
      } catch (err) {
        if (failures++ === 0) log(`authorization-code flow failed: ${err.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: FLOW_CONCURRENCY }, browser));
  const elapsed = (performance.now() - started) / 1000;
  const cpuMs = treeCpuMs(target.server.pid) - cpuBefore;
  latencies.sort((a, b) => a - b);
  const pick = (q) =>
    latencies.length
      ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
      : NaN;
  return {
    okPerSecond: latencies.length / elapsed,
    p50: Math.round(pick(0.5)),
    p99: Math.round(pick(0.99)),
    cpuMsPerRequest: latencies.length ? cpuMs / latencies.length : NaN,
    non2xx: failures,
    errors: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summarize(runs) {
  if (!runs || runs.length === 0) return null;
  return {
    okPerSecond: median(runs.map((r) => r.okPerSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    cpuMsPerRequest: median(runs.map((r) => r.cpuMsPerRequest)),
    databaseCpuMsPerRequest: median(runs.map((r) => r.databaseCpuMsPerRequest)),
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    errors: runs.reduce((s, r) => s + r.errors, 0),
  };
}

const fmt = (v, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
const ratio = (a, b) =>
  a && b && b.okPerSecond > 0 ? `${(a.okPerSecond / b.okPerSecond).toFixed(2)}×` : '—';

function report(results, flows) {
  const lines = [
    '| scenario | Latchkey req/s | p50 ms | p99 ms | CPU ms/req | peer (memory) req/s | peer (PG) req/s | Latchkey / peer (memory) | Latchkey / peer (PG) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const s of SCENARIOS.filter(selected)) {
    const [l, m, p] = ['Latchkey', 'peer (memory)', 'peer (postgres)'].map((n) =>
      summarize(results.get(`${s.name}|${n}`)),
    );
    lines.push(
      `| ${s.name} | ${fmt(l?.okPerSecond)} | ${fmt(l?.p50)} | ${fmt(l?.p99)} | ${fmt(l?.cpuMsPerRequest, 3)} | ` +
        `${fmt(m?.okPerSecond)} | ${fmt(p?.okPerSecond)} | ${ratio(l, m)} | ${ratio(l, p)} |`,
    );
  }
  const f = summarize(flows);
  if (f) {
    lines.push(
      `| authorization_code flow (authorize → token), Latchkey only | ${fmt(f.okPerSecond)} | ${fmt(f.p50)} | ${fmt(f.p99)} | ${fmt(f.cpuMsPerRequest, 3)} | — | — | — | — |`,
    );
  }
  lines.push(
    '',
    'Every run (median over rounds; req/s counts 2xx responses only; non-2xx and errors summed over rounds):',
    '',
  );
  lines.push(
    '| scenario | server | req/s | p50 ms | p99 ms | CPU ms/req | PostgreSQL CPU ms/req | non-2xx | errors |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const [key, runs] of results) {
    const [scenarioName, target] = key.split('|');
    const r = summarize(runs);
    lines.push(
      `| ${scenarioName} | ${target} | ${fmt(r.okPerSecond)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.cpuMsPerRequest, 3)} | ${fmt(r.databaseCpuMsPerRequest, 3)} | ${r.non2xx} | ${r.errors} |`,
    );
  }
  if (f) {
    lines.push(
      `| authorization_code flow | Latchkey | ${fmt(f.okPerSecond)} | ${fmt(f.p50)} | ${fmt(f.p99)} | ${fmt(f.cpuMsPerRequest, 3)} | — | ${f.non2xx} | 0 |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

/** BENCH_ONLY: run only the scenarios whose name contains one of these (comma-separated). */
function selected(s) {
  return ONLY === null || ONLY.some((part) => s.name.includes(part));
}

async function main() {
  const latchkey = await startLatchkey();
  const peers = [await startPeer('memory'), await startPeer('postgres')];
  const results = new Map();
  for (const s of SCENARIOS.filter(selected)) {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of [latchkey, ...peers]) {
        if (s.applies && !s.applies(target)) continue;
        const key = `${s.name}|${target.name}`;
        const row = await scenario(
          `${s.name} / ${target.name} / round ${round}`,
          s.options(target),
          target.server.pid,
          SETTINGS,
          target.database,
        );
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(row);
      }
    }
  }
  const flows = [];
  for (let round = 1; round <= (ONLY === null ? ROUNDS : 0); round++) {
    log(`authorization_code flows / Latchkey / round ${round}: warm-up ${WARMUP_SECONDS} s`);
    await codeFlows(latchkey, WARMUP_SECONDS);
    log(
      `authorization_code flows / Latchkey / round ${round}: ${SECONDS} s with ${FLOW_CONCURRENCY} browsers`,
    );
    const row = await codeFlows(latchkey, SECONDS);
    log(
      `authorization_code flows: ${row.okPerSecond.toFixed(0)} flows/s, p50 ${row.p50} ms, p99 ${row.p99} ms, failed ${row.non2xx}, server CPU ${row.cpuMsPerRequest.toFixed(3)} ms/flow`,
    );
    flows.push(row);
  }

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      '',
      report(results, flows),
      '',
      `Machine: ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}, ${os.type()} ${os.release()}`,
      `Run: ${new Date().toISOString()}, ${ROUNDS} round(s) in alternation, ${SECONDS} s per run after ${WARMUP_SECONDS} s warm-up, ` +
        `${CONNECTIONS} connections (authorization-code flows: ${FLOW_CONCURRENCY} in flight), Latchkey WORKERS=${WORKERS}, ` +
        'node-oidc-provider in one process; PostgreSQL on loopback. Load generator and servers share the machine; ' +
        'server CPU is utime+stime of the server process tree.',
      'Introspection: Latchkey introspects its ES256 JWT access token; node-oidc-provider refuses JWTs at its ' +
        'introspection endpoint, so it introspects an opaque client_credentials token from its storage.',
      'Refresh: each request rotates a fresh token from a pre-minted pool (one family/grant per token); ' +
        "the peer's memory storage (an LRU of 1000 entries) cannot hold a pool, so it has no refresh figure.",
      '',
    ].join('\n'),
  );
  const measured = [...results.values()].flat().concat(flows);
  return measured.some((r) => !(r.okPerSecond > 0)) ? 1 : 0;
}

function cleanup() {
  cleaning ??= (async () => {
    stopAllLoad();
    await stopAllServers();
    for (const pool of pools.splice(0)) await pool.end().catch(() => {});
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
  log(`failed: ${cleaning ? err.message : (err.stack ?? err.message)}`);
} finally {
  await cleanup();
}
process.exit(exitCode);
