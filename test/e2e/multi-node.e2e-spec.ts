import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { Redis } from 'ioredis';
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { loadConfig, type AppConfig } from '../../src/config/app-config.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import {
  bootstrapDatabase,
  freePorts,
  startServerProcess,
  stopServerProcess,
  type ServerProcess,
} from '../utils/server-process.js';
import {
  adminAccessToken,
  adminPost,
  codeFlow,
  signInWithSetupLink,
} from '../utils/remote-flows.js';
import {
  HIGH_LIMITS,
  basicAuth,
  eventually,
  postForm,
  tokenRequest,
  type TestClient,
} from '../utils/test-app.js';
import { REDIRECT_URI, type UserTokenBody } from '../utils/user-grants.js';

const REDIS_URL = 'redis://127.0.0.1:6379';
/** What "stateless nodes" promises: a change made on one node holds on every node this soon. */
const PROPAGATION_MS = 1_000;
/** Three servers booting at once on a busy machine. */
const START_TIMEOUT_MS = 60_000;
const KEY_PROMOTION_DELAY_SECONDS = 2;
const REFRESH_REUSE_GRACE_SECONDS = 1;
const ANONYMOUS_PER_MINUTE = 6;
const INVALID_CLIENT = {
  error: 'invalid_client',
  error_description: 'client authentication failed',
};

type Json = Record<string, unknown>;

/**
 * Three Latchkey processes on one PostgreSQL database and one Redis, with one issuer and one
 * master key, as behind a load balancer: whatever one node changes, every node honours.
 */
