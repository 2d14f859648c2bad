import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { AuditService } from '../../src/audit/audit.service.js';
import { ClientsService } from '../../src/clients/clients.service.js';
import { TokenFamiliesService } from '../../src/tokens/token-families.service.js';
import { manage, registerClient, type Json, type Sent } from '../utils/registration.js';
import { eventually, startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';
import {
  createCodeClient,
  familyOf,
  introspect,
  issueCode,
  liveTokensInFamily,
  redeem,
  redeemOk,
  refresh,
  tokenHash,
  type CodeClient,
  type OAuthErrorBody,
  type UserTokenBody,
} from '../utils/user-grants.js';

/** Parallel requests per race: enough to queue on PostgreSQL's row locks, not just interleave. */
const PARALLEL = 100;

type Answer = { status: number; body: UserTokenBody & OAuthErrorBody };

async function answers(requests: Promise<Response>[]): Promise<Answer[]> {
  return Promise.all(
    (await Promise.all(requests)).map(async (response) => ({
      status: response.status,
      body: (await response.json()) as UserTokenBody & OAuthErrorBody,
    })),
  );
}

async function familyRow(
  sut: TestApp,
  familyId: string,
): Promise<{ revoked: boolean; revoked_reason: string | null }> {
  const rows = await sut.dataSource.query<{ revoked: boolean; revoked_reason: string | null }[]>(
    `SELECT revoked_at IS NOT NULL AS revoked, revoked_reason FROM token_families WHERE id = $1`,
    [familyId],
  );
  return rows[0];
}

/** Misuse detected in one family, per the audit trail, once every queued event is written. */
async function misuseEventsOfFamily(sut: TestApp, familyId: string): Promise<string[]> {
  await sut.app.get(AuditService).flush();
  const rows = await sut.dataSource.query<{ type: string }[]>(
    `SELECT type FROM audit_events
     WHERE details->>'family_id' = $1
       AND type IN ('authorization_code.replayed', 'refresh_token.reuse_detected')
     ORDER BY at`,
    [familyId],
  );
  return rows.map((row) => row.type);
}

describe('races on single-use secrets (100 parallel requests, real PostgreSQL)', () => {
  let sut: TestApp;
  /** The same database with a 1 s grace window, so reuse outside it is quick to reach. */
  let shortGrace: TestApp;
  let client: CodeClient;

  beforeAll(async () => {
    sut = await startTestApp();
    shortGrace = await startTestApp({ REFRESH_REUSE_GRACE_SECONDS: '1' });
    client = await createCodeClient(sut);
  });

  afterAll(async () => {
    await shortGrace.close();
    await sut.close();
  });

  it('one code redeemed 100 times: one grant, 99 replays, the family revoked, one audit event', async () => {
    const issued = await issueCode(sut, client);
    const results = await answers(
      Array.from({ length: PARALLEL }, () => redeem(sut, client, issued)),
    );

    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(PARALLEL - 1);
    for (const r of refused) {
      expect({ status: r.status, body: r.body }).toEqual({
        status: 400,
        body: { error: 'invalid_grant', error_description: 'authorization code was already used' },
      });
    }
    const granted = ok[0].body;
    const familyId = await familyOf(sut, granted.refresh_token!);
    expect(await familyRow(sut, familyId)).toEqual({
      revoked: true,
      revoked_reason: 'code_replay',
    });
    expect(await introspect(sut, granted.access_token)).toEqual({ active: false });
    expect(await introspect(sut, granted.refresh_token!, client)).toEqual({ active: false });
    const refreshed = await refresh(sut, client, granted.refresh_token!);
    expect({ status: refreshed.status, body: await refreshed.json() }).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'refresh token has been revoked' },
    });
    // 99 replays detected, one revocation: the audit trail says so once.
    expect(await misuseEventsOfFamily(sut, familyId)).toEqual(['authorization_code.replayed']);
  });

  it('one refresh token used 100 times inside the grace window: one rotation, one live token', async () => {
    const first = await redeemOk(sut, client, await issueCode(sut, client));
    const original = first.refresh_token!;
    const familyId = await familyOf(sut, original);

    const results = await answers(
      Array.from({ length: PARALLEL }, () => refresh(sut, client, original)),
    );

    // Inside the window every retry gets the family's current pair (ARCHITECTURE.md), so all
    // 100 succeed and hand out the same refresh token: the one successor of the original.
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    const handedOut = new Set(results.map((r) => r.body.refresh_token));
    expect(handedOut.size).toBe(1);
    const [current] = [...handedOut];
    const successors = await sut.dataSource.query<{ token_hash: string }[]>(
      `SELECT token_hash FROM refresh_tokens
       WHERE parent_id = (SELECT id FROM refresh_tokens WHERE token_hash = $1)`,
      [tokenHash(original)],
    );
    expect(successors).toEqual([{ token_hash: tokenHash(current!) }]);
    expect(await liveTokensInFamily(sut, familyId)).toBe(1);
    expect(await familyRow(sut, familyId)).toEqual({ revoked: false, revoked_reason: null });
    expect(await introspect(sut, current!, client)).toMatchObject({ active: true });
    // Each answer carries its own access token, every one recorded in the family so that a
    // later revocation reaches it.
    const accessTokens = new Set(results.map((r) => r.body.access_token));
    expect(accessTokens.size).toBe(PARALLEL);
    const recorded = await sut.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM family_access_tokens WHERE family_id = $1`,
      [familyId],
    );
    expect(Number(recorded[0].n)).toBe(PARALLEL + 1);
    expect(await misuseEventsOfFamily(sut, familyId)).toEqual([]);

    // The successor rotates once more, as usual: the chain goes on from the one live token.
    const next = await refresh(sut, client, current!);
    expect(next.status).toBe(200);
    expect(await liveTokensInFamily(sut, familyId)).toBe(1);
  });

  it('one rotated token reused 100 times after the grace window: the family is revoked once', async () => {
    const codeClient = await createCodeClient(shortGrace);
    const first = await redeemOk(shortGrace, codeClient, await issueCode(shortGrace, codeClient));
    const original = first.refresh_token!;
    const familyId = await familyOf(shortGrace, original);
    const rotated = await refresh(shortGrace, codeClient, original);
    expect(rotated.status).toBe(200);
    const successor = (await rotated.json()) as UserTokenBody;
    // Past the 1 s window (PostgreSQL's clock decides, so wait on it rather than on ours).
    expect(
      await eventually(async () => {
        const rows = await shortGrace.dataSource.query<{ past: boolean }[]>(
          `SELECT rotated_at < now() - interval '1 second' AS past
           FROM refresh_tokens WHERE token_hash = $1`,
          [tokenHash(original)],
        );
        return rows[0].past;
      }, 5000),
    ).toBe(true);

    const results = await answers(
      Array.from({ length: PARALLEL }, () => refresh(shortGrace, codeClient, original)),
    );

    for (const r of results) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
      // The first to look revokes; the others may already see the family revoked.
      expect(['refresh token was already used', 'refresh token has been revoked']).toContain(
        r.body.error_description,
      );
    }
    expect(await familyRow(shortGrace, familyId)).toEqual({
      revoked: true,
      revoked_reason: 'refresh_reuse',
    });
    expect(await introspect(shortGrace, successor.refresh_token!, codeClient)).toEqual({
      active: false,
    });
    expect(await introspect(shortGrace, successor.access_token)).toEqual({ active: false });
    expect(await introspect(shortGrace, first.access_token)).toEqual({ active: false });
    const late = await refresh(shortGrace, codeClient, successor.refresh_token!);
    expect(late.status).toBe(400);
    await late.arrayBuffer();
    expect(await misuseEventsOfFamily(shortGrace, familyId)).toEqual([
      'refresh_token.reuse_detected',
    ]);
  });

  it('100 parallel refreshes racing a sign-out leave nothing live', async () => {
    const issued = await issueCode(sut, client);
    const first = await redeemOk(sut, client, issued);
    const familyId = await familyOf(sut, first.refresh_token!);
    const families = sut.app.get(TokenFamiliesService);

    const [results] = await Promise.all([
      answers(Array.from({ length: PARALLEL }, () => refresh(sut, client, first.refresh_token!))),
      families.revokeForSession(issued.session.id, 'signed_out'),
    ]);

    // Whatever won the race, nothing issued from the family is usable afterwards.
    for (const r of results.filter((x) => x.status === 200)) {
      expect(await introspect(sut, r.body.access_token)).toEqual({ active: false });
      expect(await introspect(sut, r.body.refresh_token!, client)).toEqual({ active: false });
    }
    const recorded = await sut.dataSource.query<{ jti: string }[]>(
      `SELECT jti FROM family_access_tokens WHERE family_id = $1`,
      [familyId],
    );
    const revoked = await sut.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM revoked_jtis WHERE jti = ANY($1)`,
      [recorded.map((row) => row.jti)],
    );
    expect(Number(revoked[0].n)).toBe(recorded.length);
  });
});

