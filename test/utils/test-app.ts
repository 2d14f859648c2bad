import type { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { DataSource } from 'typeorm';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { ClientsService } from '../../src/clients/clients.service.js';
import type { CreateClientDto } from '../../src/clients/dto/create-client.dto.js';
import { setLogger } from '../../src/common/logger.js';
import { createApp } from '../../src/configure-app.js';
import { pino } from 'pino';

export interface TestClient {
  client_id: string;
  client_secret: string;
}

export interface TestApp {
  app: INestApplication;
  config: AppConfig;
  /** http://127.0.0.1:<port> (or http://localhost:<port>): the issuer, byte for byte. */
  baseUrl: string;
  dataSource: DataSource;
  /** Creates a client straight through the service (not through the API under test). */
  createClient(dto?: Partial<CreateClientDto>): Promise<TestClient>;
  /** A client that is a service account with the admin role. */
  createAdminClient(): Promise<TestClient>;
  /** An access token for the admin API, from a fresh admin client. */
  adminToken(): Promise<string>;
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Every test talks from 127.0.0.1, many to one client: limits and locks well above what any
 * spec does, still switched on, so the whole suite runs through the limiter. Specs about the
 * limits themselves set their own values in `env`. Anonymous sessions and registrations keep
 * their production limits (10 a minute), which the suite has always lived with and tests.
 */
export const HIGH_LIMITS: Readonly<Record<string, string>> = {
  RATE_LIMIT_TOKEN_PER_MINUTE: '1000000',
  RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '1000000',
  RATE_LIMIT_AUTHORIZE_PER_MINUTE: '1000000',
  RATE_LIMIT_WEBAUTHN_PER_MINUTE: '1000000',
  RATE_LIMIT_CIMD_FETCH_PER_MINUTE: '1000000',
  CLIENT_AUTH_MAX_FAILURES: '100000',
  CLIENT_AUTH_MAX_FAILURES_PER_CLIENT: '1000000',
  PASSKEY_MAX_FAILURES: '100000',
  PASSKEY_MAX_FAILURES_PER_CREDENTIAL: '1000000',
  PASSKEY_MAX_FAILURES_PER_ADDRESS: '1000000',
  BRUTE_FORCE_MAX_DELAY_MS: '0',
};

export interface TestAppOptions {
  /**
   * The issuer's host name. `localhost` for real browsers: WebAuthn Level 3 §5.1.3 rejects an
   * origin whose effective domain is an IP address, while localhost is both a valid RP ID and a
   * secure context. The server listens on 127.0.0.1 either way.
   */
  host?: '127.0.0.1' | 'localhost';
}

/**
 * Boots the real server, through the same `createApp()` as `main.ts`, on the run's PostgreSQL
 * database and a free loopback port. `env` overrides settings.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  if (!process.env.LOG_TESTS) setLogger(pino({ level: 'silent' }));
  const port = await freePort();
  const baseUrl = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const config = loadConfig({
    DATABASE_URL: process.env.DATABASE_URL,
    MASTER_KEY: process.env.MASTER_KEY,
    NODE_ENV: 'test',
    PORT: String(port),
    ISSUER: baseUrl,
    LOG_LEVEL: process.env.LOG_TESTS ? 'debug' : 'silent',
    MIGRATE_ON_START: 'true',
    ...HIGH_LIMITS,
    ...env,
  });
  const app = await createApp(config);
  await app.listen(port, '127.0.0.1');
  const clients = app.get(ClientsService);

  const createClient = async (dto: Partial<CreateClientDto> = {}): Promise<TestClient> => {
    const created = await clients.create({ client_name: `test ${randomUUID()}`, ...dto });
    return { client_id: created.client_id, client_secret: created.client_secret ?? '' };
  };
  const createAdminClient = () =>
    createClient({ service_account_roles: ['admin'], allowed_scopes: ['admin'] });

  return {
    app,
    config,
    baseUrl,
    dataSource: app.get(DataSource),
    createClient,
    createAdminClient,
    async adminToken() {
      const admin = await createAdminClient();
      const response = await tokenRequest(baseUrl, admin, {
        grant_type: 'client_credentials',
        scope: 'admin',
        resource: config.audiences.admin,
      });
      const body = (await response.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`no admin token: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    close: () => app.close(),
  };
}

export function basicAuth(client: TestClient): string {
  const encode = (value: string) => encodeURIComponent(value);
  return (
    'Basic ' +
    Buffer.from(`${encode(client.client_id)}:${encode(client.client_secret)}`).toString('base64')
  );
}

/** POST a form to the token endpoint with HTTP Basic client authentication. */
export function tokenRequest(
  baseUrl: string,
  client: TestClient,
  params: Record<string, string> | URLSearchParams,
  path = '/oauth/token',
): Promise<Response> {
  return fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: basicAuth(client),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: params instanceof URLSearchParams ? params : new URLSearchParams(params),
  });
}

/** POST a form body (a string is sent as is, e.g. to repeat or mis-encode parameters). */
export function postForm(
  url: string,
  body: Record<string, string> | URLSearchParams | string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body:
      typeof body === 'string' || body instanceof URLSearchParams
        ? body
        : new URLSearchParams(body),
  });
}

/**
 * Polls `check` until it returns true, for at most `timeoutMs`: eventual consistency across
 * processes (LISTEN/NOTIFY), never a timing assertion. Returns the last result.
 */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 2000,
  intervalMs = 25,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
