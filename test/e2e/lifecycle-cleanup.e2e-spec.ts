import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { SECRET_PREFIX, generateSecret, sha256 } from '../../src/common/crypto.js';
import {
  CLEANUP_BATCH_SIZE,
  CLEANUP_LOCK_KEY,
  ExpiredDataCleanupService,
  type CleanupCounts,
  type CleanupResult,
} from '../../src/lifecycle/expired-data-cleanup.service.js';
import { TokenFamiliesService } from '../../src/tokens/token-families.service.js';
import { eventually, postForm, startTestApp, type TestApp } from '../utils/test-app.js';
import {
  createCodeClient,
  createUser,
  expectOAuthError,
  familyOf,
  introspect,
  issueCode,
  redeem,
  redeemOk,
  refresh,
  tokenHash,
  type CodeClient,
} from '../utils/user-grants.js';

/** The scheduled deletion of expired rows (src/lifecycle/), run here by hand. */
describe('expired-data cleanup', () => {
  let sut: TestApp;
  let cleanup: ExpiredDataCleanupService;
  let client: CodeClient;

  beforeAll(async () => {
    // No grace window for refresh reuse: presenting a rotated token is reuse at once.
    sut = await startTestApp({ CLEANUP_INTERVAL_SECONDS: '0', REFRESH_REUSE_GRACE_SECONDS: '0' });
    cleanup = sut.app.get(ExpiredDataCleanupService);
    client = await createCodeClient(sut);
  });

  afterAll(async () => {
    await sut.close();
  });

  const sql = <T = unknown>(query: string, params: unknown[] = []): Promise<T[]> =>
    sut.dataSource.query<T[]>(query, params);

  /** Which of `keys` are still rows of `table` (by the text of `column`). */
  async function left(table: string, column: string, keys: string[]): Promise<string[]> {
    const rows = await sql<{ key: string }>(
      `SELECT ${column}::text AS key FROM ${table} WHERE ${column}::text = ANY($1) ORDER BY 1`,
      [keys],
    );
    return rows.map((row) => row.key);
  }

  async function run(): Promise<CleanupCounts> {
    const result = await cleanup.removeExpired();
    if (result.status !== 'done') throw new Error('the cleanup run was skipped');
    return result.removed;
  }

  /** A code redeemed through /oauth/token; `rotate` also rotates its refresh token once. */
  async function grant(options: { rotate?: boolean; on?: CodeClient } = {}) {
    const on = options.on ?? client;
    const issued = await issueCode(sut, on, {
      scope: on === client ? 'openid offline_access' : 'openid',
    });
    const first = await redeemOk(sut, on, issued);
    const familyId = first.refresh_token
      ? await familyOf(sut, first.refresh_token)
      : (
          await sql<{ family_id: string }>(
            `SELECT family_id FROM authorization_codes WHERE code_hash = $1`,
            [tokenHash(issued.code)],
          )
        )[0].family_id;
    if (!options.rotate) return { issued, first, familyId, live: first.refresh_token };
    const response = await refresh(sut, on, first.refresh_token!);
    expect(response.status).toBe(200);
    const live = ((await response.json()) as { refresh_token: string }).refresh_token;
    return { issued, first, familyId, live };
  }

  /** Moves every expiry of the family `ago` into the past, as if it had ended then. */
  async function endFamily(familyId: string, ago: string): Promise<void> {
    await sql(`UPDATE token_families SET created_at = now() - interval '40 days' WHERE id = $1`, [
      familyId,
    ]);
    for (const table of ['refresh_tokens', 'authorization_codes', 'family_access_tokens']) {
      await sql(`UPDATE ${table} SET expires_at = now() - $2::interval WHERE family_id = $1`, [
        familyId,
        ago,
      ]);
    }
  }

  describe('token lineage', () => {
    it('deletes a dead family whole, and keeps a live one with its rotated tokens', async () => {
      const dead = await grant({ rotate: true });
      await endFamily(dead.familyId, '2 hours');
      // The code's replay margin is a day: past it, the family has nothing left to protect.
      await sql(
        `UPDATE authorization_codes SET expires_at = now() - interval '2 days'
                 WHERE family_id = $1`,
        [dead.familyId],
      );
      const live = await grant({ rotate: true });
      // Its first, rotated token expired long ago; its code is past the replay margin.
      await sql(
        `UPDATE refresh_tokens SET expires_at = now() - interval '10 days'
                 WHERE token_hash = $1`,
        [tokenHash(live.first.refresh_token!)],
      );
      await sql(
        `UPDATE authorization_codes SET expires_at = now() - interval '2 days'
                 WHERE family_id = $1`,
        [live.familyId],
      );
      const oldJti = randomUUID();
      await sql(
        `INSERT INTO family_access_tokens (jti, family_id, expires_at)
                 VALUES ($1, $2, now() - interval '2 hours')`,
        [oldJti, live.familyId],
      );
      const liveJti = decodeJwt(live.first.access_token).jti!;

      const removed = await run();

      expect(removed.token_families).toBeGreaterThanOrEqual(1);
      expect(removed.refresh_tokens).toBeGreaterThanOrEqual(2);
      expect(await left('token_families', 'id', [dead.familyId, live.familyId])).toEqual([
        live.familyId,
      ]);
      expect(await left('refresh_tokens', 'family_id', [dead.familyId])).toEqual([]);
      expect(
        await left('authorization_codes', 'family_id', [dead.familyId, live.familyId]),
      ).toEqual([]);
      expect(await left('family_access_tokens', 'jti', [oldJti, liveJti])).toEqual([liveJti]);
      const chain = await sql(`SELECT 1 FROM refresh_tokens WHERE family_id = $1`, [live.familyId]);
      expect(chain).toHaveLength(2);

      // The live token still refreshes; the old rotated one is still reuse and ends the family.
      const next = await refresh(sut, client, live.live!);
      expect(next.status).toBe(200);
      const { refresh_token: newest } = (await next.json()) as { refresh_token: string };
      await run();
      await expectOAuthError(
        await refresh(sut, client, live.first.refresh_token!),
        400,
        'invalid_grant',
        'refresh token was already used',
      );
      await expectOAuthError(
        await refresh(sut, client, newest),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
    });

    it('keeps a family whose refresh token expired while an access token it issued lives', async () => {
      const family = await grant({ rotate: true });
      await sql(
        `UPDATE refresh_tokens SET expires_at = now() - interval '2 hours'
                 WHERE family_id = $1`,
        [family.familyId],
      );
      await sql(
        `UPDATE authorization_codes SET expires_at = now() - interval '2 days'
                 WHERE family_id = $1`,
        [family.familyId],
      );
      await sql(`UPDATE token_families SET created_at = now() - interval '40 days' WHERE id = $1`, [
        family.familyId,
      ]);

      await run();

      expect(await left('token_families', 'id', [family.familyId])).toEqual([family.familyId]);
      expect(
        await sql(`SELECT 1 FROM refresh_tokens WHERE family_id = $1`, [family.familyId]),
      ).toHaveLength(2);
    });

    it('keeps a consumed code past its expiry, so its replay still revokes what it issued', async () => {
      const codeOnly = await createCodeClient(sut, { refresh: false });
      const recent = await grant({ on: codeOnly });
      await sql(
        `UPDATE authorization_codes SET expires_at = now() - interval '2 hours'
                 WHERE family_id = $1`,
        [recent.familyId],
      );
      const ended = await grant({ on: codeOnly });
      await endFamily(ended.familyId, '2 days');
      const unused = await issueCode(sut, codeOnly, { scope: 'openid' });
      await sql(
        `UPDATE authorization_codes SET expires_at = now() - interval '2 days'
                 WHERE code_hash = $1`,
        [tokenHash(unused.code)],
      );
      await sql(
        `UPDATE token_families SET created_at = now() - interval '2 days'
                 WHERE id = (SELECT family_id FROM authorization_codes WHERE code_hash = $1)`,
        [tokenHash(unused.code)],
      );

      await run();

      expect(
        await left('authorization_codes', 'code_hash', [
          tokenHash(recent.issued.code),
          tokenHash(ended.issued.code),
          tokenHash(unused.code),
        ]),
      ).toEqual([tokenHash(recent.issued.code)]);
      expect(await left('token_families', 'id', [ended.familyId])).toEqual([]);
      expect(await introspect(sut, recent.first.access_token)).toMatchObject({ active: true });
      await expectOAuthError(
        await redeem(sut, codeOnly, recent.issued),
        400,
        'invalid_grant',
        'authorization code was already used',
      );
      expect(await introspect(sut, recent.first.access_token)).toEqual({ active: false });
    });

    it('deletes a family that only recorded access tokens once they all expired', async () => {
      const families = sut.app.get(TokenFamiliesService);
      const user = await createUser(sut);
      const make = async (exp: number): Promise<string> => {
        const id = await families.create({
          clientId: client.client_id,
          userId: user.id,
          sessionId: null,
        });
        await families.recordAccessToken(id, randomUUID(), exp);
        await sql(`UPDATE token_families SET created_at = now() - interval '1 day' WHERE id = $1`, [
          id,
        ]);
        return id;
      };
      const now = Math.floor(Date.now() / 1000);
      const ended = await make(now - 7200);
      const running = await make(now + 600);

      await run();

      expect(await left('token_families', 'id', [ended, running])).toEqual([running]);
    });
  });

  describe('single tables', () => {
    it('deletes expired rows and keeps live and recently expired ones', async () => {
      const user = await createUser(sut);
      const jti = (label: string) => `${label}-${randomUUID()}`;
      const [revokedOld, revokedRecent, revokedLive] = [jti('old'), jti('recent'), jti('live')];
      await sql(
        `INSERT INTO revoked_jtis (jti, expires_at) VALUES
                 ($1, now() - interval '2 hours'), ($2, now() - interval '10 seconds'),
                 ($3, now() + interval '10 minutes')`,
        [revokedOld, revokedRecent, revokedLive],
      );
      const [assertionOld, assertionLive] = [jti('old'), jti('live')];
      await sql(
        `INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES
                 ($1, $2, now() - interval '2 hours'), ($1, $3, now() + interval '5 minutes')`,
        [client.client_id, assertionOld, assertionLive],
      );
      const challenge = (ago: string) =>
        sql<{ id: string }>(
          `INSERT INTO webauthn_challenges (ceremony, challenge, rp_id, origin, expires_at)
           VALUES ('authentication', 'c', 'localhost', 'http://localhost', now() - $1::interval)
           RETURNING id`,
          [ago],
        ).then((rows) => rows[0].id);
      const [challengeOld, challengeLive] = [
        await challenge('2 hours'),
        await challenge('-5 minutes'),
      ];
      const setupToken = (ago: string) =>
        sql<{ id: string }>(
          `INSERT INTO setup_tokens (user_id, token_hash, expires_at)
           VALUES ($1, $2, now() - $3::interval) RETURNING id`,
          [user.id, randomUUID(), ago],
        ).then((rows) => rows[0].id);
      const [setupOld, setupLive] = [await setupToken('2 hours'), await setupToken('-1 day')];
      const iat = (ago: string) =>
        sql<{ id: string }>(
          `INSERT INTO initial_access_tokens (token_hash, expires_at)
           VALUES ($1, now() - $2::interval) RETURNING id`,
          [randomUUID(), ago],
        ).then((rows) => rows[0].id);
      const [iatOld, iatRecent, iatLive] = [
        await iat('8 days'),
        await iat('1 day'),
        await iat('-1 day'),
      ];

      const removed = await run();

      for (const name of [
        'revoked_jtis',
        'client_assertion_jtis',
        'webauthn_challenges',
        'setup_tokens',
        'initial_access_tokens',
      ] as const) {
        expect({ name, removed: removed[name] >= 1 }).toEqual({ name, removed: true });
      }
      expect(await left('revoked_jtis', 'jti', [revokedOld, revokedRecent, revokedLive])).toEqual(
        [revokedLive, revokedRecent].sort(),
      );
      expect(await left('client_assertion_jtis', 'jti', [assertionOld, assertionLive])).toEqual([
        assertionLive,
      ]);
      expect(await left('webauthn_challenges', 'id', [challengeOld, challengeLive])).toEqual([
        challengeLive,
      ]);
      expect(await left('setup_tokens', 'id', [setupOld, setupLive])).toEqual([setupLive]);
      expect(await left('initial_access_tokens', 'id', [iatOld, iatRecent, iatLive])).toEqual(
        [iatRecent, iatLive].sort(),
      );
    });

    it('deletes expired and spent anonymous sessions, and a live session keeps working', async () => {
      const user = await createUser(sut);
      const secret = generateSecret(SECRET_PREFIX.sessionId);
      const session = (hash: string, expires: string) =>
        sql<{ id: string }>(
          `INSERT INTO sessions (sid_hash, user_id, auth_time, expires_at)
           VALUES ($1, $2, now(), now() + $3::interval) RETURNING id`,
          [hash, user.id, expires],
        ).then((rows) => rows[0].id);
      const live = await session(sha256(secret), '1 hour');
      const expired = await session(randomUUID(), '-2 hours');
      // A family started in the expired session: no foreign key, and it stays.
      const familyId = await sut.app.get(TokenFamiliesService).create({
        clientId: client.client_id,
        userId: user.id,
        sessionId: expired,
      });
      const anonymous = async (): Promise<string> => {
        const response = await postForm(`${sut.baseUrl}/oauth/anonymous`, {});
        expect(response.status).toBe(200);
        const { access_token } = (await response.json()) as { access_token: string };
        return String(decodeJwt(access_token).sid);
      };
      const [spentAnonymous, freshAnonymous] = [await anonymous(), await anonymous()];
      // Its token lived ANONYMOUS_TOKEN_TTL_SECONDS (10 min) from creation; that was long ago.
      await sql(`UPDATE sessions SET created_at = now() - interval '2 hours' WHERE id = $1`, [
        spentAnonymous,
      ]);

      const removed = await run();

      expect(removed.sessions).toBeGreaterThanOrEqual(1);
      expect(removed.anonymous_sessions).toBeGreaterThanOrEqual(1);
      expect(await left('sessions', 'id', [live, expired, spentAnonymous, freshAnonymous])).toEqual(
        [live, freshAnonymous].sort(),
      );
      expect(await left('token_families', 'id', [familyId])).toEqual([familyId]);
      const account = await fetch(`${sut.baseUrl}/account`, {
        headers: { cookie: `${sut.config.sessions.cookieName}=${secret}` },
        redirect: 'manual',
      });
      expect(account.status).toBe(200);
    });
  });

  describe('batches and locking', () => {
    it('works through more rows than one batch holds', async () => {
      const count = CLEANUP_BATCH_SIZE * 2 + 500;
      const revoked = await sql<{ jti: string }>(
        `INSERT INTO revoked_jtis (jti, expires_at)
         SELECT 'bulk-' || gen_random_uuid(), now() - interval '2 hours'
         FROM generate_series(1, $1) RETURNING jti`,
        [count],
      );
      const families = await sql<{ family_id: string }>(
        `WITH f AS (
           INSERT INTO token_families (client_id, created_at)
           SELECT $1, now() - interval '40 days' FROM generate_series(1, $2) RETURNING id)
         INSERT INTO refresh_tokens (token_hash, family_id, scope, expires_at)
         SELECT 'bulk-' || gen_random_uuid(), id, 'openid', now() - interval '2 days' FROM f
         RETURNING family_id`,
        [client.client_id, CLEANUP_BATCH_SIZE + 200],
      );

      const removed = await run();

      expect(removed.revoked_jtis).toBeGreaterThanOrEqual(count);
      expect(removed.token_families).toBeGreaterThanOrEqual(families.length);
      expect(
        await left(
          'revoked_jtis',
          'jti',
          revoked.map((row) => row.jti),
        ),
      ).toEqual([]);
      expect(
        await left(
          'token_families',
          'id',
          families.map((row) => row.family_id),
        ),
      ).toEqual([]);
    });

    it('runs once at a time in one process', async () => {
      const results = await Promise.all([cleanup.removeExpired(), cleanup.removeExpired()]);
      expect(results.map((result) => result.status).sort()).toEqual(['done', 'skipped']);
    });

    it('runs on one node at a time: another instance skips while one holds the lock', async () => {
      const peer = await startTestApp({ CLEANUP_INTERVAL_SECONDS: '0' });
      const blocker = sut.dataSource.createQueryRunner();
      await blocker.connect();
      try {
        const expired = `held-${randomUUID()}`;
        await sql(
          `INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, now() - interval '1 day')`,
          [expired],
        );
        // Keeps this node's run inside its last rule (a DELETE waits for the SHARE lock), holding
        // the advisory lock, for as long as the test needs.
        await blocker.startTransaction();
        await blocker.query(`LOCK TABLE initial_access_tokens IN SHARE MODE`);
        const first: Promise<CleanupResult> = cleanup.removeExpired();
        const holding = async () =>
          (
            await sql(
              `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                      AND classid = 0 AND objid = $1 AND objsubid = 1`,
              [CLEANUP_LOCK_KEY],
            )
          ).length === 1;
        expect(await eventually(holding, 10_000)).toBe(true);

        expect(await peer.app.get(ExpiredDataCleanupService).removeExpired()).toEqual({
          status: 'skipped',
        });

        await blocker.rollbackTransaction();
        expect((await first).status).toBe('done');
        expect(await left('revoked_jtis', 'jti', [expired])).toEqual([]);
        expect((await peer.app.get(ExpiredDataCleanupService).removeExpired()).status).toBe('done');
      } finally {
        if (blocker.isTransactionActive) await blocker.rollbackTransaction();
        await blocker.release();
        await peer.close();
      }
    });

    it('runs on its own every CLEANUP_INTERVAL_SECONDS', async () => {
      const scheduled = await startTestApp({ CLEANUP_INTERVAL_SECONDS: '1' });
      try {
        const expired = `scheduled-${randomUUID()}`;
        await sql(
          `INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, now() - interval '1 day')`,
          [expired],
        );
        const gone = async () => (await left('revoked_jtis', 'jti', [expired])).length === 0;
        expect(await eventually(gone, 10_000)).toBe(true);
      } finally {
        await scheduled.close();
      }
    });
  });
});
