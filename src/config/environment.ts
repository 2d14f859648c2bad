import { plainToInstance } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  validateSync,
  type ValidationError,
} from 'class-validator';
import { Type } from 'class-transformer';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const ACCESS_TOKEN_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const;
export const ID_TOKEN_ALGS = ['RS256', 'PS256', 'ES256'] as const;
export const REGISTRATION_MODES = ['open', 'initial-access-token', 'off'] as const;

/**
 * The raw environment, as strings, validated once at start. Every duration carries its unit
 * in its name. `loadConfig()` turns this into the typed, nested `AppConfig`.
 */
export class EnvironmentVariables {
  @IsOptional()
  @IsIn(['development', 'production', 'test'])
  NODE_ENV?: 'development' | 'production' | 'test';

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  @IsOptional()
  @IsString()
  HOST?: string;

  /** The issuer identifier: https (or http on a loopback host), no query, fragment or trailing slash. */
  @IsOptional()
  @IsString()
  ISSUER?: string;

  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// or postgresql:// URL' })
  DATABASE_URL?: string;

  @IsOptional()
  @IsString()
  DATA_DIR?: string;

  /** 32 bytes, as 64 hex characters or base64/base64url. */
  @IsOptional()
  @Matches(/^([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$/, {
    message: 'must be 32 bytes, as 64 hex characters or 43 base64url characters',
  })
  MASTER_KEY?: string;

  @IsOptional()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @IsOptional()
  @Matches(/^(auto|[1-9][0-9]{0,2})$/, { message: "must be 'auto' or a number of workers" })
  WORKERS?: string;

  /** Node.js's own; read only so that the workers' V8 heap flags leave an operator's value be. */
  @IsOptional()
  @IsString()
  NODE_OPTIONS?: string;

  @IsOptional()
  @IsIn(LOG_LEVELS)
  LOG_LEVEL?: (typeof LOG_LEVELS)[number];

  @IsOptional()
  @IsIn(ACCESS_TOKEN_ALGS)
  ACCESS_TOKEN_ALG?: (typeof ACCESS_TOKEN_ALGS)[number];

  @IsOptional()
  @IsIn(ID_TOKEN_ALGS)
  ID_TOKEN_ALG?: (typeof ID_TOKEN_ALGS)[number];

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(30)
  @Max(86400)
  ACCESS_TOKEN_TTL_SECONDS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(30)
  @Max(86400)
  ID_TOKEN_TTL_SECONDS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(60)
  @Max(31536000)
  REFRESH_TOKEN_TTL_SECONDS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(600)
  AUTHORIZATION_CODE_TTL_SECONDS?: number;

  /** RFC 8693: how many nested `act` levels an exchanged token may carry. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(16)
  TOKEN_EXCHANGE_MAX_DEPTH?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(60)
  REFRESH_REUSE_GRACE_SECONDS?: number;

  /** How long a rotated-in key is published as pending before it signs anything. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(604800)
  KEY_PROMOTION_DELAY_SECONDS?: number;

  /** The audience of the admin API (RFC 8707 resource identifier). */
  @IsOptional()
  @IsString()
  ADMIN_AUDIENCE?: string;

  /** `aud` of access tokens requested without a `resource`. */
  @IsOptional()
  @IsString()
  DEFAULT_AUDIENCE?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(10000000)
  CLIENT_CACHE_SIZE?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1024)
  @Max(10485760)
  BODY_LIMIT_BYTES?: number;

  /** Longest wait for a whole request body, in milliseconds. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(100)
  @Max(300000)
  BODY_READ_TIMEOUT_MS?: number;

  @IsOptional()
  @Matches(/^(true|false|[0-9]{1,2}|loopback|[0-9a-fA-F.:/, ]+)$/, {
    message: "must be 'true', 'false', a hop count, 'loopback' or a list of addresses",
  })
  TRUST_PROXY?: string;

  @IsOptional()
  @IsIn(['true', 'false'])
  MIGRATE_ON_START?: string;

  /** WebAuthn relying party id; defaults to the issuer's host name. */
  @IsOptional()
  @Matches(/^[a-z0-9.-]{1,253}$/, { message: 'must be a lower-case host name' })
  RP_ID?: string;

  /** The browser origin passkey ceremonies run on; defaults to the issuer's origin. */
  @IsOptional()
  @Matches(/^https?:\/\/[^/?#]+$/, { message: 'must be an origin like https://id.example.com' })
  WEBAUTHN_ORIGIN?: string;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(300)
  @Max(2592000)
  SESSION_TTL_SECONDS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(300)
  @Max(2592000)
  SETUP_LINK_TTL_SECONDS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(30)
  @Max(900)
  WEBAUTHN_CHALLENGE_TTL_SECONDS?: number;

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(30)
  @Max(86400)
  ANONYMOUS_TOKEN_TTL_SECONDS?: number;

  /**
   * Dynamic client registration (RFC 7591): `open` to anyone, `initial-access-token` with an
   * admin-issued bearer token, or `off`.
   */
  @IsOptional()
  @IsIn(REGISTRATION_MODES)
  REGISTRATION_MODE?: (typeof REGISTRATION_MODES)[number];

  /** The older name of RATE_LIMIT_REGISTRATION_PER_MINUTE, still honoured. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100000)
  REGISTRATION_RATE_LIMIT_PER_MINUTE?: number;

  /** Token requests per client address per minute; 0 turns the limit off. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_TOKEN_PER_MINUTE?: number;

  /** Token requests per authenticated client per minute, from any address; 0 = off. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE?: number;

  /** Authorization requests and consent decisions per address per minute; 0 = off. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_AUTHORIZE_PER_MINUTE?: number;

  /** Sign-in and setup pages and passkey ceremony calls per address per minute; 0 = off. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_WEBAUTHN_PER_MINUTE?: number;

  /** Anonymous session tokens per address per minute; 0 = off. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_ANONYMOUS_PER_MINUTE?: number;

  /** Registrations per address per minute; 0 = off. REGISTRATION_RATE_LIMIT_PER_MINUTE is the older name. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_REGISTRATION_PER_MINUTE?: number;

  /** Client metadata document fetches one address may cause per minute; 0 = off. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1000000)
  RATE_LIMIT_CIMD_FETCH_PER_MINUTE?: number;

  /** Prefix of every Redis key (rate-limit counters and locks), to share one Redis safely. */
  @IsOptional()
  @Matches(/^[A-Za-z0-9:_.-]{1,64}$/, { message: 'must be 1-64 characters of A-Z a-z 0-9 : _ . -' })
  REDIS_KEY_PREFIX?: string;

  /** How long a rate-limit check waits for Redis before letting the request through, in ms. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(10000)
  REDIS_COMMAND_TIMEOUT_MS?: number;

  /** Failed client authentications for one client id from one address before it locks there. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100000)
  CLIENT_AUTH_MAX_FAILURES?: number;

  /** Failed client authentications for one client id, from all addresses, before it locks everywhere. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000000)
  CLIENT_AUTH_MAX_FAILURES_PER_CLIENT?: number;

  /** How long a client id stays locked, in seconds; failures are counted over the same period. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86400)
  CLIENT_AUTH_LOCK_SECONDS?: number;

  /** Failed passkey assertions for one credential from one address before it locks there. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100000)
  PASSKEY_MAX_FAILURES?: number;

  /** Failed passkey assertions for one credential, from all addresses, before it locks everywhere. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000000)
  PASSKEY_MAX_FAILURES_PER_CREDENTIAL?: number;

  /** Failed passkey assertions from one address, any credential, before the address locks. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000000)
  PASSKEY_MAX_FAILURES_PER_ADDRESS?: number;

  /** How long a passkey sign-in lock lasts, in seconds; failures are counted over the same period. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86400)
  PASSKEY_LOCK_SECONDS?: number;

  /** Longest delay added to a failed client authentication or passkey assertion, in ms; 0 = none. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(10000)
  BRUTE_FORCE_MAX_DELAY_MS?: number;

  /** Self-registered and metadata-document clients unused for this many days are deleted. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(3650)
  STALE_CLIENT_DAYS?: number;

  /** Days audit events are kept before the cleanup job deletes them; 0 keeps them forever. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(36500)
  AUDIT_RETENTION_DAYS?: number;

  /** Serve Prometheus metrics at /metrics (and, with WORKERS > 1, on METRICS_PORT). */
  @IsOptional()
  @IsIn(['true', 'false'])
  METRICS_ENABLED?: string;

  /** A bearer token every scrape of /metrics must present; unset, /metrics is open. */
  @IsOptional()
  @Matches(/^[\x21-\x7e]{16,512}$/, {
    message: 'must be 16 to 512 visible ASCII characters without spaces',
  })
  METRICS_TOKEN?: string;

  /**
   * OpenTelemetry (src/tracing.ts reads these before anything else loads; they are validated
   * here too, so a malformed one stops the start with its name).
   */
  @IsOptional()
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an http:// or https:// URL' })
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;

  @IsOptional()
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an http:// or https:// URL' })
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string;

  @IsOptional()
  @Matches(/^[\x20-\x7e]{1,128}$/, { message: 'must be 1 to 128 printable ASCII characters' })
  OTEL_SERVICE_NAME?: string;

  /** Cluster mode (WORKERS > 1): the port where the primary serves every worker's metrics, summed. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(65535)
  METRICS_PORT?: number;

  /**
   * Seconds between runs of the job that deletes expired codes, tokens, sessions, challenges and
   * setup links; 0 turns it off.
   */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(86400)
  CLEANUP_INTERVAL_SECONDS?: number;

  /**
   * Hosts (host or host:port, comma-separated) that outbound fetches of CIMD documents and
   * jwks_uri may reach without the public-address check, and over http. For tests and internal
   * deployments; empty by default.
   */
  @IsOptional()
  @Matches(/^[A-Za-z0-9.:[\]-]+(\s*,\s*[A-Za-z0-9.:[\]-]+)*$/, {
    message: 'must be a comma-separated list of host or host:port entries',
  })
  FETCH_ALLOW_HOSTS?: string;

  /** Shortest time a fetched document is reused, in seconds (also for no-store answers). */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(86400)
  FETCH_CACHE_MIN_SECONDS?: number;

  /** Longest time a fetched document is reused, in seconds, whatever its Cache-Control says. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(604800)
  FETCH_CACHE_MAX_SECONDS?: number;

  /** Outbound fetches per second, across all hosts. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10000)
  FETCH_RATE_PER_SECOND?: number;

  /** Outbound fetches per second to one host. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10000)
  FETCH_HOST_RATE_PER_SECOND?: number;

  /** RFC 7523 client assertions: the longest accepted lifetime (exp - iat), in seconds. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(10)
  @Max(3600)
  CLIENT_ASSERTION_MAX_LIFETIME_SECONDS?: number;

  /** How long a CIMD client keeps working on its last good document when a refresh fails, in seconds. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(86400)
  CIMD_STALE_GRACE_SECONDS?: number;

  /** Email of the first admin user, created by bootstrap when no user holds the admin role. */
  @IsOptional()
  @IsEmail({ require_tld: false })
  ADMIN_EMAIL?: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function validateEnvironment(env: NodeJS.ProcessEnv): EnvironmentVariables {
  // Empty strings count as unset, so `FOO=` in a .env file does not trip validation.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const instance = plainToInstance(EnvironmentVariables, present, {
    excludeExtraneousValues: false,
  });
  const errors = validateSync(instance, { skipMissingProperties: false });
  if (errors.length > 0) {
    throw new ConfigError(errors.map(describeError).join('; '));
  }
  return instance;
}

function describeError(error: ValidationError): string {
  const reasons = Object.values(error.constraints ?? {}).map((text) =>
    text.replace(new RegExp(`^${error.property} `), ''),
  );
  return `${error.property}: ${reasons.join(', ')}`;
}
