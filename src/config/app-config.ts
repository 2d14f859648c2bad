import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import {
  ConfigError,
  validateEnvironment,
  type ACCESS_TOKEN_ALGS,
  type ID_TOKEN_ALGS,
  type LOG_LEVELS,
  type REGISTRATION_MODES,
} from './environment.js';

export type AccessTokenAlg = (typeof ACCESS_TOKEN_ALGS)[number];
export type IdTokenAlg = (typeof ID_TOKEN_ALGS)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];

/**
 * The typed configuration every service injects. Built once, at start, by `loadConfig()`.
 * It is a class so that it can serve as its own DI token.
 */
export class AppConfig {
  env: 'development' | 'production' | 'test';
  http: {
    port: number;
    host: string;
    /** Passed to express `trust proxy`. */
    trustProxy: boolean | number | string;
    /** Largest accepted request body, in bytes. */
    bodyLimitBytes: number;
    /** Longest wait for a whole request body, in milliseconds; then 408 and the connection closes. */
    bodyReadTimeoutMs: number;
  };
  /** Byte-identical everywhere: metadata, JWT `iss`, RFC 9207 `iss`. */
  issuer: string;
  database: {
    /** PostgreSQL connection URL; absent means embedded PGlite in `dataDir`. */
    url: string | null;
    dataDir: string;
    migrateOnStart: boolean;
  };
  /** 32-byte key for AES-256-GCM encryption of private keys at rest; null = generate into DATA_DIR. */
  masterKey: Buffer | null;
  redisUrl: string | null;
  workers: number;
  logLevel: LogLevel;
  tokens: {
    accessTokenAlg: AccessTokenAlg;
    idTokenAlg: IdTokenAlg;
    accessTokenTtlSeconds: number;
    idTokenTtlSeconds: number;
    refreshTokenTtlSeconds: number;
    authorizationCodeTtlSeconds: number;
    refreshReuseGraceSeconds: number;
    /** RFC 8693: the deepest delegation chain (nested `act`) an exchanged token may carry. */
    exchangeMaxDepth: number;
  };
  keys: {
    promotionDelaySeconds: number;
  };
  audiences: {
    admin: string;
    default: string;
  };
  clients: {
    cacheSize: number;
    /** RFC 7523 client assertions: longest accepted exp - iat, in seconds. */
    assertionMaxLifetimeSeconds: number;
    /** A CIMD client whose document cannot be refreshed keeps working this long, in seconds. */
    cimdStaleGraceSeconds: number;
  };
  /** Outbound fetches of client-supplied URLs (SafeFetcher). */
  fetch: {
    /** host or host:port entries that skip the public-address check and may use http. */
    allowHosts: string[];
    /** Bounds on how long a fetched document is reused, in seconds. */
    cacheMinSeconds: number;
    cacheMaxSeconds: number;
    /** Token-bucket rates, in fetches per second. */
    ratePerSecond: number;
    hostRatePerSecond: number;
  };
  /** Dynamic client registration (RFC 7591/7592) and the cleanup of unused registrations. */
  registration: {
    mode: RegistrationMode;
    /** Days without use after which a `dcr` or `cimd` client is deleted. */
    staleClientDays: number;
  };
  /**
   * Request limits, each per minute in a fixed window, per client address unless the name says
   * otherwise; 0 turns one off. Counters live in Redis when `redisUrl` is set, else in memory.
   */
  rateLimits: {
    tokenPerMinute: number;
    tokenPerClientPerMinute: number;
    authorizePerMinute: number;
    webauthnPerMinute: number;
    anonymousPerMinute: number;
    registrationPerMinute: number;
    cimdFetchPerMinute: number;
    /** Prefix of every Redis key this server writes. */
    redisKeyPrefix: string;
    /** A Redis call slower than this lets the request through, in milliseconds. */
    redisCommandTimeoutMs: number;
  };
  /**
   * Brute-force protection: failures first add a growing delay (up to `maxDelayMs`), then lock
   * for the lock period. Failures are counted over the lock period.
   */
  bruteForce: {
    clientAuthMaxFailures: number;
    clientAuthMaxFailuresPerClient: number;
    clientAuthLockSeconds: number;
    passkeyMaxFailures: number;
    passkeyMaxFailuresPerCredential: number;
    passkeyMaxFailuresPerAddress: number;
    passkeyLockSeconds: number;
    /** Longest delay added to one failed attempt, in milliseconds. */
    maxDelayMs: number;
  };
  audit: {
    /** Days audit events are kept; 0 keeps them forever. */
    retentionDays: number;
  };
  /** Prometheus metrics (src/health). */
  metrics: {
    enabled: boolean;
    /** Bearer token a scrape must present (compared in constant time); null = none. */
    token: string | null;
    /** Cluster mode: the primary's port for the metrics of all workers, summed. */
    clusterPort: number;
  };
  cleanup: {
    /** Seconds between runs of the expired-data cleanup job; 0 turns it off. */
    intervalSeconds: number;
  };
  webauthn: {
    rpId: string;
    rpName: string;
    origin: string;
    challengeTtlSeconds: number;
  };
  sessions: {
    /** Browser session lifetime, in seconds. */
    ttlSeconds: number;
    /** `__Host-lk_session` when the issuer is https, else `lk_session`. */
    cookieName: string;
    secureCookie: boolean;
    setupLinkTtlSeconds: number;
    anonymousTokenTtlSeconds: number;
  };

