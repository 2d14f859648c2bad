import type { EnvironmentVariables } from './environment.js';

/** The sections of the configuration reference, in order. */
export const ENVIRONMENT_GROUPS = {
  server: 'Server',
  storage: 'Storage, secrets and Redis',
  tokens: 'Tokens and signing keys',
  people: 'Passkeys and sessions',
  clients: 'Clients and registration',
  rateLimits: 'Rate limits',
  bruteForce: 'Brute-force protection',
  fetch: 'Outbound fetches',
  audit: 'Audit trail',
  operations: 'Metrics and housekeeping',
} as const;

export interface EnvironmentDoc {
  group: keyof typeof ENVIRONMENT_GROUPS;
  /** Markdown. What the setting does and why one would change it; type, range and unit are derived. */
  description: string;
  /**
   * The value in force when the variable is unset, as one would write it in the environment. A
   * test checks that setting it changes nothing, so it cannot drift from `loadConfig()`.
   */
  default?: string;
  /** Markdown, shown instead of `default` when the default is computed or there is none. */
  defaultText?: string;
}

/**
 * The one description of every environment variable. docs/configuration.md is generated from it
 * and from the validation rules of EnvironmentVariables (`npm run docs:config`); a variable
 * without an entry here does not compile.
 */
export const ENVIRONMENT_DOCS = {
  NODE_ENV: {
    group: 'server',
    description:
      '`production` requires `MASTER_KEY` and makes `WORKERS` default to `auto` on PostgreSQL.',
    default: 'development',
  },
  PORT: { group: 'server', description: 'HTTP port.', default: '3000' },
  HOST: { group: 'server', description: 'Address to listen on.', default: '0.0.0.0' },
  ISSUER: {
    group: 'server',
    description:
      'The issuer identifier, used byte for byte in metadata and tokens. An absolute http(s) URL ' +
      'without query, fragment or trailing slash; use https except on a loopback host (plain ' +
      'http elsewhere logs a warning). Behind a reverse proxy, this is the public URL.',
    defaultText: '`http://localhost:$PORT`',
  },
  WORKERS: {
    group: 'server',
    description:
      'Number of server processes (node cluster workers) per instance, 1–999, or `auto` for ' +
      'one per CPU core. More than 1 needs `DATABASE_URL`. `SIGUSR2` to the primary restarts them one ' +
      'at a time.',
    default: '1',
    defaultText: '`1`; `auto` when `NODE_ENV=production` and `DATABASE_URL` is set',
  },
  NODE_OPTIONS: {
    group: 'server',
    description:
      "Node.js's own options. The server runs with V8 heap settings that keep a worker under " +
      '200 MB (`--heap-growing-percent=50 --max-semi-space-size=8`, see docs/performance.md); ' +
      'the cluster primary gives them to its workers unless its command line or this variable ' +
      'sets the same flag, so a value set here wins.',
    defaultText: 'none',
  },
  LOG_LEVEL: { group: 'server', description: 'Logs are JSON lines.', default: 'info' },
  TRUST_PROXY: {
    group: 'server',
    description:
      'Express `trust proxy`: `true`, `false`, a hop count, `loopback`, or a list of addresses ' +
      'or CIDR subnets of the proxies in front. It decides the client address of rate limits, ' +
      'brute-force locks, audit and access log. With `false`, `X-Forwarded-For` is ignored; ' +
      'trusting more hops than there are proxies lets clients choose their own address.',
    default: 'false',
  },
  BODY_LIMIT_BYTES: {
    group: 'server',
    description:
      'Largest accepted request body, on every route that takes one. A larger body gets 413 ' +
      '(`invalid_request` on protocol endpoints, `payload_too_large` on the admin API).',
    default: '65536',
  },
  BODY_READ_TIMEOUT_MS: {
    group: 'server',
    description:
      'Longest wait for a whole request body. A slower body gets 408 and the connection is closed.',
    default: '10000',
  },
  DATABASE_URL: {
    group: 'storage',
    description:
      'PostgreSQL URL. Unset, Latchkey runs on the embedded database in `DATA_DIR`, which is ' +
      'single-process. Each process opens a pool of up to 10 connections, plus one for ' +
      '`LISTEN/NOTIFY`.',
    defaultText: 'unset: the embedded database',
  },
  DATA_DIR: {
    group: 'storage',
    description:
      'Directory of the embedded database (`DATA_DIR/pg`) and of a generated master key ' +
      '(`DATA_DIR/master.key`). Relative to the working directory.',
    default: './data',
  },
  MIGRATE_ON_START: {
    group: 'storage',
    description:
      'Run pending migrations when the server starts. Instances starting at once take turns ' +
      'through an advisory lock; set `false` where migrations run as a separate step ' +
      '(`npm run cli -- migrate`).',
    default: 'true',
  },
  MASTER_KEY: {
    group: 'storage',
    description:
      '32 bytes, as 64 hex characters or 43 base64url characters. Encrypts the signing keys at ' +
      'rest (AES-256-GCM). Required when `NODE_ENV=production`. Keep it for the life of the ' +
      'database and back it up apart from it: losing it makes the stored signing keys unusable.',
    defaultText: 'unset: generated into `DATA_DIR/master.key` (refused in production)',
  },
  REDIS_URL: {
    group: 'storage',
    description:
      'When set, rate-limit counters and brute-force locks live in Redis, so limits hold across ' +
      'instances; unset, each process counts in memory. If Redis does not answer within ' +
      '`REDIS_COMMAND_TIMEOUT_MS`, requests are let through and a warning is logged.',
    defaultText: 'unset: counters in memory, per process',
  },
  REDIS_KEY_PREFIX: {
    group: 'storage',
    description: 'Prefix of every Redis key, so one Redis can serve several deployments.',
    default: 'latchkey:',
  },
  REDIS_COMMAND_TIMEOUT_MS: {
    group: 'storage',
    description: 'How long a rate-limit check waits for Redis before letting the request through.',
    default: '250',
  },
  ACCESS_TOKEN_ALG: {
    group: 'tokens',
    description: 'Signing algorithm of access tokens.',
    default: 'ES256',
  },
  ID_TOKEN_ALG: {
    group: 'tokens',
    description: 'Signing algorithm of ID tokens.',
    default: 'RS256',
  },
  ACCESS_TOKEN_TTL_SECONDS: {
    group: 'tokens',
    description:
      'Access-token lifetime. A registered resource may set its own (`access_token_ttl_seconds`).',
    default: '900',
  },
  ID_TOKEN_TTL_SECONDS: { group: 'tokens', description: 'ID-token lifetime.', default: '3600' },
  REFRESH_TOKEN_TTL_SECONDS: {
    group: 'tokens',
    description:
      'Refresh-token lifetime. Each rotation issues a new refresh token with a full lifetime.',
    default: '2592000',
  },
  AUTHORIZATION_CODE_TTL_SECONDS: {
    group: 'tokens',
    description: 'Authorization-code lifetime.',
    default: '60',
  },
  REFRESH_REUSE_GRACE_SECONDS: {
    group: 'tokens',
    description:
      'Window in which reuse of a rotated refresh token gets the current token back instead of ' +
      'revoking the whole grant.',
    default: '10',
  },
  TOKEN_EXCHANGE_MAX_DEPTH: {
    group: 'tokens',
    description:
      'Token exchange (RFC 8693): the deepest delegation chain (nested `act` claims) an ' +
      'exchanged token may carry.',
    default: '4',
  },
  KEY_PROMOTION_DELAY_SECONDS: {
    group: 'tokens',
    description:
      'How long a newly rotated key is published as pending before it signs anything. Lets ' +
      'caches, and the other Latchkey instances, pick up the new JWKS first; `0` is safe only ' +
      'for a single instance.',
    default: '600',
  },
  ADMIN_AUDIENCE: {
    group: 'tokens',
    description:
      'Resource identifier (audience) of the admin API. An absolute URI without fragment.',
    defaultText: '`$ISSUER/admin`',
  },
  DEFAULT_AUDIENCE: {
    group: 'tokens',
    description:
      '`aud` of access tokens requested without `resource`; UserInfo accepts only tokens for ' +
      'this audience. An absolute URI without fragment.',
    defaultText: '`$ISSUER`',
  },
  ANONYMOUS_TOKEN_TTL_SECONDS: {
    group: 'tokens',
    description: 'Lifetime of an anonymous session token from `/oauth/anonymous`.',
    default: '600',
  },
  RP_ID: {
    group: 'people',
    description:
      'WebAuthn relying-party id, a lower-case host name. Passkeys are bound to it: changing ' +
      'it later makes existing passkeys unusable.',
    defaultText: "the issuer's host name",
  },
  WEBAUTHN_ORIGIN: {
    group: 'people',
    description: 'Browser origin of passkey ceremonies, such as `https://id.example.com`.',
    defaultText: "the issuer's origin",
  },
  SESSION_TTL_SECONDS: {
    group: 'people',
    description: 'Browser session lifetime after sign-in.',
    default: '28800',
  },
  SETUP_LINK_TTL_SECONDS: {
    group: 'people',
    description: 'Lifetime of a passkey setup link.',
    default: '86400',
  },
  WEBAUTHN_CHALLENGE_TTL_SECONDS: {
    group: 'people',
    description: 'Lifetime of a WebAuthn challenge: how long a passkey prompt may stay open.',
    default: '300',
  },
  ADMIN_EMAIL: {
    group: 'people',
    description:
      'Email of the first admin user, which bootstrap creates when no user holds the admin ' +
      'role (stored in lower case).',
    default: 'admin@localhost',
  },
  CLIENT_CACHE_SIZE: {
    group: 'clients',
    description: 'Number of clients kept in the in-memory cache of each process.',
    default: '10000',
  },
  REGISTRATION_MODE: {
    group: 'clients',
    description:
      'Dynamic client registration (RFC 7591) at `/oauth/register`: `open` to anyone, ' +
      '`initial-access-token` with a bearer token from `POST /admin/initial-access-tokens`, or ' +
      '`off` (403 `access_denied`, and no `registration_endpoint` in discovery; clients already ' +
      'registered can still be managed with RFC 7592). Client ID metadata documents work in ' +
      'every mode.',
    default: 'initial-access-token',
  },
  STALE_CLIENT_DAYS: {
    group: 'clients',
    description:
      'Self-registered and metadata-document clients unused for this long are deleted by an ' +
      'hourly job, with an audit event each. Clients created through the admin API are never ' +
      'deleted.',
    default: '30',
  },
  CLIENT_ASSERTION_MAX_LIFETIME_SECONDS: {
    group: 'clients',
    description:
      'Longest accepted lifetime (`exp` − `iat`) of a `private_key_jwt` client assertion.',
    default: '300',
  },
  CIMD_STALE_GRACE_SECONDS: {
    group: 'clients',
    description:
      'How long a metadata-document client keeps working on its last good document when ' +
      'fetching it again fails for a passing reason (network, timeout, DNS, rate limit).',
    default: '600',
  },
  RATE_LIMIT_TOKEN_PER_MINUTE: {
    group: 'rateLimits',
    description:
      'Token requests per client address. Past any `RATE_LIMIT_*` limit the answer is 429 with ' +
      '`Retry-After` (OAuth error format on protocol endpoints); `0` turns a limit off. ' +
      'Without `REDIS_URL` each process counts on its own.',
    default: '1200',
  },
  RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: {
    group: 'rateLimits',
    description: 'Token requests per authenticated client, from any address.',
    default: '600',
  },
  RATE_LIMIT_AUTHORIZE_PER_MINUTE: {
    group: 'rateLimits',
    description: 'Authorization requests and consent decisions per address.',
    default: '120',
  },
  RATE_LIMIT_WEBAUTHN_PER_MINUTE: {
    group: 'rateLimits',
    description: 'Sign-in and setup pages and passkey ceremony calls per address.',
    default: '120',
  },
  RATE_LIMIT_ANONYMOUS_PER_MINUTE: {
    group: 'rateLimits',
    description: 'Anonymous session tokens per address.',
    default: '10',
  },
  RATE_LIMIT_REGISTRATION_PER_MINUTE: {
    group: 'rateLimits',
    description: 'Dynamic registrations per address.',
    default: '10',
  },
  REGISTRATION_RATE_LIMIT_PER_MINUTE: {
    group: 'rateLimits',
    description:
      'The older name of `RATE_LIMIT_REGISTRATION_PER_MINUTE`, still honoured when that one is unset.',
    defaultText: 'unset',
  },
  RATE_LIMIT_CIMD_FETCH_PER_MINUTE: {
    group: 'rateLimits',
    description: 'Client metadata document fetches one address may cause.',
    default: '30',
  },
  CLIENT_AUTH_MAX_FAILURES: {
    group: 'bruteForce',
    description:
      'Failed client authentications for one client id from one address before that pair ' +
      'locks. Failures add a growing delay first.',
    default: '10',
  },
  CLIENT_AUTH_MAX_FAILURES_PER_CLIENT: {
    group: 'bruteForce',
    description:
      'Failed client authentications for one client id from all addresses before it locks ' +
      'everywhere. Higher than the per-address threshold, so one attacker cannot lock a client ' +
      'out elsewhere.',
    default: '100',
  },
  CLIENT_AUTH_LOCK_SECONDS: {
    group: 'bruteForce',
    description:
      'How long a client authentication lock lasts; failures are counted over the same period. ' +
      'A locked client gets 429 with `Retry-After`, and the event is audited.',
    default: '900',
  },
  PASSKEY_MAX_FAILURES: {
    group: 'bruteForce',
    description:
      'Failed passkey assertions for one credential from one address before that pair locks.',
    default: '10',
  },
  PASSKEY_MAX_FAILURES_PER_CREDENTIAL: {
    group: 'bruteForce',
    description:
      'Failed passkey assertions for one credential from all addresses before it locks everywhere.',
    default: '100',
  },
  PASSKEY_MAX_FAILURES_PER_ADDRESS: {
    group: 'bruteForce',
    description:
      'Failed passkey assertions from one address, any credential, before the address locks.',
    default: '30',
  },
  PASSKEY_LOCK_SECONDS: {
    group: 'bruteForce',
    description:
      'How long a passkey sign-in lock lasts; failures are counted over the same period.',
    default: '900',
  },
  BRUTE_FORCE_MAX_DELAY_MS: {
    group: 'bruteForce',
    description:
      'Longest delay added to a failed client authentication or passkey assertion; `0` adds none.',
    default: '2000',
  },
  FETCH_ALLOW_HOSTS: {
    group: 'fetch',
    description:
      'Comma-separated `host` or `host:port` entries that fetches of metadata documents and ' +
      '`jwks_uri` may reach without the public-address check, and over http. For tests and ' +
      'internal deployments.',
    defaultText: 'unset (empty)',
  },
  FETCH_CACHE_MIN_SECONDS: {
    group: 'fetch',
    description:
      'Shortest time a fetched document is reused, also when it says `no-store` or `no-cache`. ' +
      'Must not exceed `FETCH_CACHE_MAX_SECONDS`.',
    default: '60',
  },
  FETCH_CACHE_MAX_SECONDS: {
    group: 'fetch',
    description:
      'Longest time a fetched document is reused, whatever its `Cache-Control` or `Expires` says.',
    default: '86400',
  },
  FETCH_RATE_PER_SECOND: {
    group: 'fetch',
    description: 'Outbound fetches across all hosts, per process.',
    default: '20',
  },
  FETCH_HOST_RATE_PER_SECOND: {
    group: 'fetch',
    description: 'Outbound fetches to one host, per process.',
    default: '5',
  },
  AUDIT_RETENTION_DAYS: {
    group: 'audit',
    description:
      'Audit events older than this are deleted by an hourly job, in batches, on one node at a ' +
      'time; `0` keeps them forever.',
    default: '365',
  },
  METRICS_ENABLED: {
    group: 'operations',
    description:
      'Serves Prometheus metrics at `GET /metrics`; `false` answers 404 there and stops timing ' +
      'requests.',
    default: 'true',
  },
  METRICS_TOKEN: {
    group: 'operations',
    description:
      'Bearer token a scrape of `/metrics` must present (compared in constant time). Unset: ' +
      'anyone who reaches the port may scrape; production logs a warning then.',
    defaultText: 'none',
  },
  METRICS_PORT: {
    group: 'operations',
    description:
      'With `WORKERS` above 1: the port on which the primary process serves the metrics of all ' +
      'workers, summed (a scrape of the service port reaches one worker only). Must differ from ' +
      '`PORT`.',
    default: '9464',
  },
  OTEL_EXPORTER_OTLP_ENDPOINT: {
    group: 'operations',
    description:
      'Turns on OpenTelemetry tracing: spans of requests, express middleware and PostgreSQL ' +
      'statements (never their parameters) go to this OTLP/HTTP collector (`/v1/traces` is ' +
      'appended). Unset: no tracing code is even loaded. The other standard `OTEL_*` ' +
      'variables of the exporter apply.',
    defaultText: 'none (tracing off)',
  },
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: {
    group: 'operations',
    description:
      'As `OTEL_EXPORTER_OTLP_ENDPOINT`, for traces only, used as the full URL; it wins over it.',
    defaultText: 'none',
  },
  OTEL_SERVICE_NAME: {
    group: 'operations',
    description: 'The `service.name` of exported spans.',
    default: 'latchkey',
  },
  CLEANUP_INTERVAL_SECONDS: {
    group: 'operations',
    description:
      'Time between runs of the expired-data cleanup (codes, token families, revoked ids, ' +
      'challenges, setup links, sessions), which runs on one node at a time, in short batches; ' +
      '`0` turns it off, and those tables then only grow.',
    default: '300',
  },
} satisfies Record<keyof EnvironmentVariables, EnvironmentDoc>;
