import { randomBytes, randomUUID } from 'node:crypto';
import { CompactSign, SignJWT, generateKeyPair } from 'jose';
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

type Json = Record<string, unknown>;

const ERROR_KEYS = ['statusCode', 'code', 'message', 'details', 'requestId'];

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('admin API bearer guard', () => {
  let sut: TestApp;
  let metadata: string;

  beforeAll(async () => {
    sut = await startTestApp();
    metadata = `resource_metadata="${sut.baseUrl}/.well-known/oauth-protected-resource"`;
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  /** Claims of a well-formed admin token from this server, to be varied per test. */
  function adminClaims(overrides: Json = {}): Json {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: sut.config.issuer,
      sub: 'guard-test',
      aud: sut.config.audiences.admin,
      exp: now + 300,
      iat: now,
      jti: randomUUID(),
      client_id: 'guard-test',
      scope: 'admin',
      ...overrides,
    };
  }

  /** Signs claims with the server's own active access-token key. */
  async function signWithServerKey(claims: Json, header: Json = {}): Promise<string> {
    const key = sut.app.get(SigningKeysService).activeKey('access_token');
    return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
      .sign(key.privateKey);
  }

  function uniqueName(label: string): string {
    return `admin-guard ${label} ${randomUUID()}`;
  }

  async function rowsNamed(name: string): Promise<number> {
    const rows = await sut.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM clients WHERE name = $1`,
      [name],
    );
    return rows[0].n;
  }

  /**
   * Tries to create a client with this Authorization header (or none). Returns the response;
   * the caller checks that no client was created.
   */
  async function attemptCreate(
    authorization: string | undefined,
    name: string,
  ): Promise<{ status: number; headers: Headers; body: Json }> {
    const response = await fetch(`${sut.baseUrl}/admin/clients`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(authorization === undefined ? {} : { authorization }),
      },
      body: JSON.stringify({ client_name: name }),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Json,
    };
  }

  async function expectUnauthenticated(
    authorization: string | undefined,
    challenge: RegExp | string,
  ): Promise<Json> {
    const name = uniqueName('rejected');

    const response = await attemptCreate(authorization, name);

    expect(response.status).toBe(401);
    expect(response.body.code).toBe('unauthenticated');
    expect(response.body.statusCode).toBe(401);
    expect(typeof response.body.message).toBe('string');
    for (const key of Object.keys(response.body)) expect(ERROR_KEYS).toContain(key);
    const header = response.headers.get('www-authenticate') ?? '';
    if (typeof challenge === 'string') expect(header).toBe(challenge);
    else expect(header).toMatch(challenge);
    expect(header).toContain(metadata);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await rowsNamed(name)).toBe(0);
    return response.body;
  }

  function invalidToken(description: string): string {
    return `Bearer error="invalid_token", error_description="${description}", ${metadata}`;
  }

  it('lets a valid admin token through, whatever the case of the scheme', async () => {
    const token = await sut.adminToken();

    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const response = await fetch(`${sut.baseUrl}/admin/clients?limit=1`, {
        headers: { authorization: `${scheme} ${token}` },
      });
      expect(response.status).toBe(200);
    }
    const name = uniqueName('accepted');
    expect((await attemptCreate(`Bearer ${token}`, name)).status).toBe(201);
    expect(await rowsNamed(name)).toBe(1);
  });

  it('answers 401 without a token, pointing at the protected-resource metadata', async () => {
    const body = await expectUnauthenticated(undefined, `Bearer ${metadata}`);

    expect(body.message).toBe('a bearer token is required');
  });

  it.each([
    ['HTTP Basic credentials', 'Basic ' + Buffer.from('a:b').toString('base64')],
    ['a token without a scheme', 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln'],
    ['an empty bearer token', 'Bearer '],
    ['two tokens', 'Bearer abc def'],
  ])('answers 401 to %s', async (_label, authorization) => {
    const body = await expectUnauthenticated(
      authorization,
      `Bearer error="invalid_request", ${metadata}`,
    );

    expect(body.message).toBe('the Authorization header is not a bearer token');
  });

  it.each([
    ['garbage', 'not-a-jwt'],
    ['a JWT-shaped string', 'aaaa.bbbb.cccc'],
    ['an oversized token', `${'a'.repeat(5000)}.${'b'.repeat(5000)}.c`],
  ])('answers 401 invalid_token to %s', async (_label, token) => {
    await expectUnauthenticated(
      `Bearer ${token}`,
      /^Bearer error="invalid_token", error_description="the access token (is malformed|signature is not valid)", /,
    );
  });

  it('answers 401 to an expired token', async () => {
    const { token } = await sut.app.get(AccessTokensService).issue({
      subject: 'guard-test',
      clientId: 'guard-test',
      audience: sut.config.audiences.admin,
      scope: 'admin',
      ttlSeconds: -120,
    });

    await expectUnauthenticated(`Bearer ${token}`, invalidToken('the access token has expired'));
  });

  it('answers 401 to a revoked token', async () => {
    const admin: TestClient = await sut.createAdminClient();
    const issued = await tokenRequest(sut.baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: sut.config.audiences.admin,
    });
    const token = ((await issued.json()) as { access_token: string }).access_token;
    const before = await fetch(`${sut.baseUrl}/admin/clients?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(before.status).toBe(200);

    const revoked = await postForm(
      `${sut.baseUrl}/oauth/revoke`,
      { token },
      { authorization: basicAuth(admin) },
    );
    expect(revoked.status).toBe(200);

    await expectUnauthenticated(
      `Bearer ${token}`,
      invalidToken('the access token has been revoked'),
    );
  });

  it('answers 401 to a token for another audience (the default audience)', async () => {
    const admin = await sut.createAdminClient();
    const issued = await tokenRequest(sut.baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
    });
    const body = (await issued.json()) as { access_token: string };
    const claims = JSON.parse(
      Buffer.from(body.access_token.split('.')[1], 'base64url').toString(),
    ) as Json;
    expect(claims.aud).toBe(sut.config.audiences.default);
    expect(claims.scope).toBe('admin');

    await expectUnauthenticated(
      `Bearer ${body.access_token}`,
      invalidToken('the access token is not meant for this API'),
    );
  });

  it('answers 401 to a token from a foreign issuer, even when signed with our key', async () => {
    const token = await signWithServerKey(adminClaims({ iss: 'https://evil.example' }));

    await expectUnauthenticated(
      `Bearer ${token}`,
      invalidToken('the access token was issued by another issuer'),
    );
  });

  it('answers 401 to a token signed with our key but not typed at+jwt', async () => {
    const token = await signWithServerKey(adminClaims(), { typ: 'JWT' });

    await expectUnauthenticated(
      `Bearer ${token}`,
      invalidToken('the token is not an access token'),
    );
  });

  it('answers 401 to a token signed by a foreign key that claims our kid', async () => {
    const ours = sut.app.get(SigningKeysService).activeKey('access_token');
    const foreign = await generateKeyPair(ours.alg);
    const token = await new SignJWT(adminClaims())
      .setProtectedHeader({ alg: ours.alg, kid: ours.kid, typ: 'at+jwt' })
      .sign(foreign.privateKey);

    await expectUnauthenticated(
      `Bearer ${token}`,
      invalidToken('the access token signature is not valid'),
    );
  });

  it('answers 401 to a token signed by a foreign key with its own kid', async () => {
    const foreign = await generateKeyPair('ES256');
    const token = await new SignJWT(adminClaims())
      .setProtectedHeader({ alg: 'ES256', kid: 'foreign-key', typ: 'at+jwt' })
      .sign(foreign.privateKey);

    await expectUnauthenticated(
      `Bearer ${token}`,
      invalidToken('the access token signature is not valid'),
    );
  });

  it('answers 401 to an HS256 token that names our kid (algorithm confusion)', async () => {
    const ours = sut.app.get(SigningKeysService).activeKey('access_token');
    const token = await new SignJWT(adminClaims())
      .setProtectedHeader({ alg: 'HS256', kid: ours.kid, typ: 'at+jwt' })
      .sign(randomBytes(32));

    await expectUnauthenticated(
      `Bearer ${token}`,
      invalidToken('the access token signature is not valid'),
    );
  });

  it.each([
    ['without a signature', ''],
    ['with a made-up signature', 'c2lnbmF0dXJl'],
  ])('answers 401 to an alg:none token %s', async (_label, signature) => {
    const ours = sut.app.get(SigningKeysService).activeKey('access_token');
    for (const header of [
      { alg: 'none', typ: 'at+jwt' },
      { alg: 'none', kid: ours.kid, typ: 'at+jwt' },
    ]) {
      const token = `${base64url(header)}.${base64url(adminClaims())}.${signature}`;

      await expectUnauthenticated(
        `Bearer ${token}`,
        /^Bearer error="invalid_token", error_description="the access token (is malformed|signature is not valid)", /,
      );
    }
  });

  it('answers 401 to a tampered token (scope widened after signing)', async () => {
    // The admin API defines only `admin`, so such a token is not issued: sign one directly.
    const { token: issued } = await sut.app.get(AccessTokensService).issue({
      subject: 'guard-test',
      clientId: 'guard-test',
      audience: sut.config.audiences.admin,
      scope: 'reports:read',
    });
    const [header, payload, signature] = issued.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Json;
    const forged = `${header}.${base64url({ ...claims, scope: 'admin' })}.${signature}`;

    await expectUnauthenticated(
      `Bearer ${forged}`,
      invalidToken('the access token signature is not valid'),
    );
  });

  it('answers 403 insufficient_scope to a token without the admin permission', async () => {
    // The admin API defines only `admin`, so such a token is not issued: sign one directly.
    const { token } = await sut.app.get(AccessTokensService).issue({
      subject: 'guard-test',
      clientId: 'guard-test',
      audience: sut.config.audiences.admin,
      scope: 'reports:read',
    });
    const name = uniqueName('forbidden');

    const response = await attemptCreate(`Bearer ${token}`, name);

    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({ statusCode: 403, code: 'forbidden' });
    expect(response.body.message).toContain('admin');
    for (const key of Object.keys(response.body)) expect(ERROR_KEYS).toContain(key);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="admin", ${metadata}`,
    );
    expect(await rowsNamed(name)).toBe(0);
  });

  it('guards every admin route, reads included', async () => {
    const client = await sut.createClient();
    const routes: [string, string][] = [
      ['GET', '/admin/clients'],
      ['GET', `/admin/clients/${client.client_id}`],
      ['PATCH', `/admin/clients/${client.client_id}`],
      ['DELETE', `/admin/clients/${client.client_id}`],
      ['POST', `/admin/clients/${client.client_id}/secret`],
      ['GET', '/admin/keys'],
      ['POST', '/admin/keys/rotate'],
    ];
    const rowBefore = await sut.dataSource.query<Json[]>(
      `SELECT id, name, secret_hash, updated_at FROM clients WHERE id = $1`,
      [client.client_id],
    );

    for (const [method, path] of routes) {
      const response = await fetch(`${sut.baseUrl}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'PATCH' ? JSON.stringify({ client_name: 'hijacked' }) : undefined,
      });
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 401 });
      expect(((await response.json()) as Json).code).toBe('unauthenticated');
    }

    const rowAfter = await sut.dataSource.query<Json[]>(
      `SELECT id, name, secret_hash, updated_at FROM clients WHERE id = $1`,
      [client.client_id],
    );
    expect(rowAfter).toEqual(rowBefore);
  });
});
