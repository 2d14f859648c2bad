// Fills a migrated Latchkey database with realistic volume, for benchmarks at scale: clients of
// every kind, users with roles, browser sessions, consents, and refresh tokens in token families
// with the mix a long-running server accumulates (live, rotated, expired, revoked).
//
//   DATABASE_URL=postgres://... npm run seed
//
// The rows are shaped as the services write them (clients.service, users.service,
// refresh-tokens.service, token-families.service), so the server accepts and serves them; the
// secrets behind the stored hashes are random and never known, as in a real database. The work
// is set-based (INSERT ... SELECT over generate_series), so a million refresh tokens take about
// a minute, not hours. Every run adds a fresh batch tagged with a random label, so it can run
// more than once on one database.
//
// Settings (environment): DATABASE_URL (required), SEED_CLIENTS (100000), SEED_USERS (100000),
// SEED_REFRESH_TOKENS (1000000), SEED_SKIP_MIGRATE (set to 1 when the database is migrated).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What to create. */
export function seedSizes(env = process.env) {
  return {
    clients: count(env, 'SEED_CLIENTS', 100_000),
    users: count(env, 'SEED_USERS', 100_000),
    refreshTokens: count(env, 'SEED_REFRESH_TOKENS', 1_000_000),
  };
}

function count(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/** Runs the migrations through the built CLI, as an operator would. */
export async function migrate(databaseUrl, env = process.env) {
  await promisify(execFile)(process.execPath, ['dist/src/cli.js', 'migrate'], {
    cwd: ROOT,
    env: { ...env, DATABASE_URL: databaseUrl },
    maxBuffer: 1 << 20,
  });
}

// Base64url of a digest, as src/common/crypto.ts stores every opaque secret.
const B64URL = `CREATE FUNCTION pg_temp.b64url(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS
  $$ SELECT rtrim(translate(encode(b, 'base64'), E'+/\\n', '-_'), '=') $$`;
// A stand-in for a SHA-256 digest: 32 random bytes, from the random source PostgreSQL has built
// in (gen_random_uuid()); hashing them again would only cost time.
const RANDOM_HASH = `pg_temp.b64url(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))`;
/** `bytes` random bytes (at most 80). */
const randomBytesSql = (bytes) =>
  `substr(${Array(Math.ceil(bytes / 16))
    .fill('uuid_send(gen_random_uuid())')
    .join(' || ')}, 1, ${bytes})`;

/**
 * Seeds the database at `databaseUrl`, which must already be migrated. Returns the counts of the
 * rows created and the seconds each step took.
 */
export async function seedDatabase(databaseUrl, sizes, log = () => {}) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const tag = randomBytes(4).toString('hex');
  const timings = {};
  const step = async (name, sql, params = []) => {
    const started = performance.now();
    const results = [await client.query(sql, params)].flat();
    const seconds = (performance.now() - started) / 1000;
    timings[name] = (timings[name] ?? 0) + seconds;
    const rows = results.at(-1).rowCount;
    log(`${name}: ${rows ?? 0} rows in ${seconds.toFixed(1)} s`);
  };
  try {
    const migrated = await client.query(`SELECT to_regclass('refresh_tokens') IS NOT NULL AS ok`);
    if (!migrated.rows[0].ok) throw new Error('the database is not migrated');
    await client.query(B64URL);
    // The seed's own bulk writes need no durability until the end; the data is disposable.
    await client.query(`SET synchronous_commit = off`);
    await client.query(`SET work_mem = '64MB'`);
    await client.query(`SET maintenance_work_mem = '256MB'`);

    await step('roles', ROLES_SQL);
    await step('users', usersSql(tag), [sizes.users]);
    await step('clients', clientsSql(tag), [sizes.clients]);
    // Numbered views of this batch, so later steps can pick rows by arithmetic.
    await step(
      'numbering',
      `CREATE TEMP TABLE seed_users AS
         SELECT row_number() OVER (ORDER BY id) AS n, id FROM users
         WHERE email LIKE '%.' || $1 || '@seed.example.com'`,
      [tag],
    );
    await step(
      'numbering',
      `CREATE TEMP TABLE seed_apps AS
         SELECT row_number() OVER (ORDER BY id) AS n, id FROM clients
         WHERE name LIKE '% ' || $1 AND 'refresh_token' = ANY (grant_types)`,
      [tag],
    );
    await client.query(`CREATE UNIQUE INDEX ON seed_users (n)`);
    await client.query(`CREATE UNIQUE INDEX ON seed_apps (n)`);
    await client.query(`ANALYZE seed_users`);
    await client.query(`ANALYZE seed_apps`);

    await step('families (plan)', FAMILY_PLAN_SQL, [sizes.refreshTokens]);
    await client.query(`ANALYZE seed_families`);
    await step('sessions', SESSIONS_SQL);
    await step('token_families', TOKEN_FAMILIES_SQL);
    await step('refresh_tokens', REFRESH_TOKENS_SQL);
    await step('consents', CONSENTS_SQL);
    // As a database that has been running for a while: statistics, visibility map and hint bits
    // in place, so that autovacuum does not start on the new rows during the first measured runs.
    await step('vacuum', `VACUUM (ANALYZE)`);

    const counts = {};
    for (const table of ['clients', 'users', 'sessions', 'token_families', 'refresh_tokens']) {
      const { rows } = await client.query(`SELECT count(*)::int AS n FROM ${table}`);
      counts[table] = rows[0].n;
    }
    const { rows: states } = await client.query(`
      SELECT CASE
               WHEN f.revoked_at IS NOT NULL THEN 'revoked family'
               WHEN r.rotated_at IS NOT NULL THEN 'rotated'
               WHEN r.expires_at <= now() THEN 'expired'
               ELSE 'live' END AS state,
             count(*)::int AS n
      FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
      GROUP BY 1 ORDER BY 1`);
    return {
      tag,
      counts,
      refreshTokenStates: Object.fromEntries(states.map((r) => [r.state, r.n])),
      seconds: timings,
    };
  } finally {
    await client.end();
  }
}

