import { TokenFamiliesService } from '../../src/tokens/token-families.service.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
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

const PARALLEL = 50;

describe('concurrent use of single-use secrets', () => {
  let sut: TestApp;
  let client: CodeClient;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await createCodeClient(sut);
  });

  afterAll(async () => {
    await sut.close();
  });

  async function answers(
    requests: Promise<Response>[],
  ): Promise<{ status: number; body: UserTokenBody & OAuthErrorBody }[]> {
    return Promise.all(
      (await Promise.all(requests)).map(async (response) => ({
        status: response.status,
        body: (await response.json()) as UserTokenBody & OAuthErrorBody,
      })),
    );
  }

  it(`${PARALLEL} parallel redemptions of one code: exactly one succeeds, the rest are replays`, async () => {
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
    // The replays revoked what the one redemption issued.
    const familyId = await familyOf(sut, ok[0].body.refresh_token!);
    const rows = await sut.dataSource.query<{ revoked_reason: string }[]>(
      `SELECT revoked_reason FROM token_families WHERE id = $1`,
      [familyId],
    );
    expect(rows).toEqual([{ revoked_reason: 'code_replay' }]);
    expect(await introspect(sut, ok[0].body.access_token)).toEqual({ active: false });
    expect(await introspect(sut, ok[0].body.refresh_token!, client)).toEqual({ active: false });
  });

  it(`${PARALLEL} parallel refreshes of one token: one rotation, one live token`, async () => {
    const issued = await issueCode(sut, client);
    const first = await redeemOk(sut, client, issued);
    const original = first.refresh_token!;
    const familyId = await familyOf(sut, original);

    const results = await answers(
      Array.from({ length: PARALLEL }, () => refresh(sut, client, original)),
    );

    const rotations = await sut.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM refresh_tokens
       WHERE parent_id = (SELECT id FROM refresh_tokens WHERE token_hash = $1)`,
      [tokenHash(original)],
    );
    expect(Number(rotations[0].n)).toBe(1);
    expect(await liveTokensInFamily(sut, familyId)).toBe(1);
    const family = await sut.dataSource.query<{ revoked_at: Date | null }[]>(
      `SELECT revoked_at FROM token_families WHERE id = $1`,
      [familyId],
    );
    expect(family[0].revoked_at).toBeNull();

    // Every answer is either the family's one live token (the rotation and grace-window
    // retries) or invalid_grant; with the default 10 s window they are all the former.
    const granted = results.filter((r) => r.status === 200);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
    }
    expect(granted.length).toBeGreaterThanOrEqual(1);
    const handedOut = new Set(granted.map((r) => r.body.refresh_token));
    expect(handedOut.size).toBe(1);
    const [live] = [...handedOut];
    expect(await introspect(sut, live!, client)).toMatchObject({ active: true });
    // Every access token handed out is distinct and recorded in the family.
    const jtis = new Set(granted.map((r) => r.body.access_token));
    expect(jtis.size).toBe(granted.length);
    const recorded = await sut.dataSource.query<{ n: string }[]>(
      `SELECT count(*) AS n FROM family_access_tokens WHERE family_id = $1`,
      [familyId],
    );
    expect(Number(recorded[0].n)).toBe(granted.length + 1);
  });

  it(`${PARALLEL} parallel refreshes racing a sign-out leave nothing live`, async () => {
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
