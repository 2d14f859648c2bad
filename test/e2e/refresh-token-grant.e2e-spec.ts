import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { setLogger } from '../../src/common/logger.js';
import { randomUUID } from 'node:crypto';
import { AccessTokensService } from '../../src/tokens/access-tokens.service.js';
import { TokenFamiliesService } from '../../src/tokens/token-families.service.js';
import { startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';
import {
  createCodeClient,
  createUser,
  expectOAuthError,
  familyOf,
  introspect,
  issueCode,
  liveTokensInFamily,
  redeemOk,
  refresh,
  tokenHash,
  tokenPost,
  verifyWithJwks,
  type CodeClient,
  type IssuedCode,
  type UserTokenBody,
} from '../utils/user-grants.js';

describe('POST /oauth/token, grant_type=refresh_token', () => {
  let sut: TestApp;
  let client: CodeClient;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await createCodeClient(sut);
  });

  afterAll(async () => {
    await sut.close();
  });

  async function start(
    options: { scope?: string; on?: CodeClient } = {},
  ): Promise<{ issued: IssuedCode; tokens: UserTokenBody; familyId: string }> {
    const on = options.on ?? client;
    const issued = await issueCode(sut, on, { scope: options.scope });
    const tokens = await redeemOk(sut, on, issued);
    return { issued, tokens, familyId: await familyOf(sut, tokens.refresh_token!) };
  }

  async function refreshOk(
    token: string,
    extra: Record<string, string> = {},
    on: CodeClient = client,
  ): Promise<UserTokenBody> {
    const response = await refresh(sut, on, token, extra);
    const body = (await response.json()) as UserTokenBody;
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return body;
  }

  async function rotatedAt(token: string): Promise<Date | null> {
    const rows = await sut.dataSource.query<{ rotated_at: Date | null }[]>(
      `SELECT rotated_at FROM refresh_tokens WHERE token_hash = $1`,
      [tokenHash(token)],
    );
    expect(rows).toHaveLength(1);
    return rows[0].rotated_at;
  }

  async function familyReason(familyId: string): Promise<string | null> {
    const rows = await sut.dataSource.query<{ revoked_reason: string | null }[]>(
      `SELECT revoked_reason FROM token_families WHERE id = $1`,
      [familyId],
    );
    return rows[0].revoked_reason;
  }

  describe('rotation', () => {
    it('returns a new refresh token and retires the presented one', async () => {
      const { tokens, familyId } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      expect(Object.keys(next).sort()).toEqual([
        'access_token',
        'expires_in',
        'id_token',
        'refresh_token',
        'scope',
        'token_type',
      ]);
      expect(next.refresh_token).toMatch(/^lk_rt_/);
      expect(next.refresh_token).not.toBe(tokens.refresh_token);
      expect(next.scope).toBe('openid profile email offline_access');
      expect(await rotatedAt(tokens.refresh_token!)).not.toBeNull();
      expect(await rotatedAt(next.refresh_token!)).toBeNull();
      expect(await liveTokensInFamily(sut, familyId)).toBe(1);
      const rows = await sut.dataSource.query<
        { parent: string | null; successor: string | null }[]
      >(
        `SELECT c.parent_id AS parent, p.successor_id AS successor
         FROM refresh_tokens c JOIN refresh_tokens p ON p.id = c.parent_id
         WHERE c.token_hash = $1`,
        [tokenHash(next.refresh_token!)],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].successor).not.toBeNull();
    });

    it('keeps rotating along the family', async () => {
      const { tokens, familyId } = await start();
      const second = await refreshOk(tokens.refresh_token!);
      const third = await refreshOk(second.refresh_token!);
      const fourth = await refreshOk(third.refresh_token!);
      expect(new Set([tokens, second, third, fourth].map((t) => t.refresh_token)).size).toBe(4);
      expect(await liveTokensInFamily(sut, familyId)).toBe(1);
      expect(await familyOf(sut, fourth.refresh_token!)).toBe(familyId);
    });

    it('issues an access token for the same user, session and client, recorded in the family', async () => {
      const { issued, tokens, familyId } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      const { payload } = await verifyWithJwks(sut, next.access_token, {
        audience: sut.baseUrl,
        typ: 'at+jwt',
      });
      expect(payload).toMatchObject({
        sub: issued.user.id,
        client_id: client.client_id,
        sid: issued.session.id,
        scope: 'openid profile email offline_access',
      });
      const rows = await sut.dataSource.query<{ family_id: string }[]>(
        `SELECT family_id FROM family_access_tokens WHERE jti = $1`,
        [payload.jti],
      );
      expect(rows).toEqual([{ family_id: familyId }]);
    });

    it('records the new access token in the rotating statement, until its expiry, for family revocation', async () => {
      const { tokens, familyId } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      const claims = decodeJwt(next.access_token);
      const [row] = await sut.dataSource.query<{ family_id: string; exp: string }[]>(
        `SELECT family_id, extract(epoch FROM expires_at)::bigint AS exp
         FROM family_access_tokens WHERE jti = $1`,
        [claims.jti],
      );
      expect(row.family_id).toBe(familyId);
      // The audience's lifetime plus a minute for clocks: never before the token expires.
      expect(Number(row.exp)).toBeGreaterThanOrEqual(claims.exp!);
      expect(Number(row.exp)).toBeLessThanOrEqual(claims.exp! + 62);

      await sut.app.get(TokenFamiliesService).revoke(familyId, 'test');
      expect(await introspect(sut, next.access_token)).toEqual({ active: false });
    });

    it('extends a recorded id whose token outlives the expiry recorded for it', async () => {
      const { issued, familyId } = await start();
      const jti = `recorded-${randomUUID()}`;
      const soon = Math.floor(Date.now() / 1000) + 10;
      await sut.dataSource.query(
        `INSERT INTO family_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, to_timestamp($3))`,
        [jti, familyId, soon],
      );
      const token = await sut.app.get(AccessTokensService).issue({
        subject: issued.user.id,
        clientId: client.client_id,
        audience: sut.baseUrl,
        scope: 'openid',
        familyId,
        recorded: { jti, exp: soon },
      });
      expect(token.claims.jti).toBe(jti);
      const [row] = await sut.dataSource.query<{ exp: string }[]>(
        `SELECT extract(epoch FROM expires_at)::bigint AS exp FROM family_access_tokens WHERE jti = $1`,
        [jti],
      );
      expect(Number(row.exp)).toBe(token.claims.exp);
    });

    it('issues an ID token with the original auth_time and no nonce (OIDC Core §12.2)', async () => {
      const { issued, tokens } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      const { payload } = await verifyWithJwks(sut, next.id_token!, {
        audience: client.client_id,
        typ: 'JWT',
      });
      expect(payload).toMatchObject({
        sub: issued.user.id,
        auth_time: issued.session.authTime.getTime() / 1000,
        amr: ['hwk', 'user'],
        sid: issued.session.id,
        azp: client.client_id,
        email: issued.user.email,
      });
      expect(payload.nonce).toBeUndefined();
    });

    it('rotates the tokens of public clients too', async () => {
      const pub = await createCodeClient(sut, { public: true });
      const { tokens } = await start({ on: pub });
      const next = await refreshOk(tokens.refresh_token!, {}, pub);
      expect(next.refresh_token).not.toBe(tokens.refresh_token);
      expect(await rotatedAt(tokens.refresh_token!)).not.toBeNull();
    });
  });

  describe('scope', () => {
    it('may narrow the access token while the refresh token keeps the grant', async () => {
      const { tokens } = await start();
      const narrow = await refreshOk(tokens.refresh_token!, { scope: 'email openid' });
      // Granted order, only what was asked for.
      expect(narrow.scope).toBe('openid email');
      expect(decodeJwt(narrow.access_token).scope).toBe('openid email');
      expect(decodeJwt(narrow.id_token!).name).toBeUndefined();
      expect(decodeJwt(narrow.id_token!).email).toBeDefined();
      const full = await refreshOk(narrow.refresh_token!);
      expect(full.scope).toBe('openid profile email offline_access');
    });

    it('issues no ID token when openid is narrowed away', async () => {
      const { tokens } = await start();
      const narrow = await refreshOk(tokens.refresh_token!, { scope: 'offline_access' });
      expect(narrow.id_token).toBeUndefined();
    });

    it('refuses to widen the grant and leaves the token unused', async () => {
      const { tokens } = await start({ scope: 'openid offline_access' });
      await expectOAuthError(
        await refresh(sut, client, tokens.refresh_token!, { scope: 'openid email admin' }),
        400,
        'invalid_scope',
        'scope exceeds the original grant: email admin',
      );
      expect(await rotatedAt(tokens.refresh_token!)).toBeNull();
      await refreshOk(tokens.refresh_token!);
    });

    it('refuses a malformed scope', async () => {
      const { tokens } = await start();
      await expectOAuthError(
        await refresh(sut, client, tokens.refresh_token!, { scope: 'openid  email' }),
        400,
        'invalid_scope',
        'scope is not a space-delimited list of scope tokens',
      );
      expect(await rotatedAt(tokens.refresh_token!)).toBeNull();
    });
  });

  describe('reuse of a rotated token', () => {
    it('inside the grace window answers with the family’s live token, which stays the only one', async () => {
      const { tokens, familyId } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      const again = await refreshOk(tokens.refresh_token!);
      expect(again.refresh_token).toBe(next.refresh_token);
      expect(again.access_token).not.toBe(next.access_token);
      expect(await liveTokensInFamily(sut, familyId)).toBe(1);
      expect(await familyReason(familyId)).toBeNull();
      // The live token still rotates normally.
      const after = await refreshOk(next.refresh_token!);
      expect(after.refresh_token).not.toBe(next.refresh_token);
      expect(await liveTokensInFamily(sut, familyId)).toBe(1);
    });

    it('inside the grace window follows several rotations to the live token', async () => {
      const { tokens, familyId } = await start();
      const second = await refreshOk(tokens.refresh_token!);
      const third = await refreshOk(second.refresh_token!);
      const again = await refreshOk(tokens.refresh_token!);
      expect(again.refresh_token).toBe(third.refresh_token);
      expect(await liveTokensInFamily(sut, familyId)).toBe(1);
    });

    it('outside the grace window revokes the whole family and logs the reuse', async () => {
      const lines: string[] = [];
      setLogger(
        pino(
          { level: 'warn' },
          new Writable({
            write(chunk: Buffer, _encoding, done) {
              lines.push(chunk.toString());
              done();
            },
          }),
        ),
      );
      const { tokens, familyId } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      await sut.dataSource.query(
        `UPDATE refresh_tokens SET rotated_at = now() - interval '1 hour' WHERE token_hash = $1`,
        [tokenHash(tokens.refresh_token!)],
      );
      expect(await introspect(sut, next.access_token)).toMatchObject({ active: true });

      await expectOAuthError(
        await refresh(sut, client, tokens.refresh_token!),
        400,
        'invalid_grant',
        'refresh token was already used',
      );
      setLogger(pino({ level: 'silent' }));

      expect(await familyReason(familyId)).toBe('refresh_reuse');
      expect(await introspect(sut, next.access_token)).toEqual({ active: false });
      expect(await introspect(sut, tokens.access_token)).toEqual({ active: false });
      expect(await introspect(sut, next.refresh_token!, client)).toEqual({ active: false });
      await expectOAuthError(
        await refresh(sut, client, next.refresh_token!),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
      const events = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((event) => event.msg === 'refresh token reuse detected');
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ level: 40, familyId, clientId: client.client_id });
      const logged = lines.join('\n');
      expect(logged).not.toContain(tokens.refresh_token!.slice(6));
      expect(logged).not.toContain(next.refresh_token!.slice(6));
    });
  });

  describe('refusals', () => {
    it('requires refresh_token', async () => {
      await expectOAuthError(
        await tokenPost(sut, client, { grant_type: 'refresh_token' }),
        400,
        'invalid_request',
        'refresh_token is required',
      );
    });

    it('refuses an unknown token', async () => {
      await expectOAuthError(
        await refresh(sut, client, 'lk_rt_' + 'A'.repeat(43)),
        400,
        'invalid_grant',
        'refresh token is invalid',
      );
      await expectOAuthError(
        await refresh(sut, client, 'not-a-refresh-token'),
        400,
        'invalid_grant',
        'refresh token is invalid',
      );
    });

    it('refuses another client’s token without using it up', async () => {
      const other = await createCodeClient(sut);
      const { tokens } = await start();
      await expectOAuthError(
        await refresh(sut, other, tokens.refresh_token!),
        400,
        'invalid_grant',
        'refresh token was not issued to this client',
      );
      expect(await rotatedAt(tokens.refresh_token!)).toBeNull();
      await refreshOk(tokens.refresh_token!);
    });

    it('refuses an expired token', async () => {
      const { tokens } = await start();
      await sut.dataSource.query(
        `UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`,
        [tokenHash(tokens.refresh_token!)],
      );
      await expectOAuthError(
        await refresh(sut, client, tokens.refresh_token!),
        400,
        'invalid_grant',
        'refresh token has expired',
      );
      expect(await rotatedAt(tokens.refresh_token!)).toBeNull();
    });

    it('refuses a disabled user and ends the family', async () => {
      const user = await createUser(sut);
      const issued = await issueCode(sut, client, { user });
      const tokens = await redeemOk(sut, client, issued);
      const familyId = await familyOf(sut, tokens.refresh_token!);
      await sut.dataSource.query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [user.id]);
      await expectOAuthError(
        await refresh(sut, client, tokens.refresh_token!),
        400,
        'invalid_grant',
        'the user account is not active',
      );
      expect(await familyReason(familyId)).toBe('user_inactive');
      expect(await introspect(sut, tokens.access_token)).toEqual({ active: false });
    });

    it('refuses a token whose session was signed out', async () => {
      const { issued, tokens, familyId } = await start();
      await sut.app.get(TokenFamiliesService).revokeForSession(issued.session.id, 'signed_out');
      expect(await familyReason(familyId)).toBe('signed_out');
      expect(await introspect(sut, tokens.access_token)).toEqual({ active: false });
      await expectOAuthError(
        await refresh(sut, client, tokens.refresh_token!),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
    });

    it('refuses every token of a user signed out everywhere', async () => {
      const user = await createUser(sut);
      const a = await redeemOk(sut, client, await issueCode(sut, client, { user }));
      const b = await redeemOk(sut, client, await issueCode(sut, client, { user }));
      await sut.app.get(TokenFamiliesService).revokeForUser(user.id, 'signed_out_everywhere');
      for (const tokens of [a, b]) {
        expect(await introspect(sut, tokens.access_token)).toEqual({ active: false });
        await expectOAuthError(
          await refresh(sut, client, tokens.refresh_token!),
          400,
          'invalid_grant',
          'refresh token has been revoked',
        );
      }
    });
  });

  describe('introspection and revocation of refresh tokens', () => {
    it('introspects a live token for its own client (RFC 7662 §2.2)', async () => {
      const { issued, tokens } = await start();
      const body = await introspect(sut, tokens.refresh_token!, client);
      expect(body).toEqual({
        active: true,
        token_type: 'refresh_token',
        scope: 'openid profile email offline_access',
        client_id: client.client_id,
        sub: issued.user.id,
        exp: expect.any(Number) as number,
        iat: expect.any(Number) as number,
      });
      expect((body.exp as number) - (body.iat as number)).toBe(
        sut.config.tokens.refreshTokenTtlSeconds,
      );
    });

    it('answers inactive to other clients and for rotated tokens', async () => {
      const { tokens } = await start();
      expect(await introspect(sut, tokens.refresh_token!)).toEqual({ active: false });
      await refreshOk(tokens.refresh_token!);
      expect(await introspect(sut, tokens.refresh_token!, client)).toEqual({ active: false });
    });

    it('revoking a refresh token revokes its family, access tokens included (RFC 7009 §2.1)', async () => {
      const { tokens, familyId } = await start();
      const next = await refreshOk(tokens.refresh_token!);
      const response = await tokenRequest(
        sut.baseUrl,
        client,
        { token: next.refresh_token!, token_type_hint: 'refresh_token' },
        '/oauth/revoke',
      );
      expect(response.status).toBe(200);
      expect(await familyReason(familyId)).toBe('client_revocation');
      expect(await introspect(sut, next.access_token)).toEqual({ active: false });
      expect(await introspect(sut, tokens.access_token)).toEqual({ active: false });
      expect(await introspect(sut, next.refresh_token!, client)).toEqual({ active: false });
      await expectOAuthError(
        await refresh(sut, client, next.refresh_token!),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
    });

    it('lets only the token’s own client revoke it', async () => {
      const other = await createCodeClient(sut);
      const { tokens, familyId } = await start();
      const response = await tokenRequest(
        sut.baseUrl,
        other,
        { token: tokens.refresh_token! },
        '/oauth/revoke',
      );
      await expectOAuthError(
        response,
        400,
        'unauthorized_client',
        'the token was not issued to this client',
      );
      expect(await familyReason(familyId)).toBeNull();
    });

    it('answers 200 for an unknown refresh token (RFC 7009 §2.2)', async () => {
      const response = await tokenRequest(
        sut.baseUrl,
        client,
        { token: 'lk_rt_' + 'B'.repeat(43) },
        '/oauth/revoke',
      );
      expect(response.status).toBe(200);
    });
  });
});