// Two admin-defined roles besides the built-in ones (src/users/permissions.ts).
const ROLES_SQL = `
  INSERT INTO roles (name, description, permissions) VALUES
    ('support', 'Reads and answers support tickets', '{user,tickets:read,tickets:write}'),
    ('auditor', 'Reads audit reports', '{user,audit:read}')
  ON CONFLICT (name) DO NOTHING`;

// Mostly plain users; some support staff and auditors, one admin in a thousand, 2% disabled.
function usersSql(tag) {
  return `
    INSERT INTO users (email, email_verified, display_name, status, roles, created_at, updated_at)
    SELECT 'user' || n || '.${tag}@seed.example.com',
           n % 10 <> 0,
           'Seed User ' || n,
           CASE WHEN n % 50 = 0 THEN 'disabled' ELSE 'active' END,
           CASE WHEN n % 1000 = 1 THEN '{admin}'::text[]
                WHEN n % 20 = 2 THEN '{user,support}'::text[]
                WHEN n % 50 = 3 THEN '{user,auditor}'::text[]
                ELSE '{user}'::text[] END,
           created, created
    FROM (SELECT n, now() - random() * interval '730 days' AS created
          FROM generate_series(1, $1::int) AS n) s`;
}

// Kinds, by n % 20: 40% service clients (client_credentials), 35% confidential web apps and
// 15% native public apps (authorization_code + refresh_token), 10% dynamically registered
// (RFC 7591) confidential apps, some owned by a user. Names end in the batch tag.
function clientsSql(tag) {
  return `
    INSERT INTO clients (id, name, type, secret_hash, secret_rotated_at, redirect_uris,
      post_logout_redirect_uris, grant_types, response_types, allowed_scopes,
      token_endpoint_auth_method, owner_user_id, contacts, logo_uri, source, application_type,
      registration_access_token_hash, created_at, updated_at, last_used_at)
    SELECT gen_random_uuid()::text,
           CASE WHEN k < 8 THEN 'Service ' WHEN k < 15 THEN 'Web app ' WHEN k < 18 THEN 'Native app '
                ELSE 'Registered app ' END || n || ' ${tag}',
           CASE WHEN k BETWEEN 15 AND 17 THEN 'public' ELSE 'confidential' END,
           CASE WHEN k BETWEEN 15 AND 17 THEN NULL ELSE ${RANDOM_HASH} END,
           CASE WHEN k BETWEEN 15 AND 17 THEN NULL ELSE created END,
           CASE WHEN k < 8 THEN '{}'::text[]
                WHEN k < 15 OR k >= 18 THEN ARRAY['https://app' || n || '.example.com/callback']
                ELSE ARRAY['http://127.0.0.1/callback', 'com.example.app' || n || ':/oauth'] END,
           CASE WHEN k BETWEEN 8 AND 14 THEN ARRAY['https://app' || n || '.example.com/']
                ELSE '{}'::text[] END,
           CASE WHEN k < 8 THEN '{client_credentials}'::text[]
                ELSE '{authorization_code,refresh_token}'::text[] END,
           CASE WHEN k < 8 THEN '{}'::text[] ELSE '{code}'::text[] END,
           CASE k % 4 WHEN 0 THEN '{reports:read}'::text[]
                      WHEN 1 THEN '{orders:read,orders:write}'::text[]
                      WHEN 2 THEN '{inventory:read}'::text[]
                      ELSE '{}'::text[] END,
           CASE WHEN k BETWEEN 15 AND 17 THEN 'none'
                WHEN n % 3 = 0 THEN 'client_secret_post' ELSE 'client_secret_basic' END,
           NULL,
           CASE WHEN k >= 18 THEN ARRAY['ops' || n || '@example.com'] ELSE '{}'::text[] END,
           CASE WHEN k BETWEEN 8 AND 14 THEN 'https://app' || n || '.example.com/logo.png' END,
           CASE WHEN k >= 18 THEN 'dcr' ELSE 'admin' END,
           CASE WHEN k BETWEEN 15 AND 17 THEN 'native' ELSE 'web' END,
           CASE WHEN k >= 18 THEN ${RANDOM_HASH} END,
           created, created,
           CASE WHEN n % 4 <> 0 THEN now() - random() * interval '60 days' END
    FROM (SELECT n, n % 20 AS k, now() - random() * interval '730 days' AS created
          FROM generate_series(1, $1::int) AS n) s`;
}

