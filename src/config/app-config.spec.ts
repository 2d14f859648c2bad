import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { AppConfig, issuerIsUnsafe, loadConfig } from './app-config.js';
import { ConfigError } from './environment.js';

const DATABASE_URL = 'postgres://latchkey@127.0.0.1:5432/latchkey';

/** The ConfigError `run` throws; fails the test if it throws anything else, or nothing. */
function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, but the configuration loaded');
}

describe(AppConfig.name, () => {
  const sut = (env: NodeJS.ProcessEnv): AppConfig => loadConfig(env);

  describe('defaults', () => {
    it('fills every setting from an empty environment', () => {
      const config = sut({});

      expect(config).toBeInstanceOf(AppConfig);
      expect(config.env).toBe('development');
      expect(config.http).toEqual({
        port: 3000,
        host: '0.0.0.0',
        trustProxy: false,
        bodyLimitBytes: 64 * 1024,
        bodyReadTimeoutMs: 10_000,
      });
      expect(config.issuer).toBe('http://localhost:3000');
      expect(config.database).toEqual({
        url: null,
        dataDir: resolve('./data'),
        migrateOnStart: true,
      });
      expect(config.embedded).toBe(true);
      expect(config.masterKey).toBeNull();
      expect(config.redisUrl).toBeNull();
      expect(config.workers).toBe(1);
      expect(config.logLevel).toBe('info');
      expect(config.tokens).toEqual({
        accessTokenAlg: 'ES256',
        idTokenAlg: 'RS256',
        accessTokenTtlSeconds: 900,
        idTokenTtlSeconds: 3600,
        refreshTokenTtlSeconds: 30 * 86400,
        authorizationCodeTtlSeconds: 60,
        refreshReuseGraceSeconds: 10,
        exchangeMaxDepth: 4,
      });
      expect(config.keys).toEqual({ promotionDelaySeconds: 600 });
      expect(config.cleanup).toEqual({ intervalSeconds: 300 });
      expect(config.audiences).toEqual({
        admin: 'http://localhost:3000/admin',
        default: 'http://localhost:3000',
      });
      expect(config.clients).toEqual({
        cacheSize: 10000,
        assertionMaxLifetimeSeconds: 300,
        cimdStaleGraceSeconds: 600,
      });
      expect(config.fetch).toEqual({
        allowHosts: [],
        cacheMinSeconds: 60,
        cacheMaxSeconds: 86400,
        ratePerSecond: 20,
        hostRatePerSecond: 5,
      });
    });

    it('derives the default issuer and audiences from PORT', () => {
      const config = sut({ PORT: '4100' });

      expect(config.http.port).toBe(4100);
      expect(config.issuer).toBe('http://localhost:4100');
      expect(config.audiences.admin).toBe('http://localhost:4100/admin');
      expect(config.audiences.default).toBe('http://localhost:4100');
    });

    it('treats empty strings as unset', () => {
      const config = sut({ PORT: '', ISSUER: '', MASTER_KEY: '', WORKERS: '', LOG_LEVEL: '' });

      expect(config.http.port).toBe(3000);
      expect(config.issuer).toBe('http://localhost:3000');
      expect(config.masterKey).toBeNull();
      expect(config.workers).toBe(1);
      expect(config.logLevel).toBe('info');
    });

    it('keeps an issuer byte for byte and builds the admin audience from it', () => {
      const config = sut({ ISSUER: 'https://auth.example.com/tenant-a' });

      expect(config.issuer).toBe('https://auth.example.com/tenant-a');
      expect(config.audiences.admin).toBe('https://auth.example.com/tenant-a/admin');
      expect(config.audiences.default).toBe('https://auth.example.com/tenant-a');
    });

    it('reads every typed setting', () => {
      const config = sut({
        NODE_ENV: 'test',
        DATABASE_URL,
        WORKERS: '3',
        LOG_LEVEL: 'debug',
        REDIS_URL: 'rediss://cache.internal:6380',
        ACCESS_TOKEN_ALG: 'EdDSA',
        ID_TOKEN_ALG: 'PS256',
        ACCESS_TOKEN_TTL_SECONDS: '300',
        KEY_PROMOTION_DELAY_SECONDS: '0',
        TRUST_PROXY: '2',
        BODY_READ_TIMEOUT_MS: '2500',
        MIGRATE_ON_START: 'false',
        CLEANUP_INTERVAL_SECONDS: '0',
      });

      expect(config.embedded).toBe(false);
      expect(config.database.url).toBe(DATABASE_URL);
      expect(config.database.migrateOnStart).toBe(false);
      expect(config.workers).toBe(3);
      expect(config.logLevel).toBe('debug');
      expect(config.redisUrl).toBe('rediss://cache.internal:6380');
      expect(config.tokens.accessTokenAlg).toBe('EdDSA');
      expect(config.tokens.idTokenAlg).toBe('PS256');
      expect(config.tokens.accessTokenTtlSeconds).toBe(300);
      expect(config.keys.promotionDelaySeconds).toBe(0);
      expect(config.http.trustProxy).toBe(2);
      expect(config.http.bodyReadTimeoutMs).toBe(2500);
      expect(config.cleanup.intervalSeconds).toBe(0);
    });

    it('passes a trusted proxy list (addresses and CIDR subnets) to express as written', () => {
      expect(sut({ TRUST_PROXY: '10.0.0.0/8, 192.0.2.1' }).http.trustProxy).toBe(
        '10.0.0.0/8, 192.0.2.1',
      );
      expect(sut({ TRUST_PROXY: 'false' }).http.trustProxy).toBe(false);
      expect(sut({ TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    });

    it('has production rate limits and brute-force locks by default', () => {
      const config = sut({});

      expect(config.rateLimits).toEqual({
        tokenPerMinute: 1200,
        tokenPerClientPerMinute: 600,
        authorizePerMinute: 120,
        webauthnPerMinute: 120,
        anonymousPerMinute: 10,
        registrationPerMinute: 10,
        cimdFetchPerMinute: 30,
        redisKeyPrefix: 'latchkey:',
        redisCommandTimeoutMs: 250,
      });
      expect(config.bruteForce).toEqual({
        clientAuthMaxFailures: 10,
        clientAuthMaxFailuresPerClient: 100,
        clientAuthLockSeconds: 900,
        passkeyMaxFailures: 10,
        passkeyMaxFailuresPerCredential: 100,
        passkeyMaxFailuresPerAddress: 30,
        passkeyLockSeconds: 900,
        maxDelayMs: 2000,
      });
    });

    it('reads the rate-limit settings, 0 turning a limit off', () => {
      const config = sut({
        RATE_LIMIT_TOKEN_PER_MINUTE: '0',
        RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '50',
        RATE_LIMIT_AUTHORIZE_PER_MINUTE: '7',
        RATE_LIMIT_WEBAUTHN_PER_MINUTE: '8',
        RATE_LIMIT_ANONYMOUS_PER_MINUTE: '9',
        RATE_LIMIT_CIMD_FETCH_PER_MINUTE: '11',
        REDIS_KEY_PREFIX: 'tenant-a:',
        CLIENT_AUTH_MAX_FAILURES: '4',
        CLIENT_AUTH_LOCK_SECONDS: '60',
        PASSKEY_LOCK_SECONDS: '120',
        BRUTE_FORCE_MAX_DELAY_MS: '0',
      });

      expect(config.rateLimits).toMatchObject({
        tokenPerMinute: 0,
        tokenPerClientPerMinute: 50,
        authorizePerMinute: 7,
        webauthnPerMinute: 8,
        anonymousPerMinute: 9,
        cimdFetchPerMinute: 11,
        redisKeyPrefix: 'tenant-a:',
      });
      expect(config.bruteForce).toMatchObject({
        clientAuthMaxFailures: 4,
        clientAuthLockSeconds: 60,
        passkeyLockSeconds: 120,
        maxDelayMs: 0,
      });
    });

    it('keeps the older registration limit name working; the new name wins', () => {
      expect(
        sut({ REGISTRATION_RATE_LIMIT_PER_MINUTE: '3' }).rateLimits.registrationPerMinute,
      ).toBe(3);
      expect(
        sut({ REGISTRATION_RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_REGISTRATION_PER_MINUTE: '4' })
          .rateLimits.registrationPerMinute,
      ).toBe(4);
    });

    it('serves metrics without a token by default, on 9464 for a cluster', () => {
      expect(sut({}).metrics).toEqual({ enabled: true, token: null, clusterPort: 9464 });
      expect(
        sut({ METRICS_ENABLED: 'false', METRICS_TOKEN: 'a'.repeat(16), METRICS_PORT: '9100' })
          .metrics,
      ).toEqual({ enabled: false, token: 'a'.repeat(16), clusterPort: 9100 });
    });

    it('runs one worker per core in production on PostgreSQL', () => {
      const config = sut({
        NODE_ENV: 'production',
        DATABASE_URL,
        MASTER_KEY: randomBytes(32).toString('hex'),
        ISSUER: 'https://auth.example.com',
      });

      expect(config.workers).toBe(availableParallelism());
    });
  });

  describe('bad settings', () => {
    it.each([
      ['PORT', { PORT: 'abc' }],
      ['PORT', { PORT: '70000' }],
      ['ISSUER', { ISSUER: 'https://auth.example.com?tenant=a' }],
      ['ISSUER', { ISSUER: 'https://auth.example.com#top' }],
      ['ISSUER', { ISSUER: 'https://auth.example.com/' }],
      ['ISSUER', { ISSUER: 'ftp://auth.example.com' }],
      ['ISSUER', { ISSUER: 'not a url' }],
      ['DATABASE_URL', { DATABASE_URL: 'mysql://root@127.0.0.1/latchkey' }],
      ['DATABASE_URL', { DATABASE_URL: '/var/run/postgresql' }],
      ['MASTER_KEY', { MASTER_KEY: 'abcd' }],
      ['MASTER_KEY', { MASTER_KEY: 'ab'.repeat(31) }],
      ['MASTER_KEY', { MASTER_KEY: 'ab'.repeat(33) }],
      ['WORKERS', { WORKERS: '0' }],
      ['WORKERS', { WORKERS: '-1' }],
      ['WORKERS', { WORKERS: '2' }],
      ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
      ['ACCESS_TOKEN_TTL_SECONDS', { ACCESS_TOKEN_TTL_SECONDS: '5' }],
      ['TOKEN_EXCHANGE_MAX_DEPTH', { TOKEN_EXCHANGE_MAX_DEPTH: '0' }],
      ['ACCESS_TOKEN_TTL_SECONDS', { ACCESS_TOKEN_TTL_SECONDS: '1.5' }],
      ['ACCESS_TOKEN_ALG', { ACCESS_TOKEN_ALG: 'HS256' }],
      ['ID_TOKEN_ALG', { ID_TOKEN_ALG: 'none' }],
      ['REDIS_URL', { REDIS_URL: 'http://x' }],
      ['NODE_ENV', { NODE_ENV: 'staging' }],
      ['KEY_PROMOTION_DELAY_SECONDS', { KEY_PROMOTION_DELAY_SECONDS: '-1' }],
      ['BODY_LIMIT_BYTES', { BODY_LIMIT_BYTES: '10' }],
      ['BODY_READ_TIMEOUT_MS', { BODY_READ_TIMEOUT_MS: '50' }],
      ['BODY_READ_TIMEOUT_MS', { BODY_READ_TIMEOUT_MS: 'soon' }],
      ['MIGRATE_ON_START', { MIGRATE_ON_START: 'yes' }],
      ['ADMIN_AUDIENCE', { ADMIN_AUDIENCE: 'https://auth.example.com/admin#x' }],
      ['DEFAULT_AUDIENCE', { DEFAULT_AUDIENCE: 'relative/path' }],
      ['RATE_LIMIT_TOKEN_PER_MINUTE', { RATE_LIMIT_TOKEN_PER_MINUTE: '-1' }],
      ['RATE_LIMIT_AUTHORIZE_PER_MINUTE', { RATE_LIMIT_AUTHORIZE_PER_MINUTE: 'lots' }],
      ['REDIS_KEY_PREFIX', { REDIS_KEY_PREFIX: 'has space' }],
      ['CLIENT_AUTH_MAX_FAILURES', { CLIENT_AUTH_MAX_FAILURES: '0' }],
      ['CLIENT_AUTH_LOCK_SECONDS', { CLIENT_AUTH_LOCK_SECONDS: '0' }],
      ['PASSKEY_LOCK_SECONDS', { PASSKEY_LOCK_SECONDS: '1.5' }],
      ['BRUTE_FORCE_MAX_DELAY_MS', { BRUTE_FORCE_MAX_DELAY_MS: '60000' }],
      ['METRICS_ENABLED', { METRICS_ENABLED: 'yes' }],
      ['METRICS_TOKEN', { METRICS_TOKEN: 'short' }],
      ['METRICS_TOKEN', { METRICS_TOKEN: 'has a space in the token' }],
      ['METRICS_PORT', { METRICS_PORT: '0' }],
      ['METRICS_PORT', { METRICS_PORT: '9464x' }],
      ['METRICS_PORT', { WORKERS: '2', DATABASE_URL, PORT: '9000', METRICS_PORT: '9000' }],
      ['CLEANUP_INTERVAL_SECONDS', { CLEANUP_INTERVAL_SECONDS: '-1' }],
      ['CLEANUP_INTERVAL_SECONDS', { CLEANUP_INTERVAL_SECONDS: '90000' }],
      ['CLEANUP_INTERVAL_SECONDS', { CLEANUP_INTERVAL_SECONDS: '5m' }],
    ])('stops on a bad %s (%j) with a message that names it', (name, env) => {
      const error = configErrorOf(() => sut(env));

      expect(error.name).toBe('ConfigError');
      expect(error.message).toMatch(new RegExp(`^${name}: \\S`));
    });

    it('refuses more than one worker on the embedded database, and allows it on PostgreSQL', () => {
      expect(configErrorOf(() => sut({ WORKERS: '2' })).message).toMatch(
        /^WORKERS: .*DATABASE_URL/,
      );
      expect(sut({ WORKERS: '2', DATABASE_URL }).workers).toBe(2);
    });

    it('names every bad variable when several are wrong', () => {
      const error = configErrorOf(() => sut({ PORT: 'abc', LOG_LEVEL: 'loud' }));

      expect(error.message).toMatch(/\bPORT: /);
      expect(error.message).toMatch(/\bLOG_LEVEL: /);
    });

    it('requires MASTER_KEY in production', () => {
      const error = configErrorOf(() =>
        sut({ NODE_ENV: 'production', DATABASE_URL, ISSUER: 'https://auth.example.com' }),
      );

      expect(error.message).toMatch(/^MASTER_KEY: .*production/);
    });
  });

  describe('MASTER_KEY', () => {
    const key = randomBytes(32);

    it('decodes 64 hex characters to 32 bytes', () => {
      const config = sut({ MASTER_KEY: key.toString('hex') });

      expect(config.masterKey).toHaveLength(32);
      expect(config.masterKey?.equals(key)).toBe(true);
    });

    it('decodes upper-case hex to the same bytes', () => {
      expect(sut({ MASTER_KEY: key.toString('hex').toUpperCase() }).masterKey?.equals(key)).toBe(
        true,
      );
    });

    it('decodes 43 base64url characters to 32 bytes', () => {
      const encoded = key.toString('base64url');
      expect(encoded).toHaveLength(43);

      const config = sut({ MASTER_KEY: encoded });

      expect(config.masterKey).toHaveLength(32);
      expect(config.masterKey?.equals(key)).toBe(true);
    });

    it('decodes padded standard base64 (with + and /) to the same 32 bytes', () => {
      const awkward = Buffer.alloc(32, 0xfb);
      const encoded = awkward.toString('base64');
      expect(encoded).toMatch(/[+/]/);
      expect(encoded).toHaveLength(44);

      expect(sut({ MASTER_KEY: encoded }).masterKey?.equals(awkward)).toBe(true);
    });
  });

  describe(issuerIsUnsafe.name, () => {
    it('flags http on a non-loopback host only', () => {
      expect(issuerIsUnsafe(sut({ ISSUER: 'http://auth.example.com' }))).toBe(true);
      expect(issuerIsUnsafe(sut({ ISSUER: 'http://127.0.0.1:3000' }))).toBe(false);
      expect(issuerIsUnsafe(sut({ ISSUER: 'http://localhost:3000' }))).toBe(false);
      expect(issuerIsUnsafe(sut({ ISSUER: 'https://auth.example.com' }))).toBe(false);
    });
  });
});
