import {
  SignJWT,
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  type CryptoKey,
  type JWTPayload,
} from 'jose';
import { randomUUID } from 'node:crypto';
import { ClientsService } from '../../src/clients/clients.service.js';
import { ResourcesService } from '../../src/resources/resources.service.js';
import { AccessTokensService } from '../../src/tokens/access-tokens.service.js';
import { SigningKeysService } from '../../src/tokens/signing-keys.service.js';
import {
  basicAuth,
  postForm,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

const INACTIVE = { active: false };

describe('POST /oauth/introspect (RFC 7662)', () => {
  let sut: TestApp;
  let introspectUrl: string;
  /** The resource server that introspects: a confidential client. */
  let caller: TestClient;

  beforeAll(async () => {
    sut = await startTestApp();
    introspectUrl = `${sut.baseUrl}/oauth/introspect`;
    caller = await sut.createClient({ allowed_scopes: ['introspection'] });
  });

  afterAll(async () => {
    await sut.close();
  });

  function introspect(
    token: string,
    extra: Record<string, string> = {},
    as: TestClient = caller,
  ): Promise<Response> {
    return postForm(introspectUrl, { token, ...extra }, { authorization: basicAuth(as) });
  }

  async function introspectBody(token: string): Promise<Record<string, unknown>> {
    const response = await introspect(token);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return (await response.json()) as Record<string, unknown>;
  }

  async function issuedToken(
    dto: Parameters<TestApp['createClient']>[0] = { allowed_scopes: ['reports:read'] },
    params: Record<string, string> = {},
  ): Promise<{ client: TestClient; token: string }> {
    const client = await sut.createClient(dto);
    const response = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'client_credentials',
      ...params,
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string };
    return { client, token: body.access_token };
  }

  async function revokedRows(jti: string): Promise<number> {
    const rows = await sut.dataSource.query<unknown[]>(
      `SELECT jti FROM revoked_jtis WHERE jti = $1`,
      [jti],
    );
    return rows.length;
  }

  /** Claims of a valid access token for `client`, to be changed one at a time by a test. */
  function claimsFor(client: TestClient, overrides: JWTPayload = {}): JWTPayload {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: sut.config.issuer,
      sub: client.client_id,
      aud: sut.config.audiences.default,
      iat,
      exp: iat + 300,
      jti: randomUUID(),
      client_id: client.client_id,
      scope: 'reports:read',
      ...overrides,
    };
  }

  /** Signs claims with the server's own active access-token key unless told otherwise. */
  async function forge(
    claims: JWTPayload,
    options: { key?: CryptoKey; header?: Record<string, unknown> } = {},
  ): Promise<string> {
    const active = sut.app.get(SigningKeysService).activeKey('access_token');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: active.alg, kid: active.kid, typ: 'at+jwt', ...options.header })
      .sign(options.key ?? active.privateKey);
  }

  describe('an active token', () => {
    it('is active, with its claims', async () => {
      const { client, token } = await issuedToken();
      const response = await introspect(token);

      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('pragma')).toBe('no-cache');
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await response.json()) as Record<string, unknown>;
      const claims = decodeJwt(token);
      expect(body).toEqual({ active: true, token_type: 'Bearer', ...claims });
      expect(body).toMatchObject({
        iss: sut.baseUrl,
        sub: client.client_id,
        client_id: client.client_id,
        aud: sut.config.audiences.default,
        scope: 'reports:read',
      });
      expect(typeof body.jti).toBe('string');
      expect(body.exp).toBe((body.iat as number) + 900);
      // Introspection writes nothing.
      expect(await revokedRows(claims.jti as string)).toBe(0);
    });

    it('shows the owner and the audience of the token', async () => {
      const owner = randomUUID();
      const api = await sut.app.get(ResourcesService).create({
        identifier: `https://reports-${randomUUID()}.example.com/api`,
        name: 'Reports API',
        scopes: ['reports:read'],
      });
      const { token } = await issuedToken(
        { allowed_scopes: ['reports:read'], owner_user_id: owner },
        { resource: api.identifier },
      );
      expect(await introspectBody(token)).toMatchObject({
        active: true,
        owner,
        aud: api.identifier,
      });
    });

    it('treats token_type_hint as a hint only (RFC 7662 §2.1)', async () => {
      const { token } = await issuedToken();
      for (const hint of ['access_token', 'refresh_token', 'unknown_type']) {
        const response = await introspect(token, { token_type_hint: hint });
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ active: true });
      }
    });

    it('accepts a token this test signed with the server key and valid claims (control)', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const claims = claimsFor(client);
      const body = await introspectBody(await forge(claims));
      expect(body).toEqual({ active: true, token_type: 'Bearer', ...claims });
    });

    it('lets a client_secret_post client introspect', async () => {
      const { token } = await issuedToken();
      const postCaller = await sut.createClient({
        token_endpoint_auth_method: 'client_secret_post',
      });
      const response = await postForm(introspectUrl, {
        token,
        client_id: postCaller.client_id,
        client_secret: postCaller.client_secret,
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ active: true });
    });
  });

  describe('an inactive token is exactly {active:false}', () => {
    it('after revocation', async () => {
      const { client, token } = await issuedToken();
      expect(await introspectBody(token)).toMatchObject({ active: true });
      const revoked = await postForm(
        `${sut.baseUrl}/oauth/revoke`,
        { token },
        { authorization: basicAuth(client) },
      );
      expect(revoked.status).toBe(200);
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('once expired', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const issued = await sut.app.get(AccessTokensService).issue({
        subject: client.client_id,
        clientId: client.client_id,
        audience: sut.config.audiences.default,
        scope: 'reports:read',
        ttlSeconds: -120,
      });
      expect(issued.claims.exp).toBeLessThan(Date.now() / 1000 - 60);
      expect(await introspectBody(issued.token)).toEqual(INACTIVE);
    });

    it('when signed by a foreign key under the server kid', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const { privateKey } = await generateKeyPair('ES256');
      const token = await forge(claimsFor(client), { key: privateKey });
      expect(decodeProtectedHeader(token).kid).toBe(
        sut.app.get(SigningKeysService).activeKey('access_token').kid,
      );
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('when signed by a foreign key under an unknown kid', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const { privateKey } = await generateKeyPair('ES256');
      const token = await forge(claimsFor(client), { key: privateKey, header: { kid: 'evil' } });
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('when signed by the server ID-token key', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const idKey = sut.app.get(SigningKeysService).activeKey('id_token');
      const token = await forge(claimsFor(client), {
        key: idKey.privateKey,
        header: { alg: idKey.alg, kid: idKey.kid },
      });
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('with a foreign issuer, though signed by the server key', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const token = await forge(claimsFor(client, { iss: 'https://evil.example' }));
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('with another typ than at+jwt', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      for (const typ of ['JWT', 'application/jwt']) {
        const token = await forge(claimsFor(client), { header: { typ } });
        expect(await introspectBody(token)).toEqual(INACTIVE);
      }
    });

    it.each(['jti', 'client_id', 'sub', 'exp'])('without a %s claim', async (claim) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const claims = claimsFor(client);
      delete claims[claim];
      expect(await introspectBody(await forge(claims))).toEqual(INACTIVE);
    });

    it('issued in the future (nbf)', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const now = Math.floor(Date.now() / 1000);
      const token = await forge(claimsFor(client, { nbf: now + 600, exp: now + 900 }));
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('with alg none', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const kid = sut.app.get(SigningKeysService).activeKey('access_token').kid;
      const header = encodeJson({ alg: 'none', typ: 'at+jwt', kid });
      const payload = encodeJson(claimsFor(client));
      expect(await introspectBody(`${header}.${payload}.`)).toEqual(INACTIVE);
      // A made-up signature part does not help.
      expect(await introspectBody(`${header}.${payload}.AAAA`)).toEqual(INACTIVE);
    });

    it('with a valid signature whose payload was changed afterwards', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const token = await forge(claimsFor(client));
      const [header, , signature] = token.split('.');
      const widened = encodeJson(claimsFor(client, { scope: 'admin' }));
      expect(await introspectBody(`${header}.${widened}.${signature}`)).toEqual(INACTIVE);
    });

    it.each([
      ['a word', 'garbage'],
      ['three dots', 'a.b.c'],
      ['an opaque secret', 'lk_rt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
      ['two parts', 'eyJhbGciOiJFUzI1NiJ9.e30'],
      ['non-JSON parts', 'Zm9v.YmFy.YmF6'],
      ['a very long value', 'a'.repeat(10_000)],
      ['spaces and symbols', ' <script> '],
      ['a NUL character', 'a.b.c\u0000'],
    ])('that is garbage (%s)', async (_label, token) => {
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });

    it('whose client was deleted', async () => {
      const { client, token } = await issuedToken();
      expect(await introspectBody(token)).toMatchObject({ active: true });
      await sut.app.get(ClientsService).remove(client.client_id);
      expect(await introspectBody(token)).toEqual(INACTIVE);
    });
  });

  describe('the caller', () => {
    it('must authenticate', async () => {
      const { token } = await issuedToken();
      const response = await postForm(introspectUrl, { token });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        'Basic realm="latchkey", charset="UTF-8"',
      );
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'client authentication is required',
      });
    });

    it('must present the right secret', async () => {
      const { token } = await issuedToken();
      const response = await introspect(token, {}, { ...caller, client_secret: 'lk_cs_wrong' });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        'Basic realm="latchkey", charset="UTF-8"',
      );
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'client authentication failed',
      });
    });

    it('cannot be a public client', async () => {
      const { token } = await issuedToken();
      const publicClient = await sut.createClient({
        client_type: 'public',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      const response = await postForm(introspectUrl, { token, client_id: publicClient.client_id });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'client authentication failed',
      });
    });

    it('is refused before the token is looked at', async () => {
      // Without authentication, an invalid token and a valid one get the same answer.
      const { token } = await issuedToken();
      const valid = await postForm(introspectUrl, { token });
      const invalid = await postForm(introspectUrl, { token: 'garbage' });
      expect(valid.status).toBe(401);
      expect(invalid.status).toBe(401);
      expect(await valid.json()).toEqual(await invalid.json());
    });
  });

  describe('bad requests', () => {
    it('requires the token parameter', async () => {
      for (const body of [{}, { token: '' }] as Record<string, string>[]) {
        const response = await postForm(introspectUrl, body, { authorization: basicAuth(caller) });
        expect(response.status).toBe(400);
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(await response.json()).toEqual({
          error: 'invalid_request',
          error_description: 'token is required',
        });
      }
    });

    it('refuses a repeated token parameter', async () => {
      const { token } = await issuedToken();
      const body = new URLSearchParams({ token });
      body.append('token', token);
      const response = await postForm(introspectUrl, body, { authorization: basicAuth(caller) });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'parameter token must not be repeated',
      });
      expect(await revokedRows(decodeJwt(token).jti as string)).toBe(0);
    });

    it('refuses a body that is not a form', async () => {
      const { token } = await issuedToken();
      const response = await fetch(introspectUrl, {
        method: 'POST',
        headers: { authorization: basicAuth(caller), 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      expect(response.status).toBe(415);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'content type must be application/x-www-form-urlencoded',
      });
    });

    it('refuses a body over the limit', async () => {
      const response = await introspect('garbage', {
        padding: 'x'.repeat(sut.config.http.bodyLimitBytes),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'request body is too large',
      });
    });

    it('answers GET with 405 and an Allow header', async () => {
      const response = await fetch(introspectUrl);
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'use POST for this endpoint',
      });
    });
  });
});

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}