// The families to create, as a plan: how many tokens each holds (rotations + 1, mean about 3.5),
// its fate and its timeline, cut so that the token counts add up to exactly $1.
//   55% live: used in the last week, the newest token valid;
//   25% expired: abandoned more than 30 days ago (REFRESH_TOKEN_TTL_SECONDS), none valid;
//   12% revoked: sign-out, reuse detected, client revocation, disabled user;
//    8% idle: last used 20 to 29 days ago, about to expire.
const FAMILY_PLAN_SQL = `
  CREATE TEMP TABLE seed_families AS
  WITH candidates AS (
    SELECT j,
           least(20, 1 + floor(-ln(1 - random()) * 2.5))::int AS len,
           random() AS fate,
           interval '15 minutes' + random() * interval '1 day' AS step
    FROM generate_series(1, ($1::int + 1) / 2) AS j
  ), placed AS (
    SELECT *, sum(len) OVER (ORDER BY j) - len AS first FROM candidates
  )
  SELECT j, gen_random_uuid() AS id, least(len, $1::int - first)::int AS len, step,
         CASE WHEN fate < 0.55 THEN 'live' WHEN fate < 0.80 THEN 'expired'
              WHEN fate < 0.92 THEN 'revoked' ELSE 'idle' END AS fate,
         CASE WHEN fate < 0.55 THEN now() - random() * interval '7 days'
              WHEN fate < 0.80 THEN now() - interval '31 days' - random() * interval '300 days'
              WHEN fate < 0.92 THEN now() - random() * interval '60 days'
              ELSE now() - interval '20 days' - random() * interval '9 days' END AS last_at
  FROM placed WHERE first < $1::int`;

