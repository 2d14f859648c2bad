import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';
import { postForm, startTestApp, type TestApp } from '../utils/test-app.js';
import {
  REDIRECT_URI,
  createCodeClient,
  createUser,
  expectOAuthError,
  introspect,
  issueCode,
  redeem,
  redeemOk,
  refresh,
  tokenHash,
  tokenPost,
  verifyWithJwks,
  type CodeClient,
  type IssuedCode,
} from '../utils/user-grants.js';

describe('POST /oauth/token, grant_type=authorization_code', () => {
  let sut: TestApp;
  let client: CodeClient;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await createCodeClient(sut);
  });

  afterAll(async () => {
    await sut.close();
  });

  async function consumedAt(issued: IssuedCode): Promise<Date | null> {
    const rows = await sut.dataSource.query<{ consumed_at: Date | null }[]>(
      `SELECT consumed_at FROM authorization_codes WHERE code_hash = $1`,
      [tokenHash(issued.code)],
    );
    expect(rows).toHaveLength(1);
    return rows[0].consumed_at;
  }

  describe('a successful exchange', () => {
    it('returns access, refresh and ID tokens with no-store caching', async () => {
      const issued = await issueCode(sut, client);
      const response = await redeem(sut, client, issued);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('pragma')).toBe('no-cache');
      const body = (await response.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'expires_in',
        'id_token',
        'refresh_token',
        'scope',
        'token_type',
      ]);
      expect(body).toMatchObject({
        token_type: 'Bearer',
        expires_in: 900,
        scope: 'openid profile email offline_access',
      });
      expect(body.refresh_token).toMatch(/^lk_rt_[A-Za-z0-9_-]{43}$/);
    });

    it('issues an at+jwt for the user, with sid, the whole granted scope and the default audience', async () => {
      const issued = await issueCode(sut, client);
      const body = await redeemOk(sut, client, issued);
      const { payload, header } = await verifyWithJwks(sut, body.access_token, {
        audience: sut.config.audiences.default,
        typ: 'at+jwt',
      });
      expect(header.alg).toBe('ES256');
      expect(payload).toMatchObject({
        iss: sut.baseUrl,
        sub: issued.user.id,
        aud: sut.baseUrl,
        client_id: client.client_id,
        scope: 'openid profile email offline_access',
        sid: issued.session.id,
      });
      expect(payload.exp! - payload.iat!).toBe(900);
    });

    it('records the access token in the code family', async () => {
      const issued = await issueCode(sut, client);
      const body = await redeemOk(sut, client, issued);
      const rows = await sut.dataSource.query<{ n: string }[]>(
        `SELECT count(*) AS n FROM family_access_tokens t
         JOIN authorization_codes c ON c.family_id = t.family_id
         WHERE c.code_hash = $1 AND t.jti = $2`,
        [tokenHash(issued.code), decodeJwt(body.access_token).jti],
      );
      expect(Number(rows[0].n)).toBe(1);
    });

    it('signs an OIDC ID token with RS256 and the claims of OIDC Core §2 and §3.1.3.6', async () => {
      const issued = await issueCode(sut, client);
      const body = await redeemOk(sut, client, issued);
      const { payload, header } = await verifyWithJwks(sut, body.id_token!, {
        audience: client.client_id,
        typ: 'JWT',
      });
      expect(header.alg).toBe('RS256');
      expect(typeof header.kid).toBe('string');
      const digest = createHash('sha256').update(body.access_token).digest();
      expect(payload).toEqual({
        iss: sut.baseUrl,
        sub: issued.user.id,
        aud: client.client_id,
        azp: client.client_id,
        exp: payload.iat! + 3600,
        iat: payload.iat,
        auth_time: issued.session.authTime.getTime() / 1000,
        nonce: issued.nonce,
        amr: ['hwk', 'user'],
        sid: issued.session.id,
        at_hash: digest.subarray(0, 16).toString('base64url'),
        email: issued.user.email,
        email_verified: true,
        name: issued.user.displayName,
      });
    });

    it('leaves out user claims whose scope was not granted, and the refresh token without offline_access', async () => {
      const issued = await issueCode(sut, client, { scope: 'openid' });
      const body = await redeemOk(sut, client, issued);
      expect(body.refresh_token).toBeUndefined();
      expect(body.scope).toBe('openid');
      const claims = decodeJwt(body.id_token!);
      expect(claims.email).toBeUndefined();
      expect(claims.email_verified).toBeUndefined();
      expect(claims.name).toBeUndefined();
      expect(claims.sub).toBe(issued.user.id);
    });

    it('issues no ID token without openid', async () => {
      const issued = await issueCode(sut, client, { scope: 'offline_access' });
      const body = await redeemOk(sut, client, issued);
      expect(body.id_token).toBeUndefined();
      expect(body.refresh_token).toMatch(/^lk_rt_/);
    });

    it('issues no refresh token when the client lacks the refresh_token grant', async () => {
      const noRefresh = await createCodeClient(sut, { refresh: false });
      const issued = await issueCode(sut, noRefresh);
      const body = await redeemOk(sut, noRefresh, issued);
      expect(body.refresh_token).toBeUndefined();
      expect(body.id_token).toBeDefined();
    });

    it('lets a public client redeem with PKCE alone', async () => {
      const pub = await createCodeClient(sut, { public: true });
      const issued = await issueCode(sut, pub);
      const body = await redeemOk(sut, pub, issued);
      expect(decodeJwt(body.access_token).client_id).toBe(pub.client_id);
      expect(body.refresh_token).toMatch(/^lk_rt_/);
    });

    it('uses the resource chosen at /authorize as the audience', async () => {
      const issued = await issueCode(sut, client, { resource: sut.config.audiences.admin });
      const body = await redeemOk(sut, client, issued);
      expect(decodeJwt(body.access_token).aud).toBe(sut.config.audiences.admin);
      // The ID token is always for the client.
      expect(decodeJwt(body.id_token!).aud).toBe(client.client_id);
    });
  });

  describe('request validation (nothing is consumed)', () => {
    it.each([
      ['code', 'code is required'],
      ['redirect_uri', 'redirect_uri is required'],
      ['code_verifier', 'code_verifier is required'],
    ])('requires %s', async (name, description) => {
      const issued = await issueCode(sut, client);
      const params: Record<string, string> = {
        grant_type: 'authorization_code',
        code: issued.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: issued.verifier,
      };
      delete params[name];
      await expectOAuthError(
        await tokenPost(sut, client, params),
        400,
        'invalid_request',
        description,
      );
      expect(await consumedAt(issued)).toBeNull();
    });

    it.each([
      ['too short', 'a'.repeat(42)],
      ['too long', 'a'.repeat(129)],
      ['outside the unreserved set', `${'a'.repeat(42)}+`],
    ])('refuses a code_verifier %s', async (_case, verifier) => {
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, client, issued, { code_verifier: verifier }),
        400,
        'invalid_request',
        'code_verifier must be 43-128 characters of [A-Za-z0-9._~-]',
      );
      expect(await consumedAt(issued)).toBeNull();
    });

    it('refuses a repeated parameter', async () => {
      const issued = await issueCode(sut, client);
      const body = new URLSearchParams({
        grant_type: 'authorization_code',
        code: issued.code,
        redirect_uri: REDIRECT_URI,
        code_verifier: issued.verifier,
      });
      body.append('code', issued.code);
      const response = await postForm(`${sut.baseUrl}/oauth/token`, body, {
        authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`,
      });
      await expectOAuthError(
        response,
        400,
        'invalid_request',
        'parameter code must not be repeated',
      );
      expect(await consumedAt(issued)).toBeNull();
    });

    it('refuses a client without the authorization_code grant', async () => {
      const service = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, { ...service, public: false }, issued),
        400,
        'unauthorized_client',
        'the client may not use the authorization_code grant',
      );
      expect(await consumedAt(issued)).toBeNull();
    });

    it('does not let another client burn the code', async () => {
      const other = await createCodeClient(sut);
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, other, issued),
        400,
        'invalid_grant',
        'authorization code was not issued to this client',
      );
      expect(await consumedAt(issued)).toBeNull();
      await redeemOk(sut, client, issued);
    });

    it('refuses an unknown code', async () => {
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, client, issued, { code: `${issued.code}x` }),
        400,
        'invalid_grant',
        'authorization code is invalid',
      );
    });

    it('refuses an expired code', async () => {
      const issued = await issueCode(sut, client);
      await sut.dataSource.query(
        `UPDATE authorization_codes SET expires_at = now() - interval '1 second' WHERE code_hash = $1`,
        [tokenHash(issued.code)],
      );
      await expectOAuthError(
        await redeem(sut, client, issued),
        400,
        'invalid_grant',
        'authorization code has expired',
      );
      expect(await consumedAt(issued)).toBeNull();
    });
  });

  describe('checks after consumption (the code is spent)', () => {
    it('refuses a redirect_uri that differs from the authorization request', async () => {
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, client, issued, { redirect_uri: `${REDIRECT_URI}/` }),
        400,
        'invalid_grant',
        'redirect_uri does not match the authorization request',
      );
    });

    it('refuses a wrong code_verifier', async () => {
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, client, issued, { code_verifier: 'b'.repeat(43) }),
        400,
        'invalid_grant',
        'code_verifier does not match the code_challenge',
      );
    });

    it('refuses the challenge itself as verifier (the plain method is not accepted)', async () => {
      const issued = await issueCode(sut, client);
      await expectOAuthError(
        await redeem(sut, client, issued, { code_verifier: issued.challenge }),
        400,
        'invalid_grant',
        'code_verifier does not match the code_challenge',
      );
    });

    it('refuses a disabled user and revokes the family', async () => {
      const user = await createUser(sut);
      const issued = await issueCode(sut, client, { user });
      await sut.dataSource.query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [user.id]);
      await expectOAuthError(
        await redeem(sut, client, issued),
        400,
        'invalid_grant',
        'the user account is not active',
      );
      const rows = await sut.dataSource.query<{ revoked_reason: string }[]>(
        `SELECT f.revoked_reason FROM token_families f
         JOIN authorization_codes c ON c.family_id = f.id WHERE c.code_hash = $1`,
        [tokenHash(issued.code)],
      );
      expect(rows).toEqual([{ revoked_reason: 'user_inactive' }]);
    });
  });

  describe('a replayed code', () => {
    it('is refused, and everything the first exchange issued is revoked', async () => {
      const issued = await issueCode(sut, client);
      const first = await redeemOk(sut, client, issued);
      expect(await introspect(sut, first.access_token)).toMatchObject({ active: true });
      expect(await introspect(sut, first.refresh_token!, client)).toMatchObject({
        active: true,
        token_type: 'refresh_token',
      });

      await expectOAuthError(
        await redeem(sut, client, issued),
        400,
        'invalid_grant',
        'authorization code was already used',
      );

      expect(await introspect(sut, first.access_token)).toEqual({ active: false });
      expect(await introspect(sut, first.refresh_token!, client)).toEqual({ active: false });
      await expectOAuthError(
        await refresh(sut, client, first.refresh_token!),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
      const rows = await sut.dataSource.query<{ revoked_reason: string }[]>(
        `SELECT f.revoked_reason FROM token_families f
         JOIN authorization_codes c ON c.family_id = f.id WHERE c.code_hash = $1`,
        [tokenHash(issued.code)],
      );
      expect(rows).toEqual([{ revoked_reason: 'code_replay' }]);
    });

    it('also revokes the access tokens of later refreshes', async () => {
      const issued = await issueCode(sut, client);
      const first = await redeemOk(sut, client, issued);
      const refreshed = (await (await refresh(sut, client, first.refresh_token!)).json()) as {
        access_token: string;
      };
      expect(await introspect(sut, refreshed.access_token)).toMatchObject({ active: true });
      await redeem(sut, client, issued);
      expect(await introspect(sut, refreshed.access_token)).toEqual({ active: false });
    });
  });
});