  bootstrap: {
    /** The first admin user's email (lower case). */
    adminEmail: string;
  };

  get embedded(): boolean {
    return this.database.url === null;
  }
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const raw = validateEnvironment(env);
  const config = new AppConfig();
  config.env = raw.NODE_ENV ?? 'development';
  const port = raw.PORT ?? 3000;
  config.http = {
    port,
    host: raw.HOST ?? '0.0.0.0',
    trustProxy: parseTrustProxy(raw.TRUST_PROXY),
    bodyLimitBytes: raw.BODY_LIMIT_BYTES ?? 64 * 1024,
    bodyReadTimeoutMs: raw.BODY_READ_TIMEOUT_MS ?? 10_000,
  };
  config.issuer = parseIssuer(raw.ISSUER ?? `http://localhost:${port}`);
  config.database = {
    url: raw.DATABASE_URL ?? null,
    dataDir: resolve(raw.DATA_DIR ?? './data'),
    migrateOnStart: (raw.MIGRATE_ON_START ?? 'true') === 'true',
  };
  config.masterKey = raw.MASTER_KEY ? decodeMasterKey(raw.MASTER_KEY) : null;
  if (config.masterKey === null && config.env === 'production') {
    throw new ConfigError('MASTER_KEY: is required when NODE_ENV=production');
  }
  config.redisUrl = raw.REDIS_URL ?? null;
  config.workers = parseWorkers(raw.WORKERS, config);
  config.logLevel = raw.LOG_LEVEL ?? 'info';
  config.tokens = {
    accessTokenAlg: raw.ACCESS_TOKEN_ALG ?? 'ES256',
    idTokenAlg: raw.ID_TOKEN_ALG ?? 'RS256',
    accessTokenTtlSeconds: raw.ACCESS_TOKEN_TTL_SECONDS ?? 900,
    idTokenTtlSeconds: raw.ID_TOKEN_TTL_SECONDS ?? 3600,
    refreshTokenTtlSeconds: raw.REFRESH_TOKEN_TTL_SECONDS ?? 30 * 86400,
    authorizationCodeTtlSeconds: raw.AUTHORIZATION_CODE_TTL_SECONDS ?? 60,
    refreshReuseGraceSeconds: raw.REFRESH_REUSE_GRACE_SECONDS ?? 10,
    exchangeMaxDepth: raw.TOKEN_EXCHANGE_MAX_DEPTH ?? 4,
  };
  config.keys = { promotionDelaySeconds: raw.KEY_PROMOTION_DELAY_SECONDS ?? 600 };
  config.audiences = {
    admin: parseResourceUri('ADMIN_AUDIENCE', raw.ADMIN_AUDIENCE ?? `${config.issuer}/admin`),
    default: parseResourceUri('DEFAULT_AUDIENCE', raw.DEFAULT_AUDIENCE ?? config.issuer),
  };
  config.clients = {
    cacheSize: raw.CLIENT_CACHE_SIZE ?? 10000,
    assertionMaxLifetimeSeconds: raw.CLIENT_ASSERTION_MAX_LIFETIME_SECONDS ?? 300,
    cimdStaleGraceSeconds: raw.CIMD_STALE_GRACE_SECONDS ?? 600,
  };
  config.fetch = {
    allowHosts: (raw.FETCH_ALLOW_HOSTS ?? '')
      .split(',')
      .map((entry) => entry.trim().toLowerCase())
      .filter((entry) => entry.length > 0),
    cacheMinSeconds: raw.FETCH_CACHE_MIN_SECONDS ?? 60,
    cacheMaxSeconds: raw.FETCH_CACHE_MAX_SECONDS ?? 86400,
    ratePerSecond: raw.FETCH_RATE_PER_SECOND ?? 20,
    hostRatePerSecond: raw.FETCH_HOST_RATE_PER_SECOND ?? 5,
  };
  if (config.fetch.cacheMinSeconds > config.fetch.cacheMaxSeconds) {
    throw new ConfigError('FETCH_CACHE_MIN_SECONDS: must not exceed FETCH_CACHE_MAX_SECONDS');
  }
  config.registration = {
    mode: raw.REGISTRATION_MODE ?? 'initial-access-token',
    staleClientDays: raw.STALE_CLIENT_DAYS ?? 30,
  };
  config.rateLimits = {
    tokenPerMinute: raw.RATE_LIMIT_TOKEN_PER_MINUTE ?? 1200,
    tokenPerClientPerMinute: raw.RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE ?? 600,
    authorizePerMinute: raw.RATE_LIMIT_AUTHORIZE_PER_MINUTE ?? 120,
    webauthnPerMinute: raw.RATE_LIMIT_WEBAUTHN_PER_MINUTE ?? 120,
    anonymousPerMinute: raw.RATE_LIMIT_ANONYMOUS_PER_MINUTE ?? 10,
    registrationPerMinute:
      raw.RATE_LIMIT_REGISTRATION_PER_MINUTE ?? raw.REGISTRATION_RATE_LIMIT_PER_MINUTE ?? 10,
    cimdFetchPerMinute: raw.RATE_LIMIT_CIMD_FETCH_PER_MINUTE ?? 30,
    redisKeyPrefix: raw.REDIS_KEY_PREFIX ?? 'latchkey:',
    redisCommandTimeoutMs: raw.REDIS_COMMAND_TIMEOUT_MS ?? 250,
  };
  config.bruteForce = {
    clientAuthMaxFailures: raw.CLIENT_AUTH_MAX_FAILURES ?? 10,
    clientAuthMaxFailuresPerClient: raw.CLIENT_AUTH_MAX_FAILURES_PER_CLIENT ?? 100,
    clientAuthLockSeconds: raw.CLIENT_AUTH_LOCK_SECONDS ?? 900,
    passkeyMaxFailures: raw.PASSKEY_MAX_FAILURES ?? 10,
    passkeyMaxFailuresPerCredential: raw.PASSKEY_MAX_FAILURES_PER_CREDENTIAL ?? 100,
    passkeyMaxFailuresPerAddress: raw.PASSKEY_MAX_FAILURES_PER_ADDRESS ?? 30,
    passkeyLockSeconds: raw.PASSKEY_LOCK_SECONDS ?? 900,
    maxDelayMs: raw.BRUTE_FORCE_MAX_DELAY_MS ?? 2000,
  };
  config.audit = { retentionDays: raw.AUDIT_RETENTION_DAYS ?? 365 };
  config.metrics = {
    enabled: (raw.METRICS_ENABLED ?? 'true') === 'true',
    token: raw.METRICS_TOKEN ?? null,
    clusterPort: raw.METRICS_PORT ?? 9464,
  };
  if (config.workers > 1 && config.metrics.enabled && config.metrics.clusterPort === port) {
    throw new ConfigError('METRICS_PORT: must differ from PORT');
  }
  config.cleanup = { intervalSeconds: raw.CLEANUP_INTERVAL_SECONDS ?? 300 };
  const issuerUrl = new URL(config.issuer);
  config.webauthn = {
    rpId: raw.RP_ID ?? issuerUrl.hostname,
    rpName: 'Latchkey',
    origin: raw.WEBAUTHN_ORIGIN ?? issuerUrl.origin,
    challengeTtlSeconds: raw.WEBAUTHN_CHALLENGE_TTL_SECONDS ?? 300,
  };
  const https = issuerUrl.protocol === 'https:';
  config.sessions = {
    ttlSeconds: raw.SESSION_TTL_SECONDS ?? 8 * 3600,
    cookieName: https ? '__Host-lk_session' : 'lk_session',
    secureCookie: https,
    setupLinkTtlSeconds: raw.SETUP_LINK_TTL_SECONDS ?? 24 * 3600,
    anonymousTokenTtlSeconds: raw.ANONYMOUS_TOKEN_TTL_SECONDS ?? 600,
  };
  config.bootstrap = { adminEmail: (raw.ADMIN_EMAIL ?? 'admin@localhost').toLowerCase() };
  return config;
}