// One browser session for every two families: a user signs in once and authorizes two apps.
const SESSIONS_SQL = `
  CREATE TEMP TABLE seed_sessions AS
  SELECT s AS n, gen_random_uuid() AS id,
         (SELECT id FROM seed_users WHERE n = 1 + (s::bigint * 7919) % (SELECT count(*) FROM seed_users)) AS user_id
  FROM generate_series(1, ((SELECT count(*) FROM seed_families) + 1) / 2) AS s;
  CREATE UNIQUE INDEX ON seed_sessions (n);
  ANALYZE seed_sessions;
  INSERT INTO sessions (id, sid_hash, user_id, auth_time, amr, user_agent, created_at,
    last_seen_at, expires_at, revoked_at)
  SELECT s.id, ${RANDOM_HASH}, s.user_id, t.at, '{webauthn,user}',
         'Mozilla/5.0 (X11; Linux x86_64) Seed/1.0', t.at, t.at + interval '1 hour',
         t.at + interval '8 hours',
         CASE WHEN s.n % 10 = 0 THEN t.at + interval '2 hours' END
  FROM seed_sessions s, LATERAL (SELECT now() - random() * interval '400 days' AS at) t`;

const TOKEN_FAMILIES_SQL = `
  INSERT INTO token_families (id, client_id, user_id, session_id, created_at, revoked_at,
    revoked_reason, auth_time, amr)
  SELECT f.id, a.id, s.user_id, s.id, started, 
         CASE WHEN f.fate = 'revoked' THEN f.last_at + interval '5 minutes' END,
         CASE WHEN f.fate <> 'revoked' THEN NULL
              WHEN f.j % 4 = 0 THEN 'signed_out' WHEN f.j % 4 = 1 THEN 'refresh_reuse'
              WHEN f.j % 4 = 2 THEN 'client_revocation' ELSE 'user_inactive' END,
         started, '{webauthn,user}'
  FROM seed_families f
  JOIN seed_sessions s ON s.n = 1 + (f.j - 1) / 2
  JOIN seed_apps a ON a.n = 1 + (f.j::bigint * 104729) % (SELECT count(*) FROM seed_apps)
  CROSS JOIN LATERAL (SELECT f.last_at - (f.len - 1) * f.step AS started) t`;

// Every token but a family's newest was rotated when its successor was issued; the successor's
// plaintext is sealed on it (successor-sealing.ts), here an opaque value of the same length
// (12-byte IV, 16-byte tag, 49-byte token), since the real plaintexts do not exist.
const REFRESH_TOKENS_SQL = `
  INSERT INTO refresh_tokens (id, token_hash, family_id, parent_id, scope, resources, created_at,
    expires_at, rotated_at, successor_id, successor_enc)
  SELECT id, ${RANDOM_HASH}, family_id,
         lag(id) OVER w, scope, '{}', created_at, created_at + interval '30 days',
         lead(created_at) OVER w, lead(id) OVER w,
         CASE WHEN lead(id) OVER w IS NOT NULL THEN pg_temp.b64url(${randomBytesSql(77)}) END
  FROM (
    SELECT gen_random_uuid() AS id, f.id AS family_id, i,
           f.last_at - (f.len - 1 - i) * f.step AS created_at,
           CASE f.j % 3 WHEN 0 THEN 'openid offline_access user'
                        WHEN 1 THEN 'openid profile email offline_access user'
                        ELSE 'offline_access user' END AS scope
    FROM seed_families f, generate_series(0, f.len - 1) AS i
  ) t
  WINDOW w AS (PARTITION BY family_id ORDER BY i)`;

const CONSENTS_SQL = `
  INSERT INTO consents (user_id, client_id, scopes, created_at, updated_at)
  SELECT DISTINCT ON (f.user_id, f.client_id) f.user_id, f.client_id,
         '{openid,offline_access,user}', f.created_at, f.created_at
  FROM token_families f JOIN seed_families p ON p.id = f.id
  ORDER BY f.user_id, f.client_id, f.created_at
  ON CONFLICT DO NOTHING`;

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const sizes = seedSizes();
  const log = (message) => process.stderr.write(`seed: ${message}\n`);
  const started = performance.now();
  if (process.env.SEED_SKIP_MIGRATE !== '1') {
    log('running migrations');
    await migrate(url);
  }
  log(
    `seeding ${sizes.clients} clients, ${sizes.users} users, ${sizes.refreshTokens} refresh tokens`,
  );
  const result = await seedDatabase(url, sizes, log);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ ...result, totalSeconds: seconds }, null, 2)}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`seed: failed: ${err.message}\n`);
    process.exitCode = 1;
  }
}