describe('stateless nodes (three servers, one database, one Redis)', () => {
  const prefix = `latchkey-test-${randomUUID()}:`;
  const started: ServerProcess[] = [];
  let databaseName = '';
  let config: AppConfig;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;
  let admin: TestClient;
  /** A resource server: a confidential client that introspects. */
  let introspector: TestClient;
  let app: TestClient;
  /** The signed-in admin user's browser session. */
  let cookie = '';
  let turn = 0;
  /** The next node, round robin. */
  const next = (): ServerProcess => [a, b, c][turn++ % 3];

  beforeAll(async () => {
    const database = await createTestDatabase();
    databaseName = database.name;
    const ports = await freePorts(3);
    const shared: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      MASTER_KEY: randomBytes(32).toString('hex'),
      // One issuer for all: the address clients know (here the first node's own).
      ISSUER: `http://127.0.0.1:${ports[0]}`,
      HOST: '127.0.0.1',
      WORKERS: '1',
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: 'warn',
      REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      // A slow answer from Redis on a busy machine must not let a request through unlimited.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
      // Behind a balancer: the rate-limit test names its own client address.
      TRUST_PROXY: 'loopback',
      KEY_PROMOTION_DELAY_SECONDS: String(KEY_PROMOTION_DELAY_SECONDS),
      REFRESH_REUSE_GRACE_SECONDS: String(REFRESH_REUSE_GRACE_SECONDS),
      ...HIGH_LIMITS,
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: String(ANONYMOUS_PER_MINUTE),
    };
    config = loadConfig(shared);
    // Migrated and bootstrapped once, before the nodes start together.
    const bootstrapped = await bootstrapDatabase({
      ...shared,
      PORT: String(ports[0]),
      MIGRATE_ON_START: 'true',
    });
    admin = { client_id: bootstrapped.client_id, client_secret: bootstrapped.client_secret };

    const starting = await Promise.allSettled(
      ports.map((port, i) =>
        startServerProcess('ABC'[i], { ...shared, PORT: String(port) }, START_TIMEOUT_MS),
      ),
    );
    for (const result of starting) if (result.status === 'fulfilled') started.push(result.value);
    const failed = starting.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    [a, b, c] = started;

    introspector = await createClient(next(), { client_name: 'resource server' });
    app = await createClient(next(), {
      client_name: 'web app',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
    });
    cookie = await signInWithSetupLink(next, config, bootstrapped.setup_url);
  }, START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await Promise.all(started.map((server) => stopServerProcess(server)));
    if (databaseName) await dropTestDatabase(databaseName);
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  }, 30_000);

  const adminToken = (node: ServerProcess): Promise<string> =>
    adminAccessToken(node, admin, config.audiences.admin);
  const adminCall = (node: ServerProcess, path: string, body: Json = {}): Promise<Json> =>
    adminPost(node, admin, config.audiences.admin, path, body);
  const createClient = async (node: ServerProcess, dto: Json): Promise<TestClient> =>
    (await adminCall(node, '/admin/clients', dto)) as unknown as TestClient;

  async function introspect(node: ServerProcess, token: string, as = introspector): Promise<Json> {
    const response = await tokenRequest(node.baseUrl, as, { token }, '/oauth/introspect');
    const body = (await response.json()) as Json;
    expect({ node: node.name, status: response.status }).toEqual({ node: node.name, status: 200 });
    return body;
  }

  async function activeOn(
    nodes: ServerProcess[],
    token: string,
    as?: TestClient,
  ): Promise<boolean[]> {
    return Promise.all(
      nodes.map(async (node) => (await introspect(node, token, as)).active === true),
    );
  }

  /**
   * Polls `check`, and says whether it held in an answer received within PROPAGATION_MS of
   * `since` (when the node that made the change answered). Polling goes on a while longer, so a
   * late propagation shows as `late` rather than as `never`.
   */
  async function propagation(since: number, check: () => Promise<boolean>): Promise<string> {
    const holds = await eventually(check, PROPAGATION_MS * 3, 10);
    if (!holds) return 'never';
    return Date.now() - since <= PROPAGATION_MS ? 'within 1 s' : `late: ${Date.now() - since} ms`;
  }

  /** A user grant: the code flow's steps, and the ceremonies before it, spread over the nodes. */
  function userGrant(): Promise<UserTokenBody> {
    return codeFlow(next, {
      issuer: config.issuer,
      client: app,
      cookie,
      scope: 'openid offline_access',
    });
  }

  function refresh(node: ServerProcess, token: string): Promise<Response> {
    return tokenRequest(node.baseUrl, app, { grant_type: 'refresh_token', refresh_token: token });
  }

  async function expectInvalidGrant(response: Response, description: string): Promise<void> {
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: description },
    });
  }

  it('an access token issued on A is active on B and C', async () => {
    const service = await adminToken(a);
    const user = await userGrant();
    for (const token of [service, user.access_token]) {
      expect(await activeOn([a, b, c], token)).toEqual([true, true, true]);
    }
    const seen = await introspect(c, service);
    expect(seen).toMatchObject({ active: true, iss: config.issuer, client_id: admin.client_id });
  });

  it('honours on A and C, within 1 s, an access token revoked on B', async () => {
    const token = await adminToken(a);
    expect(await activeOn([a, b, c], token)).toEqual([true, true, true]);

    const revoked = await postForm(
      `${b.baseUrl}/oauth/revoke`,
      { token },
      { authorization: basicAuth(admin) },
    );
    const answered = Date.now();
    expect(revoked.status).toBe(200);
    expect(
      await propagation(answered, async () =>
        (await activeOn([a, c], token)).every((active) => !active),
      ),
    ).toBe('within 1 s');
  });

  it('honours on A and C, within 1 s, a refresh token revoked on B, with its access tokens', async () => {
    const grant = await userGrant();
    const refreshToken = grant.refresh_token!;
    expect(await activeOn([a, c], grant.access_token)).toEqual([true, true]);
    expect(await activeOn([a, c], refreshToken, app)).toEqual([true, true]);

    const revoked = await postForm(
      `${b.baseUrl}/oauth/revoke`,
      { token: refreshToken },
      { authorization: basicAuth(app) },
    );
    const answered = Date.now();
    expect(revoked.status).toBe(200);
    const honoured = await propagation(answered, async () => {
      const [access, refreshActive] = await Promise.all([
        activeOn([a, c], grant.access_token),
        activeOn([a, c], refreshToken, app),
      ]);
      return [...access, ...refreshActive].every((active) => !active);
    });
    expect(honoured).toBe('within 1 s');
    for (const node of [a, c])
      await expectInvalidGrant(await refresh(node, refreshToken), 'refresh token has been revoked');
  });

  it('enforces on A and B, within 1 s, a client secret rotated on C', async () => {
    const service = await createClient(next(), { client_name: 'rotating service' });
    const token = await adminToken(a);
    const answerOn = async (node: ServerProcess, client: TestClient): Promise<number> => {
      const response = await tokenRequest(node.baseUrl, client, { token }, '/oauth/introspect');
      await response.arrayBuffer();
      return response.status;
    };
    // Every node has the client cached with its first secret.
    for (const node of [a, b, c]) expect(await answerOn(node, service)).toBe(200);

    const rotated = await adminCall(c, `/admin/clients/${service.client_id}/secret`);
    const answered = Date.now();
    const renewed = {
      client_id: service.client_id,
      client_secret: rotated.client_secret as string,
    };
    expect(renewed.client_secret).not.toBe(service.client_secret);
    const enforced = await propagation(answered, async () => {
      const statuses = await Promise.all(
        [a, b].flatMap((node) => [answerOn(node, service), answerOn(node, renewed)]),
      );
      return statuses.join() === '401,200,401,200';
    });
    expect(enforced).toBe('within 1 s');
    for (const node of [a, b, c]) {
      const old = await tokenRequest(node.baseUrl, service, { token }, '/oauth/introspect');
      expect({ status: old.status, body: await old.json() }).toEqual({
        status: 401,
        body: INVALID_CLIENT,
      });
      expect(await answerOn(node, renewed)).toBe(200);
    }
  });

  it('publishes a key rotated on A on every node before any node signs with it', async () => {
    const jwksKids = async (node: ServerProcess): Promise<Set<string>> => {
      const jwks = (await (
        await fetch(`${node.baseUrl}/.well-known/jwks.json`)
      ).json()) as JSONWebKeySet;
      return new Set(jwks.keys.map((key) => key.kid ?? ''));
    };
    const oldKid = decodeProtectedHeader(await adminToken(a)).kid!;
    const violations: string[] = [];
    const signedBy = new Map<string, Set<string>>([a, b, c].map((node) => [node.name, new Set()]));
    let oldKidAfterPublication = 0;
    let newKid = '';
    let running = true;
    let everywhere: boolean;

    const issueLoop = async (node: ServerProcess): Promise<void> => {
      while (running) {
        const kid = decodeProtectedHeader(await adminToken(node)).kid!;
        // The token is in hand: every node's JWKS must serve its key by now. These fetches
        // are also the continuous JWKS polling of all three nodes.
        const seen = await Promise.all([a, b, c].map(jwksKids));
        seen.forEach((kids, i) => {
          if (!kids.has(kid))
            violations.push(`${node.name} signed with ${kid}, absent from ${'ABC'[i]}'s JWKS`);
        });
        signedBy.get(node.name)!.add(kid);
        if (kid === oldKid && newKid !== '' && seen.every((kids) => kids.has(newKid)))
          oldKidAfterPublication++;
      }
    };
    const loops = [a, b, c].map(issueLoop);
    let rotated: { kid: string; use: string }[] = [];
    try {
      rotated = (await adminCall(a, '/admin/keys/rotate')).data as typeof rotated;
      newKid = rotated.find((key) => key.use === 'access_token')!.kid;
      everywhere = await eventually(
        () => Promise.resolve([...signedBy.values()].every((kids) => kids.has(newKid))),
        (KEY_PROMOTION_DELAY_SECONDS + 15) * 1000,
        50,
      );
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect({ everywhere, violations }).toEqual({ everywhere: true, violations: [] });
    // Signing really overlapped the pending period: the old key signed while the new one was
    // already published everywhere.
    expect(oldKidAfterPublication).toBeGreaterThan(0);
    for (const node of [a, b, c]) {
      expect(decodeProtectedHeader(await adminToken(node)).kid).toBe(newKid);
      // The ID-token key too; and the old key, retired, stays for the tokens it signed.
      const kids = await jwksKids(node);
      expect([...rotated.map((key) => key.kid), oldKid].filter((kid) => !kids.has(kid))).toEqual(
        [],
      );
    }
  }, 40_000);

  it('counts one rate limit across all nodes in Redis, not one per node', async () => {
    const address = `203.0.113.${randomInt(1, 255)}`;
    const statuses: number[] = [];
    const refusedBy: string[] = [];
    for (let i = 0; i < ANONYMOUS_PER_MINUTE + 3; i++) {
      const node = next();
      const response = await postForm(`${node.baseUrl}/oauth/anonymous`, '', {
        'x-forwarded-for': address,
      });
      statuses.push(response.status);
      if (response.status !== 429) {
        await response.arrayBuffer();
        continue;
      }
      refusedBy.push(node.name);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'too many requests',
      });
    }
    // Per-node counters would let 3 × the limit through; the shared one stops at the limit.
    expect(statuses).toEqual([...Array<number>(ANONYMOUS_PER_MINUTE).fill(200), 429, 429, 429]);
    // Each node refused once: it knew the hits the others had counted.
    expect(refusedBy.sort()).toEqual(['A', 'B', 'C']);
    const redis = new Redis(REDIS_URL);
    try {
      // The hit that started the block is counted; refused ones are not.
      expect(await redis.get(`${prefix}rl:{anonymous:${address}}:h`)).toBe(
        String(ANONYMOUS_PER_MINUTE + 1),
      );
    } finally {
      redis.disconnect();
    }
  });

  it('detects on B the replay of a refresh token rotated on A, and its family dies on C', async () => {
    const first = await userGrant();
    const rotated = await refresh(a, first.refresh_token!);
    expect(rotated.status).toBe(200);
    const successor = (await rotated.json()) as UserTokenBody;
    expect(successor.refresh_token).not.toBe(first.refresh_token);
    expect(await activeOn([a, c], successor.access_token)).toEqual([true, true]);
    expect(await activeOn([c], successor.refresh_token!, app)).toEqual([true]);

    // Inside the grace window B answers a retry with the same successor; after it, a replay.
    let replay: Response | null = null;
    let answered = 0;
    const outside = await eventually(
      async () => {
        replay = await refresh(b, first.refresh_token!);
        answered = Date.now();
        if (replay.status !== 200) return true;
        expect(((await replay.json()) as UserTokenBody).refresh_token).toBe(
          successor.refresh_token,
        );
        return false;
      },
      (REFRESH_REUSE_GRACE_SECONDS + 10) * 1000,
      100,
    );
    expect(outside).toBe(true);
    await expectInvalidGrant(replay!, 'refresh token was already used');

    // The family B revoked: its access tokens stop on the other nodes, its live token on C.
    const honoured = await propagation(answered, async () => {
      const [access, refreshActive] = await Promise.all([
        activeOn([a, c], successor.access_token),
        activeOn([c], successor.refresh_token!, app),
      ]);
      return [...access, ...refreshActive].every((active) => !active);
    });
    expect(honoured).toBe('within 1 s');
    await expectInvalidGrant(
      await refresh(c, successor.refresh_token!),
      'refresh token has been revoked',
    );
  });
});