function parseIssuer(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError('ISSUER: must be an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError('ISSUER: must use https (or http on a loopback host)');
  }
  // RFC 8414 §2: the issuer has no query or fragment.
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw new ConfigError('ISSUER: must not contain a query or fragment');
  }
  if (value.endsWith('/')) {
    throw new ConfigError('ISSUER: must not end with a slash');
  }
  return value;
}

export function issuerIsUnsafe(config: AppConfig): boolean {
  const url = new URL(config.issuer);
  return url.protocol === 'http:' && !isLoopbackHost(url.hostname);
}

function parseResourceUri(name: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.hash) throw new Error('fragment');
  } catch {
    throw new ConfigError(`${name}: must be an absolute URI without a fragment`);
  }
  return value;
}

function decodeMasterKey(value: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(value)
    ? Buffer.from(value, 'hex')
    : Buffer.from(value, 'base64url');
  if (key.length !== 32) throw new ConfigError('MASTER_KEY: must decode to exactly 32 bytes');
  return key;
}

function parseWorkers(value: string | undefined, config: AppConfig): number {
  const cores = availableParallelism();
  const fallback = config.database.url !== null && config.env === 'production' ? 'auto' : '1';
  const workers = (value ?? fallback) === 'auto' ? cores : Number(value ?? fallback);
  if (workers > 1 && config.database.url === null) {
    throw new ConfigError(
      'WORKERS: the embedded database is single-process; set DATABASE_URL to run more than one worker',
    );
  }
  return workers;
}

function parseTrustProxy(value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]+$/.test(value)) return Number(value);
  return value;
}
