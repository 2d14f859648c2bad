import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../../src/audit/audit.service.js';
import { RateLimitClock } from '../../src/rate-limits/rate-limit-store.js';
import { DocumentServer } from '../utils/document-server.js';
import { postRegistration, uniqueName } from '../utils/registration.js';
import { CookieJar, postJson } from '../utils/soft-authenticator.js';
import {
  basicAuth,
  eventually,
  postForm,
  startTestApp,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';
import { REDIRECT_URI } from '../utils/user-grants.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

/** Each test speaks from its own documentation-range address (RFC 5737), via the proxy header. */
let nextAddress = 1;
function freshAddress(): string {
  nextAddress += 1;
  return `198.51.100.${nextAddress}`;
}

/** A client that may get a token by client_credentials (it needs a scope to be granted). */
function serviceClient(sut: TestApp): Promise<TestClient> {
  return sut.createClient({ allowed_scopes: ['reports:read'] });
}

function tokenFrom(sut: TestApp, client: TestClient, address: string): Promise<Response> {
  return postForm(
    `${sut.baseUrl}/oauth/token`,
    { grant_type: 'client_credentials' },
    { authorization: basicAuth(client), 'x-forwarded-for': address },
  );
}

async function statuses(responses: Promise<Response>[]): Promise<number[]> {
  const out: number[] = [];
  for (const pending of responses) {
    const response = await pending;
    await response.arrayBuffer();
    out.push(response.status);
  }
  return out;
}

/** Sends `count` requests one after another and returns their statuses. */
async function repeat(count: number, send: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(...(await statuses([send()])));
  return out;
}

async function expectLimitedOAuth(response: Response, description: string): Promise<void> {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(await response.json()).toEqual({
    error: 'invalid_request',
    error_description: description,
  });
}

describe('rate limits', () => {
  const docs = new DocumentServer();
  let sut: TestApp;
  let clock: RateLimitClock;
  let now: number;

  beforeAll(async () => {
    await docs.start();
    sut = await startTestApp({
      TRUST_PROXY: 'loopback',
      REGISTRATION_MODE: 'open',
      FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port}`,
      RATE_LIMIT_CIMD_FETCH_PER_MINUTE: '2',
      RATE_LIMIT_TOKEN_PER_MINUTE: '3',
      RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE: '5',
      RATE_LIMIT_AUTHORIZE_PER_MINUTE: '2',
      RATE_LIMIT_WEBAUTHN_PER_MINUTE: '2',
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: '2',
      RATE_LIMIT_REGISTRATION_PER_MINUTE: '2',
    });
    // A clock the tests move: no window boundary can fall inside a test, and resets need no sleep.
    clock = sut.app.get(RateLimitClock);
    now = Date.now();
    clock.now = () => now;
  });

  afterAll(async () => {
    await sut.close();
    await docs.stop();
  });

  describe('POST /oauth/token', () => {
    it('answers 429 in OAuth JSON, with Retry-After and no-store, past the limit per address', async () => {
      const client = await serviceClient(sut);
      const address = freshAddress();
      expect(await repeat(3, () => tokenFrom(sut, client, address))).toEqual([200, 200, 200]);

      await expectLimitedOAuth(await tokenFrom(sut, client, address), 'too many requests');
      // Another address is not affected.
      expect(await statuses([tokenFrom(sut, client, freshAddress())])).toEqual([200]);
    });

    it('counts a refused request without reading or checking it', async () => {
      const address = freshAddress();
      const bogus = { client_id: 'nobody', client_secret: 'wrong' };
      expect(await repeat(3, () => tokenFrom(sut, bogus, address))).toEqual([401, 401, 401]);
      await expectLimitedOAuth(await tokenFrom(sut, bogus, address), 'too many requests');
    });

    it('limits each client across addresses, independently of the per-address limit', async () => {
      const client = await serviceClient(sut);
      const other = await serviceClient(sut);
      // Five requests from five addresses: no address reaches its limit of 3.
      for (let i = 0; i < 5; i++) {
        expect(await statuses([tokenFrom(sut, client, freshAddress())])).toEqual([200]);
      }
      const address = freshAddress();
      await expectLimitedOAuth(await tokenFrom(sut, client, address), 'too many requests');
      // The same fresh address still serves another client.
      expect(await statuses([tokenFrom(sut, other, address)])).toEqual([200]);
    });

    it('resets when the window ends', async () => {
      const client = await serviceClient(sut);
      const address = freshAddress();
      expect(await repeat(4, () => tokenFrom(sut, client, address))).toEqual([200, 200, 200, 429]);

      now += 61_000;
      expect(await repeat(4, () => tokenFrom(sut, client, address))).toEqual([200, 200, 200, 429]);
    });

    it('audits the first refusal of a window once, not every 429', async () => {
      const audit = sut.app.get(AuditService);
      await audit.flush();
      const count = async (): Promise<number> => {
        await audit.flush();
        const rows = await sut.dataSource.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM audit_events
            WHERE type = 'rate_limit.exceeded' AND details->>'limit' = 'token' AND ip = $1`,
          [address],
        );
        return rows[0].n;
      };
      const client = await serviceClient(sut);
      const address = freshAddress();
      expect(await repeat(6, () => tokenFrom(sut, client, address))).toEqual([
        200, 200, 200, 429, 429, 429,
      ]);
      expect(await count()).toBe(1);
    });
  });

  describe('client metadata document fetches', () => {
    it('limits the fetches one address causes, and a refused one fetches nothing', async () => {
      const address = freshAddress();
      const paths = [1, 2, 3].map(() => `/agents/${randomUUID()}.json`);
      const send = (path: string) =>
        postForm(
          `${sut.baseUrl}/oauth/token`,
          { grant_type: 'client_credentials', client_id: docs.url(path) },
          { 'x-forwarded-for': address },
        );
      // No document at these URLs: fetched, refused, so the client is unknown.
      expect(await statuses([send(paths[0]), send(paths[1])])).toEqual([401, 401]);
      await expectLimitedOAuth(
        await send(paths[2]),
        'too many client metadata fetches; retry later',
      );
      expect(paths.map((path) => docs.requests(path))).toEqual([1, 1, 0]);
    });
  });

  describe('GET /oauth/authorize', () => {
    it('answers 429 JSON with Retry-After, never a redirect to the unverified client', async () => {
      const client = await sut.createClient({ redirect_uris: [REDIRECT_URI] });
      const address = freshAddress();
      const url = `${sut.baseUrl}/oauth/authorize?response_type=code&client_id=${client.client_id}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`;
      const send = () =>
        fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': address } });
      const allowed = await repeat(2, send);
      expect(allowed.every((status) => status !== 429)).toBe(true);

      const limited = await send();
      expect(limited.status).toBe(429);
      expect(limited.headers.get('location')).toBeNull();
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await limited.json()).toMatchObject({
        statusCode: 429,
        code: 'too_many_requests',
        message: 'too many requests; retry later',
      });
    });
  });

  describe('passkey ceremonies and pages', () => {
    it('answers 429 with Retry-After to /webauthn calls past the limit', async () => {
      const address = freshAddress();
      const send = () =>
        postJson(sut, '/webauthn/authenticate/options', {}, new CookieJar(), {
          'x-forwarded-for': address,
        });
      expect(await repeat(2, send)).toEqual([200, 200]);

      const limited = await send();
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await limited.json()).toMatchObject({ statusCode: 429, code: 'too_many_requests' });
      // The sign-in page shares the family: an error page now, with the same header.
      const page = await fetch(`${sut.baseUrl}/login`, { headers: { 'x-forwarded-for': address } });
      expect(page.status).toBe(429);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(Number(page.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    });
  });

  describe('POST /oauth/anonymous', () => {
    it('answers 429 in OAuth JSON past the limit per address', async () => {
      const address = freshAddress();
      const send = () =>
        fetch(`${sut.baseUrl}/oauth/anonymous`, {
          method: 'POST',
          headers: { 'x-forwarded-for': address },
        });
      expect(await repeat(2, send)).toEqual([200, 200]);
      await expectLimitedOAuth(await send(), 'too many requests');
    });
  });

  describe('POST /oauth/register', () => {
    it('answers 429 in OAuth JSON past the limit per address, and registers nothing more', async () => {
      const address = freshAddress();
      const name = uniqueName('limited');
      const send = () =>
        postRegistration(
          sut,
          { client_name: name, redirect_uris: [REDIRECT_URI] },
          { 'x-forwarded-for': address },
        );
      expect((await send()).status).toBe(201);
      expect((await send()).status).toBe(201);
      const refused = await send();
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({
        error: 'invalid_request',
        error_description: 'too many registrations; retry later',
      });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const rows = await sut.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM clients WHERE name = $1`,
        [name],
      );
      expect(rows[0].n).toBe(2);
    });
  });
});

describe('rate limits in Redis', () => {
  /** A prefix of this run's own, so runs never share counters; deleted afterwards. */
  const prefix = `latchkey-test-${randomUUID()}:`;
  const shared = {
    TRUST_PROXY: 'loopback',
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    RATE_LIMIT_TOKEN_PER_MINUTE: '4',
  };
  let first: TestApp;
  let second: TestApp;
  let local: TestApp;

  beforeAll(async () => {
    first = await startTestApp(shared);
    second = await startTestApp(shared);
    local = await startTestApp({ TRUST_PROXY: 'loopback', RATE_LIMIT_TOKEN_PER_MINUTE: '4' });
  });

  afterAll(async () => {
    await Promise.all([first?.close(), second?.close(), local?.close()]);
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  it('holds one limit across two instances on the same Redis, and not on an instance without it', async () => {
    const client = await serviceClient(first);
    const address = freshAddress();
    expect(
      await statuses([
        tokenFrom(first, client, address),
        tokenFrom(second, client, address),
        tokenFrom(first, client, address),
        tokenFrom(second, client, address),
      ]),
    ).toEqual([200, 200, 200, 200]);

    await expectLimitedOAuth(await tokenFrom(first, client, address), 'too many requests');
    await expectLimitedOAuth(await tokenFrom(second, client, address), 'too many requests');
    // The counters really are in Redis, under this run's prefix: 5 counted hits (the fifth
    // started the block; hits during a block are not counted).
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.get(`${prefix}rl:{token:${address}}:h`)).toBe('5');
    } finally {
      redis.disconnect();
    }

    const localClient = await serviceClient(local);
    expect(await statuses([tokenFrom(local, localClient, address)])).toEqual([200]);
  });

  it('closes its Redis connection when the application shuts down', async () => {
    const ownPrefix = `latchkey-test-${randomUUID()}:`;
    const named = `name=${ownPrefix}rate-limits `;
    const redis = new Redis(REDIS_URL);
    try {
      const app = await startTestApp({ ...shared, REDIS_KEY_PREFIX: ownPrefix });
      expect(await redis.client('LIST')).toContain(named);
      await app.close();
      expect(
        await eventually(async () => !String(await redis.client('LIST')).includes(named)),
      ).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('serves requests without limits when Redis is unreachable, never a 500', async () => {
    const down = await startTestApp({
      TRUST_PROXY: 'loopback',
      REDIS_URL: 'redis://127.0.0.1:1',
      RATE_LIMIT_TOKEN_PER_MINUTE: '1',
      RATE_LIMIT_WEBAUTHN_PER_MINUTE: '1',
    });
    try {
      const client = await serviceClient(down);
      const address = freshAddress();
      expect(await repeat(3, () => tokenFrom(down, client, address))).toEqual([200, 200, 200]);
      const options = () =>
        postJson(down, '/webauthn/authenticate/options', {}, new CookieJar(), {
          'x-forwarded-for': address,
        });
      expect(await repeat(2, options)).toEqual([200, 200]);
    } finally {
      await down.close();
    }
  });
});
