import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
} from 'jose';
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { ClientsService } from '../../src/clients/clients.service.js';
import {
  basicAuth,
  postForm,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

interface OAuthErrorBody {
  error: string;
  error_description: string;
}

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

const FORM = 'application/x-www-form-urlencoded';

describe('POST /oauth/token, grant_type=client_credentials', () => {
  let sut: TestApp;
  let tokenUrl: string;

  beforeAll(async () => {
    sut = await startTestApp();
    tokenUrl = `${sut.baseUrl}/oauth/token`;
  });

  afterAll(async () => {
    await sut.close();
  });

  /** The client's row as stored, without last_used_at (which records use, not configuration). */
  async function clientRow(clientId: string): Promise<Record<string, unknown>> {
    const rows = await sut.dataSource.query<Record<string, unknown>[]>(
      `SELECT id, name, type, secret_hash, secret_rotated_at, redirect_uris, grant_types,
              response_types, allowed_scopes, service_roles, token_endpoint_auth_method,
              owner_user_id, updated_at
       FROM clients WHERE id = $1`,
      [clientId],
    );
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  /** Sends a bad request, expects the exact OAuth error, and shows the client row unchanged. */
  async function expectOAuthError(
    client: TestClient,
    send: () => Promise<Response>,
    status: number,
    error: string,
    description: string,
  ): Promise<Response> {
    const before = await clientRow(client.client_id);
    const response = await send();
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as OAuthErrorBody;
    expect(body).toEqual({ error, error_description: description });
    expect(await clientRow(client.client_id)).toEqual(before);
    return response;
  }

  async function issue(
    client: TestClient,
    params: Record<string, string> = {},
  ): Promise<TokenBody> {
    const response = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'client_credentials',
      ...params,
    });
    const body = (await response.json()) as TokenBody;
    expect(response.status).toBe(200);
    return body;
  }

  describe('a successful request', () => {
    it('returns a Bearer token with no-store caching and no refresh token', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const response = await tokenRequest(sut.baseUrl, client, {
        grant_type: 'client_credentials',
        scope: 'reports:read',
      });

      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('pragma')).toBe('no-cache');
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await response.json()) as TokenBody;
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'expires_in',
        'scope',
        'token_type',
      ]);
      expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'reports:read' });
      expect(body.refresh_token).toBeUndefined();
    });

    it('signs an RFC 9068 at+jwt with ES256 and a key published in the JWKS', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const { access_token } = await issue(client);

      const header = decodeProtectedHeader(access_token);
      expect(header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
      expect(typeof header.kid).toBe('string');

      const jwksResponse = await fetch(`${sut.baseUrl}/.well-known/jwks.json`);
      expect(jwksResponse.status).toBe(200);
      const jwks = (await jwksResponse.json()) as JSONWebKeySet;
      expect(jwks.keys.map((key) => key.kid)).toContain(header.kid);
      // The published key really verifies the token.
      const verified = await jwtVerify(access_token, createLocalJWKSet(jwks), {
        issuer: sut.baseUrl,
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      expect(verified.protectedHeader.kid).toBe(header.kid);
    });

    it('carries iss, sub, client_id, aud, iat, exp, jti and scope claims', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const body = await issue(client, { scope: 'reports:read' });
      const claims = decodeJwt(body.access_token);

      expect(claims.iss).toBe(sut.baseUrl);
      expect(claims.iss).toBe(sut.config.issuer);
      expect(claims.sub).toBe(client.client_id);
      expect(claims.client_id).toBe(client.client_id);
      // Without `resource`, the default audience: the issuer.
      expect(claims.aud).toBe(sut.config.audiences.default);
      expect(claims.aud).toBe(sut.baseUrl);
      expect(claims.scope).toBe('reports:read');
      expect(typeof claims.jti).toBe('string');
      expect((claims.jti as string).length).toBeGreaterThanOrEqual(16);
      expect(typeof claims.iat).toBe('number');
      expect((claims.exp as number) - (claims.iat as number)).toBe(body.expires_in);
      expect(Math.abs((claims.iat as number) - Date.now() / 1000)).toBeLessThan(60);
      expect(claims.owner).toBeUndefined();
      expect(claims.act).toBeUndefined();
      expect(claims.sid).toBeUndefined();
    });

    it('gives every token its own jti', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const first = decodeJwt((await issue(client)).access_token);
      const second = decodeJwt((await issue(client)).access_token);
      expect(first.jti).not.toBe(second.jti);
    });

    it('binds the token to the admin API audience when resource names it (RFC 8707)', async () => {
      const client = await sut.createAdminClient();
      const body = await issue(client, { resource: sut.config.audiences.admin });
      const claims = decodeJwt(body.access_token);
      expect(claims.aud).toBe(sut.config.audiences.admin);
      expect(claims.aud).toBe(`${sut.baseUrl}/admin`);
      // The default scope for a resource is what the client may get that the resource defines.
      expect(body.scope).toBe('admin');
      expect((claims.exp as number) - (claims.iat as number)).toBe(body.expires_in);
    });

    it('adds the owner claim for a client owned by a user', async () => {
      const owner = randomUUID();
      const client = await sut.createClient({
        allowed_scopes: ['reports:read'],
        owner_user_id: owner,
      });
      const body = await issue(client);
      const claims = decodeJwt(body.access_token);
      expect(claims.owner).toBe(owner);
      // Ownership is attribution only: the subject is still the client, and scope is not widened.
      expect(claims.sub).toBe(client.client_id);
      expect(body.scope).toBe('reports:read');
    });

    it('accepts the form content type with a charset parameter', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const response = await postForm(
        tokenUrl,
        { grant_type: 'client_credentials' },
        { authorization: basicAuth(client), 'content-type': `${FORM}; charset=UTF-8` },
      );
      expect(response.status).toBe(200);
    });
  });

  describe('scope', () => {
    it('defaults to every scope the client may get when scope is omitted', async () => {
      const client = await sut.createClient({
        allowed_scopes: ['reports:write', 'reports:read', 'billing:read'],
      });
      const body = await issue(client);
      expect(body.scope).toBe('billing:read reports:read reports:write');
      expect(decodeJwt(body.access_token).scope).toBe(body.scope);
    });

    it('grants a subset when asked for one', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read', 'reports:write'] });
      const body = await issue(client, { scope: 'reports:write' });
      expect(body.scope).toBe('reports:write');
      expect(decodeJwt(body.access_token).scope).toBe('reports:write');
    });

    it('orders and de-duplicates the granted scopes', async () => {
      const client = await sut.createClient({
        allowed_scopes: ['reports:read', 'reports:write', 'billing:read'],
      });
      const body = await issue(client, {
        scope: 'reports:write billing:read reports:write reports:read billing:read',
      });
      expect(body.scope).toBe('billing:read reports:read reports:write');
      expect(decodeJwt(body.access_token).scope).toBe(body.scope);
    });

    it('puts user-tier scopes before service-tier scopes', async () => {
      const client = await sut.createClient({
        allowed_scopes: ['reports:read', 'admin'],
        service_account_roles: ['admin'],
      });
      const body = await issue(client, { scope: 'reports:read admin' });
      expect(body.scope).toBe('admin reports:read');
    });

    it('refuses a user-tier scope to a client that is not a service account', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () =>
          tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials', scope: 'admin' }),
        400,
        'invalid_scope',
        'the client may not request: admin',
      );
      await expectOAuthError(
        client,
        () =>
          tokenRequest(sut.baseUrl, client, {
            grant_type: 'client_credentials',
            scope: 'reports:read user',
          }),
        400,
        'invalid_scope',
        'the client may not request: user',
      );
    });

    it('cannot give a plain client a user-tier scope through the admin rules either', async () => {
      const clients = sut.app.get(ClientsService);
      const name = `tier ${randomUUID()}`;
      await expect(
        clients.create({ client_name: name, allowed_scopes: ['admin'] }),
      ).rejects.toThrow('scope admin needs the client to be a service account with that role');
      const rows = await sut.dataSource.query<unknown[]>(`SELECT id FROM clients WHERE name = $1`, [
        name,
      ]);
      expect(rows).toHaveLength(0);
    });

    it('grants admin to a service account with the admin role', async () => {
      const client = await sut.createAdminClient();
      const body = await issue(client, { scope: 'admin', resource: sut.config.audiences.admin });
      expect(body.scope).toBe('admin');
      const claims = decodeJwt(body.access_token);
      expect(claims).toMatchObject({
        scope: 'admin',
        sub: client.client_id,
        aud: sut.config.audiences.admin,
      });
      // The default scope of an admin service account is what its role allows: the admin role
      // holds the user and admin permissions, in hierarchy order.
      expect((await issue(client)).scope).toBe('user admin');
      expect((await issue(client, { scope: 'user' })).scope).toBe('user admin');
    });

    it('never grants user-tier scopes to a client that is not a service account', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const response = await tokenRequest(sut.baseUrl, client, {
        grant_type: 'client_credentials',
        scope: 'user',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'invalid_scope',
        error_description: 'the client may not request: user',
      });
    });

    it('lets the token of an admin service account call the admin API', async () => {
      const client = await sut.createAdminClient();
      const { access_token } = await issue(client, {
        scope: 'admin',
        resource: sut.config.audiences.admin,
      });
      const response = await fetch(`${sut.baseUrl}/admin/clients/${client.client_id}`, {
        headers: { authorization: `Bearer ${access_token}` },
      });
      expect(response.status).toBe(200);
    });

    it('grants user but not admin to a service account with the user role', async () => {
      const client = await sut.createClient({
        allowed_scopes: ['user'],
        service_account_roles: ['user'],
      });
      expect((await issue(client, { scope: 'user' })).scope).toBe('user');
      await expectOAuthError(
        client,
        () =>
          tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials', scope: 'admin' }),
        400,
        'invalid_scope',
        'the client may not request: admin',
      );
    });

    it('lists every scope the client may not request', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () =>
          tokenRequest(sut.baseUrl, client, {
            grant_type: 'client_credentials',
            scope: 'reports:read reports:write billing:read',
          }),
        400,
        'invalid_scope',
        'the client may not request: reports:write billing:read',
      );
    });

    it('refuses the request when the client may get no scope at all', async () => {
      const client = await sut.createClient();
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials' }),
        400,
        'invalid_scope',
        'the client has no scope it may request',
      );
    });

    it.each([
      ['empty', ''],
      ['a double space', 'reports:read  reports:write'],
      ['a leading space', ' reports:read'],
      ['a trailing space', 'reports:read '],
      ['a double quote', 'reports:"read"'],
      ['a backslash', 'reports\\read'],
      ['a tab', 'reports:read\treports:write'],
      ['a non-ASCII character', 'rapports:lé'],
      ['a scope token that is too long', 'x'.repeat(129)],
      ['a NUL character', 'reports:read\u0000'],
    ])('refuses a malformed scope (%s)', async (_label, scope) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read', 'reports:write'] });
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials', scope }),
        400,
        'invalid_scope',
        'scope is not a space-delimited list of scope tokens',
      );
    });
  });

  describe('resource (RFC 8707)', () => {
    it('refuses a repeated resource with invalid_target', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const params = new URLSearchParams({ grant_type: 'client_credentials' });
      params.append('resource', sut.config.audiences.admin);
      params.append('resource', sut.config.audiences.default);
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, params),
        400,
        'invalid_target',
        'request one resource per access token',
      );
    });

    it('refuses the same resource given twice with invalid_target', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const params = new URLSearchParams({ grant_type: 'client_credentials' });
      params.append('resource', sut.config.audiences.admin);
      params.append('resource', sut.config.audiences.admin);
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, params),
        400,
        'invalid_target',
        'request one resource per access token',
      );
    });

    it.each([
      ['an unknown resource', 'https://api.unknown.example/'],
      ['a relative reference', '/admin'],
      ['not a URI', 'admin api'],
      ['a URI with a fragment', `http://127.0.0.1/admin#frag`],
      ['an empty value', ''],
      ['a NUL character', 'http://127.0.0.1/admin\u0000'],
    ])('refuses %s with invalid_target', async (_label, resource) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials', resource }),
        400,
        'invalid_target',
        'the requested resource is not known to this server',
      );
    });

    it('refuses the admin audience with a fragment appended', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () =>
          tokenRequest(sut.baseUrl, client, {
            grant_type: 'client_credentials',
            resource: `${sut.config.audiences.admin}#x`,
          }),
        400,
        'invalid_target',
        'the requested resource is not known to this server',
      );
    });
  });

  describe('grant type', () => {
    it.each(['password', 'implicit', 'urn:example:unknown', 'CLIENT_CREDENTIALS'])(
      'refuses the unsupported grant type %s',
      async (grantType) => {
        const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
        await expectOAuthError(
          client,
          () => tokenRequest(sut.baseUrl, client, { grant_type: grantType }),
          400,
          'unsupported_grant_type',
          `grant type ${grantType} is not supported`,
        );
      },
    );

    it('requires grant_type', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { scope: 'reports:read' }),
        400,
        'invalid_request',
        'grant_type is required',
      );
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { grant_type: '' }),
        400,
        'invalid_request',
        'grant_type is required',
      );
    });

    it('refuses client_credentials to a client registered without that grant', async () => {
      const client = await sut.createClient({
        grant_types: ['authorization_code'],
        redirect_uris: ['https://app.example.com/callback'],
        allowed_scopes: ['reports:read'],
      });
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials' }),
        400,
        'unauthorized_client',
        'the client may not use the client_credentials grant',
      );
    });

    it('refuses client_credentials to a public client', async () => {
      const client = await sut.createClient({
        client_type: 'public',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      await expectOAuthError(
        client,
        () => postForm(tokenUrl, { grant_type: 'client_credentials', client_id: client.client_id }),
        400,
        'unauthorized_client',
        'the client may not use the client_credentials grant',
      );
    });
  });

  describe('repeated parameters (RFC 6749 §3.2)', () => {
    it.each([
      ['scope', 'grant_type=client_credentials&scope=reports:read&scope=reports:read'],
      ['grant_type', 'grant_type=client_credentials&grant_type=client_credentials'],
      ['audience', 'grant_type=client_credentials&audience=a&audience=b'],
    ])('refuses a repeated %s', async (name, body) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, new URLSearchParams(body)),
        400,
        'invalid_request',
        `parameter ${name} must not be repeated`,
      );
    });

    it('refuses a repeated client_id in the body', async () => {
      const client = await sut.createClient({
        allowed_scopes: ['reports:read'],
        token_endpoint_auth_method: 'client_secret_post',
      });
      const body = new URLSearchParams({ grant_type: 'client_credentials' });
      body.append('client_id', client.client_id);
      body.append('client_id', client.client_id);
      body.append('client_secret', client.client_secret);
      await expectOAuthError(
        client,
        () => postForm(tokenUrl, body),
        400,
        'invalid_request',
        'parameter client_id must not be repeated',
      );
    });
  });

  describe('malformed HTTP requests', () => {
    it.each([
      [
        'application/json',
        'application/json',
        JSON.stringify({ grant_type: 'client_credentials' }),
      ],
      ['text/plain', 'text/plain', 'grant_type=client_credentials'],
      ['multipart/form-data', 'multipart/form-data; boundary=x', '--x--'],
    ])('answers 415 in OAuth JSON to a %s body', async (_label, contentType, body) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () =>
          fetch(tokenUrl, {
            method: 'POST',
            headers: { authorization: basicAuth(client), 'content-type': contentType },
            body,
          }),
        415,
        'invalid_request',
        'content type must be application/x-www-form-urlencoded',
      );
    });

    it('answers 415 when the content type is missing', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () =>
          fetch(tokenUrl, {
            method: 'POST',
            headers: { authorization: basicAuth(client) },
            body: new Blob(['grant_type=client_credentials']),
          }),
        415,
        'invalid_request',
        'content type must be application/x-www-form-urlencoded',
      );
    });

    it('answers 413 to a body over the limit', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const padding = 'x'.repeat(sut.config.http.bodyLimitBytes);
      await expectOAuthError(
        client,
        () => tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials', padding }),
        413,
        'invalid_request',
        'request body is too large',
      );
    });

    it('answers 413 to a chunked body that grows over the limit', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const before = await clientRow(client.client_id);
      const response = await rawPost(tokenUrl, {
        headers: { authorization: basicAuth(client), 'content-type': FORM },
        chunks: [
          'grant_type=client_credentials&padding=',
          ...Array.from({ length: 5 }, () => 'y'.repeat(sut.config.http.bodyLimitBytes / 4)),
        ],
      });
      expect(response.status).toBe(413);
      expect(response.headers['transfer-encoding']).toBeUndefined();
      expect(JSON.parse(response.body)).toEqual({
        error: 'invalid_request',
        error_description: 'request body is too large',
      });
      expect(await clientRow(client.client_id)).toEqual(before);
    });

    it('accepts a body exactly at the limit', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const start = 'grant_type=client_credentials&padding=';
      const padding = 'x'.repeat(sut.config.http.bodyLimitBytes - start.length);
      const response = await tokenRequest(
        sut.baseUrl,
        client,
        new URLSearchParams({ grant_type: 'client_credentials', padding }),
      );
      expect(response.status).toBe(200);
    });

    it.each([
      ['a truncated escape', 'grant_type=client_credentials&scope=%E'],
      ['a non-hex escape', 'grant_type=client_credentials&scope=%ZZ'],
      ['an invalid UTF-8 sequence', 'grant_type=client_credentials&scope=%C3%28'],
      ['a bad escape in a name', 'grant_type=client_credentials&sc%GGope=x'],
    ])('refuses invalid percent-encoding (%s)', async (_label, body) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        client,
        () => postForm(tokenUrl, body, { authorization: basicAuth(client) }),
        400,
        'invalid_request',
        'request body is not valid form encoding',
      );
    });

    it('decodes + as a space in the scope parameter', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read', 'reports:write'] });
      const response = await postForm(
        tokenUrl,
        'grant_type=client_credentials&scope=reports%3Awrite+reports:read',
        { authorization: basicAuth(client) },
      );
      expect(response.status).toBe(200);
      expect(((await response.json()) as TokenBody).scope).toBe('reports:read reports:write');
    });

    it.each(['GET', 'PUT', 'DELETE', 'PATCH'])(
      'answers %s with 405 and an Allow header',
      async (method) => {
        const response = await fetch(tokenUrl, { method });
        expect(response.status).toBe(405);
        expect(response.headers.get('allow')).toBe('POST');
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(await response.json()).toEqual({
          error: 'invalid_request',
          error_description: 'use POST for this endpoint',
        });
      },
    );

    it('ignores the query string when routing and reading parameters', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      // RFC 6749 §3.2: parameters come from the body; the query carries none of them.
      const response = await postForm(
        `${tokenUrl}?grant_type=password&scope=admin`,
        {
          grant_type: 'client_credentials',
        },
        { authorization: basicAuth(client) },
      );
      expect(response.status).toBe(200);
      expect(((await response.json()) as TokenBody).scope).toBe('reports:read');
    });
  });
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A POST whose body is streamed in chunks (Transfer-Encoding: chunked, no Content-Length). */
function rawPost(
  url: string,
  options: { headers: Record<string, string>; chunks: string[] },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: options.headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(parts).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of options.chunks) req.write(chunk);
    req.end();
  });
}
