import { decodeJwt } from 'jose';
import { postForm, startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';
import {
  createCodeClient,
  createUser,
  expectOAuthError,
  introspect,
  issueCode,
  redeemOk,
  type CodeClient,
} from '../utils/user-grants.js';

describe('GET|POST /oauth/userinfo', () => {
  let sut: TestApp;
  let client: CodeClient;
  let url: string;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await createCodeClient(sut);
    url = `${sut.baseUrl}/oauth/userinfo`;
  });

  afterAll(async () => {
    await sut.close();
  });

  async function userToken(scope = 'openid profile email', resource: string | null = null) {
    const issued = await issueCode(sut, client, { scope, resource });
    const tokens = await redeemOk(sut, client, issued);
    return { issued, accessToken: tokens.access_token };
  }

  function bearer(token: string): Record<string, string> {
    return { authorization: `Bearer ${token}` };
  }

  async function expectChallenge(
    response: Response,
    status: number,
    error: string,
    description: string,
    challenge: string,
  ): Promise<void> {
    expect(response.headers.get('www-authenticate')).toBe(challenge);
    await expectOAuthError(response, status, error, description);
  }

  describe('claims', () => {
    it('answers GET with sub, email and name per the granted scopes', async () => {
      const { issued, accessToken } = await userToken();
      const response = await fetch(url, { headers: bearer(accessToken) });
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({
        sub: issued.user.id,
        email: issued.user.email,
        email_verified: true,
        name: issued.user.displayName,
      });
    });

    it('answers POST with the token in the header', async () => {
      const { issued, accessToken } = await userToken('openid');
      const response = await fetch(url, { method: 'POST', headers: bearer(accessToken) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ sub: issued.user.id });
    });

    it('answers POST with the token in the form body (RFC 6750 §2.2)', async () => {
      const { issued, accessToken } = await userToken('openid email');
      const response = await postForm(url, { access_token: accessToken });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({
        sub: issued.user.id,
        email: issued.user.email,
        email_verified: true,
      });
    });

    it('reports email_verified as stored', async () => {
      const user = await createUser(sut, false);
      const issued = await issueCode(sut, client, { scope: 'openid email', user });
      const { access_token } = await redeemOk(sut, client, issued);
      const response = await fetch(url, { headers: bearer(access_token) });
      expect(await response.json()).toEqual({
        sub: user.id,
        email: user.email,
        email_verified: false,
      });
    });
  });

  describe('errors (RFC 6750 §3)', () => {
    it('challenges a request without a token', async () => {
      await expectChallenge(
        await fetch(url),
        401,
        'invalid_token',
        'a bearer access token is required',
        'Bearer realm="latchkey"',
      );
    });

    it('refuses a token in both the header and the body', async () => {
      const { accessToken } = await userToken();
      await expectOAuthError(
        await postForm(url, { access_token: accessToken }, bearer(accessToken)),
        400,
        'invalid_request',
        'send the access token in the header or the body, not both',
      );
    });

    it('refuses a non-bearer Authorization header', async () => {
      await expectOAuthError(
        await fetch(url, { headers: { authorization: 'Basic Zm9vOmJhcg==' } }),
        400,
        'invalid_request',
        'the Authorization header is not a bearer token',
      );
    });

    it('refuses a malformed token', async () => {
      await expectChallenge(
        await fetch(url, { headers: bearer('not-a-jwt') }),
        401,
        'invalid_token',
        'the access token is malformed',
        'Bearer error="invalid_token", error_description="the access token is malformed"',
      );
    });

    it('refuses a revoked token', async () => {
      const { accessToken } = await userToken();
      const revoke = await tokenRequest(
        sut.baseUrl,
        client,
        { token: accessToken },
        '/oauth/revoke',
      );
      expect(revoke.status).toBe(200);
      await expectChallenge(
        await fetch(url, { headers: bearer(accessToken) }),
        401,
        'invalid_token',
        'the access token has been revoked',
        'Bearer error="invalid_token", error_description="the access token has been revoked"',
      );
    });

    it('refuses a token for another audience', async () => {
      const { accessToken } = await userToken('openid', sut.config.audiences.admin);
      expect(decodeJwt(accessToken).aud).toBe(sut.config.audiences.admin);
      await expectChallenge(
        await fetch(url, { headers: bearer(accessToken) }),
        401,
        'invalid_token',
        'the access token is not meant for the userinfo endpoint',
        'Bearer error="invalid_token", error_description="the access token is not meant for the userinfo endpoint"',
      );
    });

    it('refuses a token without openid with 403 insufficient_scope', async () => {
      const { accessToken } = await userToken('offline_access');
      await expectChallenge(
        await fetch(url, { headers: bearer(accessToken) }),
        403,
        'insufficient_scope',
        'the access token lacks the openid scope',
        'Bearer error="insufficient_scope", error_description="the access token lacks the openid scope", scope="openid"',
      );
    });

    it('refuses a client_credentials token, which names no user', async () => {
      const service = await sut.createClient({ allowed_scopes: ['openid'] });
      const response = await tokenRequest(sut.baseUrl, service, {
        grant_type: 'client_credentials',
        scope: 'openid',
      });
      const { access_token } = (await response.json()) as { access_token: string };
      await expectChallenge(
        await fetch(url, { headers: bearer(access_token) }),
        401,
        'invalid_token',
        'the access token does not identify a user',
        'Bearer error="invalid_token", error_description="the access token does not identify a user"',
      );
    });

    it('refuses the token of a disabled user', async () => {
      const { issued, accessToken } = await userToken();
      await sut.dataSource.query(`UPDATE users SET status = 'disabled' WHERE id = $1`, [
        issued.user.id,
      ]);
      await expectChallenge(
        await fetch(url, { headers: bearer(accessToken) }),
        401,
        'invalid_token',
        'the user account is not active',
        'Bearer error="invalid_token", error_description="the user account is not active"',
      );
    });

    it('allows only GET and POST', async () => {
      const response = await fetch(url, { method: 'PUT' });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, POST');
    });
  });

  describe('discovery', () => {
    it('advertises userinfo, the user grants, public clients and the ID token claims', async () => {
      const response = await fetch(`${sut.baseUrl}/.well-known/openid-configuration`);
      const metadata = (await response.json()) as Record<string, unknown>;
      expect(metadata).toMatchObject({
        userinfo_endpoint: `${sut.baseUrl}/oauth/userinfo`,
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
      expect(metadata.grant_types_supported).toEqual(
        expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']),
      );
      expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
      expect(metadata.scopes_supported).toEqual(
        expect.arrayContaining(['openid', 'profile', 'email', 'offline_access']),
      );
      expect(metadata.claims_supported).toEqual(
        expect.arrayContaining(['sub', 'auth_time', 'nonce', 'sid', 'at_hash', 'email', 'name']),
      );
    });
  });
});

describe('POST /oauth/anonymous', () => {
  let sut: TestApp;
  let url: string;

  beforeAll(async () => {
    sut = await startTestApp();
    url = `${sut.baseUrl}/oauth/anonymous`;
  });

  afterAll(async () => {
    await sut.close();
  });

  it('issues a short-lived token bound to a new anonymous session', async () => {
    const response = await fetch(url, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      token_type: 'Bearer',
      expires_in: sut.config.sessions.anonymousTokenTtlSeconds,
      scope: 'anonymous',
    });
    const claims = decodeJwt(body.access_token as string);
    expect(claims).toMatchObject({
      iss: sut.baseUrl,
      aud: sut.config.audiences.default,
      client_id: 'anonymous',
      scope: 'anonymous',
      sub: `anon:${claims.sid as string}`,
    });
    const rows = await sut.dataSource.query<{ user_id: string | null; amr: string[] }[]>(
      `SELECT user_id, amr FROM sessions WHERE id = $1`,
      [claims.sid],
    );
    expect(rows).toEqual([{ user_id: null, amr: [] }]);
    expect(await introspect(sut, body.access_token as string)).toMatchObject({
      active: true,
      sub: `anon:${claims.sid as string}`,
    });
  });

  it('is not a way into userinfo', async () => {
    const { access_token } = (await (await fetch(url, { method: 'POST' })).json()) as {
      access_token: string;
    };
    const response = await fetch(`${sut.baseUrl}/oauth/userinfo`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    expect(response.status).toBe(403);
  });

  it('limits each address to 10 tokens a minute, with Retry-After', async () => {
    // Earlier requests of this suite count too, and a minute boundary may fall inside the loop:
    // 22 requests always put at least 11 into one window.
    const statuses: number[] = [];
    let limited: Response | null = null;
    for (let i = 0; i < 22; i++) {
      const response = await fetch(url, { method: 'POST' });
      statuses.push(response.status);
      if (response.status === 429) {
        limited = response;
        break;
      }
      await response.arrayBuffer();
    }
    expect(limited).not.toBeNull();
    expect(statuses.slice(0, -1).every((status) => status === 200)).toBe(true);
    const retryAfter = Number(limited!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    await expectOAuthError(limited!, 429, 'invalid_request', 'too many requests');
  });
});