describe('races on shared state across two instances of one database', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    // A small promotion delay: long enough for NOTIFY to reach every instance, so a rotated-in
    // key is in both JWKS before either signs with it.
    const env = { KEY_PROMOTION_DELAY_SECONDS: '1', REGISTRATION_MODE: 'open' };
    a = await startTestApp(env);
    b = await startTestApp(env);
  });

  afterAll(async () => {
    await b.close();
    await a.close();
  });

  /** The metadata each PUT sends: every field differs, so a mix of two PUTs shows. */
  function metadataOf(i: number, clientId: string): Json {
    return {
      client_id: clientId,
      client_name: `client-name-${i}`,
      redirect_uris: [`https://app${i}.example.com/callback`, `https://app${i}.example.com/cb2`],
      grant_types: ['authorization_code', 'refresh_token'],
      client_uri: `https://app${i}.example.com/`,
      logo_uri: `https://app${i}.example.com/logo.png`,
      contacts: [`admin-${i}@example.com`],
      software_version: `1.0.${i}`,
    };
  }

  function storedMetadata(body: Json): Json {
    const keys = [
      'client_name',
      'redirect_uris',
      'client_uri',
      'logo_uri',
      'contacts',
      'software_version',
    ];
    return Object.fromEntries(keys.map((key) => [key, body[key]]));
  }

  /** A registration without what differs by instance (its URI) or by response (the token). */
  function withoutServerFields(body: Json): Json {
    return Object.fromEntries(
      Object.entries(body).filter(
        ([key]) => key !== 'registration_client_uri' && key !== 'registration_access_token',
      ),
    );
  }

  it('100 concurrent RFC 7592 updates: one wins whole, the token rotates once, both caches agree', async () => {
    const registered = await registerClient(a, { client_name: 'race original' });
    const id = registered.client_id;
    const uri = registered.registration_client_uri;
    const pathOf = new URL(uri).pathname;
    // Warm instance b's cache, so convergence below is invalidation, not a first read.
    expect((await b.app.get(ClientsService).findRecord(id))?.name).toBe('race original');

    const bodies = Array.from({ length: PARALLEL }, (_, i) => metadataOf(i, id));
    const results: Sent[] = await Promise.all(
      bodies.map((body, i) =>
        manage(
          `${(i % 2 === 0 ? a : b).baseUrl}${pathOf}`,
          'PUT',
          registered.registration_access_token,
          body,
        ),
      ),
    );

    // The update consumes the token it presents (one conditional UPDATE), so exactly one wins.
    const winners = results.flatMap((r, i) => (r.status === 200 ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect({ status: r.status, body: r.body }).toEqual({
        status: 401,
        body: {
          error: 'invalid_token',
          error_description: 'the registration access token is not valid',
        },
      });
    }
    const winner = winners[0];
    const answer = results[winner].body;
    expect(storedMetadata(answer)).toEqual(storedMetadata(bodies[winner]));
    const rotatedToken = answer.registration_access_token as string;
    expect(rotatedToken).not.toBe(registered.registration_access_token);

    // What is stored is that one body in full, read through either instance.
    const whole = withoutServerFields(answer);
    for (const server of [a, b]) {
      const read = await manage(`${server.baseUrl}${pathOf}`, 'GET', rotatedToken);
      expect(read.status).toBe(200);
      expect(withoutServerFields(read.body)).toEqual(whole);
    }
    const stale = await manage(uri, 'GET', registered.registration_access_token);
    expect(stale.status).toBe(401);

    // Both instances' client caches converge on the winner through NOTIFY.
    const expected = bodies[winner];
    for (const server of [a, b]) {
      const clients = server.app.get(ClientsService);
      const converged = await eventually(async () => {
        const record = await clients.findRecord(id);
        return (
          record !== null &&
          record.name === expected.client_name &&
          JSON.stringify(record.redirectUris) === JSON.stringify(expected.redirect_uris) &&
          record.logoUri === expected.logo_uri
        );
      });
      expect(converged).toBe(true);
    }

    // The rotated token keeps working for the next update, on either instance.
    const again = await manage(`${b.baseUrl}${pathOf}`, 'PUT', rotatedToken, metadataOf(1000, id));
    expect(again.status).toBe(200);
    expect(again.body.client_name).toBe('client-name-1000');
  });

  it('key rotation during issuance on two instances: every token verifies with both JWKS', async () => {
    const servers = [a, b];
    const clients = await Promise.all(
      servers.map((server) => server.createClient({ allowed_scopes: ['reports:read'] })),
    );
    // Each instance has its own issuer (its own port), so each gets its own admin token.
    const adminTokens = await Promise.all(servers.map((server) => server.adminToken()));
    // An idempotent GET, retried once on a network error: a keep-alive socket the server closed
    // just as the client reused it (RFC 9112 §9.3.1) says nothing about key publication.
    const jwksOf = async (server: TestApp): Promise<JSONWebKeySet> => {
      const url = `${server.baseUrl}/.well-known/jwks.json`;
      const response = await fetch(url).catch(() => fetch(url));
      return (await response.json()) as JSONWebKeySet;
    };
    const kidsBefore = new Set((await jwksOf(a)).keys.map((key) => key.kid));
    const failures: string[] = [];
    const kidsSeen = new Set<string>();
    let issued = 0;
    let rotating = true;

    /** One token from `server`, checked against both instances' JWKS as soon as it arrives. */
    async function issueAndCheck(index: number): Promise<void> {
      const server = servers[index % 2];
      const response = await tokenRequest(server.baseUrl, clients[index % 2], {
        grant_type: 'client_credentials',
      });
      const body = (await response.json()) as { access_token?: string };
      if (response.status !== 200 || !body.access_token) {
        failures.push(`issuance: ${response.status} ${JSON.stringify(body)}`);
        rotating = false;
        return;
      }
      issued++;
      const token = body.access_token;
      const kid = decodeProtectedHeader(token).kid ?? '';
      kidsSeen.add(kid);
      const published = await Promise.all(servers.map(jwksOf));
      for (const [i, jwks] of published.entries()) {
        if (!jwks.keys.some((key) => key.kid === kid)) {
          failures.push(`kid ${kid} signed by instance ${index % 2} is missing from ${i}'s JWKS`);
          continue;
        }
        await jwtVerify(token, createLocalJWKSet(jwks), {
          issuer: server.baseUrl,
          typ: 'at+jwt',
        }).catch((err: unknown) => failures.push(`verify with ${i}'s JWKS: ${String(err)}`));
      }
    }

    /** Bursts of 100 parallel issuances across both instances until rotation is over. */
    async function issuance(): Promise<void> {
      while (rotating) {
        await Promise.all(Array.from({ length: PARALLEL }, (_, i) => issueAndCheck(i)));
      }
    }

    async function rotateKeys(): Promise<void> {
      const rotatedKids: string[] = [];
      for (let round = 0; round < 3; round++) {
        const response = await fetch(`${servers[round % 2].baseUrl}/admin/keys/rotate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminTokens[round % 2]}` },
        });
        expect(response.status).toBe(200);
        const { data } = (await response.json()) as { data: { kid: string }[] };
        rotatedKids.push(...data.map((key) => key.kid));
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      expect(rotatedKids).toHaveLength(6);
      // Issuance goes on until the keys rotated here have come due and sign on both instances.
      // Only these: other spec files share the database and may leave far-off pending keys.
      const promoted = await eventually(async () => {
        const rows = await a.dataSource.query<{ n: string }[]>(
          `SELECT count(*) AS n FROM signing_keys WHERE state = 'pending' AND kid = ANY($1)`,
          [rotatedKids],
        );
        return Number(rows[0].n) === 0;
      }, 10_000);
      expect(promoted).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      rotating = false;
    }

    await Promise.all([rotateKeys(), issuance()]);

    expect(failures).toEqual([]);
    expect(issued).toBeGreaterThanOrEqual(PARALLEL * 2);
    // Rotation really happened under load: tokens were signed by keys that did not exist before.
    expect([...kidsSeen].filter((kid) => !kidsBefore.has(kid)).length).toBeGreaterThan(0);
  }, 30_000);
});
