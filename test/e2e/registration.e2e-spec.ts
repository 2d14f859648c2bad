import { createHash } from 'node:crypto';
import {
  countByName,
  expectOAuthBody,
  postRegistration,
  registerClient,
  uniqueName,
  type Json,
  type Sent,
} from '../utils/registration.js';
import { enrollAndSignIn } from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { REDIRECT_URI, issueCode, pkcePair, redeemOk } from '../utils/user-grants.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const NO_LIMIT = { REGISTRATION_RATE_LIMIT_PER_MINUTE: '100000' };
const PUBLIC_EC_JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
  y: 'x_FEzRjJZ8wkqbTIuqWsH1hiIqT4x_Qw-d-RKX5Pq6Y',
};

/** POST /oauth/register (RFC 7591): modes, initial access tokens, validation, response shape. */
describe('dynamic client registration', () => {
  let open: TestApp;

  beforeAll(async () => {
    open = await startTestApp({ REGISTRATION_MODE: 'open', ...NO_LIMIT });
  });

  afterAll(async () => {
    await open.close();
  });

  describe('response (RFC 7591 §3.2.1)', () => {
    it('echoes every registered field and issues the credentials once', async () => {
      const name = uniqueName('full');
      const redirectUris = ['https://app.example.com/cb?x=1', 'http://127.0.0.1:8080/cb'];
      const sent = await postRegistration(open, {
        client_name: name,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: ['https://app.example.com/bye'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
        application_type: 'web',
        scope: 'openid profile reports.read',
        contacts: ['ops@example.com'],
        client_uri: 'https://app.example.com',
        logo_uri: 'https://app.example.com/logo.png',
        policy_uri: 'https://app.example.com/policy',
        tos_uri: 'https://app.example.com/tos',
        software_id: 'com.example.app',
        software_version: '1.2.3',
        some_unknown_field: 'ignored',
      });
      expect(sent.status).toBe(201);
      expect(sent.headers.get('cache-control')).toBe('no-store');
      const id = sent.body.client_id as string;
      expect(sent.body).toEqual({
        client_id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
        client_id_issued_at: expect.any(Number) as unknown,
        client_secret: expect.stringMatching(/^lk_cs_[A-Za-z0-9_-]{43}$/) as unknown,
        client_secret_expires_at: 0,
        registration_access_token: expect.stringMatching(/^lk_rat_[A-Za-z0-9_-]{43}$/) as unknown,
        registration_client_uri: `${open.baseUrl}/oauth/register/${id}`,
        client_name: name,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: ['https://app.example.com/bye'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_post',
        application_type: 'web',
        scope: 'openid profile reports.read',
        contacts: ['ops@example.com'],
        client_uri: 'https://app.example.com',
        logo_uri: 'https://app.example.com/logo.png',
        policy_uri: 'https://app.example.com/policy',
        tos_uri: 'https://app.example.com/tos',
        software_id: 'com.example.app',
        software_version: '1.2.3',
      });
      expect(Math.abs((sent.body.client_id_issued_at as number) - Date.now() / 1000)).toBeLessThan(
        300,
      );
      const [row] = await open.dataSource.query<Json[]>(
        `SELECT source, type, secret_hash, registration_access_token_hash FROM clients WHERE id = $1`,
        [id],
      );
      expect(row).toEqual({
        source: 'dcr',
        type: 'confidential',
        secret_hash: sha256(sent.body.client_secret as string),
        registration_access_token_hash: sha256(sent.body.registration_access_token as string),
      });
    });

    it('fills in the defaults', async () => {
      const sent = await postRegistration(open, { redirect_uris: [REDIRECT_URI] });
      expect(sent.status).toBe(201);
      expect(sent.body).toMatchObject({
        client_name: sent.body.client_id,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        application_type: 'web',
      });
      expect(sent.body.client_secret).toEqual(expect.any(String));
      expect(sent.body).not.toHaveProperty('scope');
    });

    it('treats null fields as omitted', async () => {
      const sent = await postRegistration(open, {
        redirect_uris: [REDIRECT_URI],
        logo_uri: null,
        contacts: null,
        token_endpoint_auth_method: null,
      });
      expect(sent.status).toBe(201);
      expect(sent.body.token_endpoint_auth_method).toBe('client_secret_basic');
      expect(sent.body).not.toHaveProperty('logo_uri');
    });

    it('gives a public client no secret', async () => {
      const sent = await postRegistration(open, {
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
      });
      expect(sent.status).toBe(201);
      expect(sent.body).not.toHaveProperty('client_secret');
      expect(sent.body).not.toHaveProperty('client_secret_expires_at');
      const [row] = await open.dataSource.query<Json[]>(
        `SELECT type, secret_hash, application_type FROM clients WHERE id = $1`,
        [sent.body.client_id],
      );
      expect(row).toEqual({ type: 'public', secret_hash: null, application_type: 'native' });
    });

    it('registers a private_key_jwt client with its keys and no secret', async () => {
      const jwks = { keys: [PUBLIC_EC_JWK] };
      const sent = await postRegistration(open, {
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks,
      });
      expect(sent.status).toBe(201);
      expect(sent.body.jwks).toEqual(jwks);
      expect(sent.body).not.toHaveProperty('client_secret');
      const [row] = await open.dataSource.query<Json[]>(
        `SELECT type, secret_hash, jwks FROM clients WHERE id = $1`,
        [sent.body.client_id],
      );
      expect(row).toEqual({ type: 'confidential', secret_hash: null, jwks });
    });

    it.each([
      [
        'native',
        ['http://127.0.0.1/cb', 'http://[::1]:5000/cb', 'com.example.app:/oauth2redirect'],
      ],
      ['native', ['https://app.example.com/native']],
      ['web', ['https://app.example.com/cb', 'http://localhost:3000/cb']],
    ])('accepts %s redirect URIs %j', async (applicationType, uris) => {
      const sent = await postRegistration(open, {
        redirect_uris: uris,
        application_type: applicationType,
      });
      expect(sent.status).toBe(201);
      expect(sent.body.redirect_uris).toEqual(uris);
    });
  });

  describe('validation (RFC 7591 §3.2.2)', () => {
    const cases: [string, Json, string, string][] = [
      [
        'no redirect_uris',
        { redirect_uris: undefined },
        'invalid_redirect_uri',
        'redirect_uris is required for the authorization_code grant',
      ],
      [
        'null redirect_uris',
        { redirect_uris: null },
        'invalid_redirect_uri',
        'redirect_uris is required for the authorization_code grant',
      ],
      [
        'empty redirect_uris',
        { redirect_uris: [] },
        'invalid_redirect_uri',
        'redirect_uris is required for the authorization_code grant',
      ],
      [
        'redirect_uris not an array',
        { redirect_uris: 'https://app.example.com/cb' },
        'invalid_redirect_uri',
        'redirect_uris must be an array of at most 20 URIs of at most 2048 characters',
      ],
      [
        'a relative redirect URI',
        { redirect_uris: ['/cb'] },
        'invalid_redirect_uri',
        'redirect_uris[0] is not an absolute URI',
      ],
      [
        'a fragment',
        { redirect_uris: [REDIRECT_URI, 'https://app.example.com/cb#x'] },
        'invalid_redirect_uri',
        'redirect_uris[1] must not contain a fragment',
      ],
      [
        'user information',
        { redirect_uris: ['https://user:pw@app.example.com/cb'] },
        'invalid_redirect_uri',
        'redirect_uris[0] must not contain user information',
      ],
      [
        'http for a web application',
        { redirect_uris: ['http://app.example.com/cb'] },
        'invalid_redirect_uri',
        'redirect_uris[0] must use https (or http on a loopback address) for a web application',
      ],
      [
        'a private-use scheme for a web application',
        { redirect_uris: ['com.example.app:/cb'] },
        'invalid_redirect_uri',
        'redirect_uris[0] must use https (or http on a loopback address) for a web application',
      ],
      [
        'http off loopback for a native application',
        { redirect_uris: ['http://app.example.com/cb'], application_type: 'native' },
        'invalid_redirect_uri',
        'redirect_uris[0] must use http on a loopback address, a private-use scheme or https for a native application',
      ],
      [
        'a scheme that is not reverse-domain for a native application',
        { redirect_uris: ['myapp:/cb'], application_type: 'native' },
        'invalid_redirect_uri',
        'redirect_uris[0] must use http on a loopback address, a private-use scheme or https for a native application',
      ],
      [
        'a bad post-logout redirect',
        { post_logout_redirect_uris: ['http://app.example.com/bye'] },
        'invalid_redirect_uri',
        'post_logout_redirect_uris[0] must use https (or http on a loopback address) for a web application',
      ],
      [
        'client_credentials',
        { grant_types: ['client_credentials'] },
        'invalid_client_metadata',
        'the client_credentials grant cannot be registered dynamically',
      ],
      [
        'an unknown grant type',
        { grant_types: ['authorization_code', 'implicit'] },
        'invalid_client_metadata',
        'grant_types may only contain authorization_code and refresh_token',
      ],
      [
        'empty grant_types',
        { grant_types: [] },
        'invalid_client_metadata',
        'grant_types must not be empty',
      ],
      [
        'grant_types not an array',
        { grant_types: 'authorization_code' },
        'invalid_client_metadata',
        'grant_types must be an array of at most 20 strings',
      ],
      [
        'refresh_token alone',
        { grant_types: ['refresh_token'] },
        'invalid_client_metadata',
        'refresh_token requires the authorization_code grant',
      ],
      [
        'response type token',
        { response_types: ['code', 'token'] },
        'invalid_client_metadata',
        'response_types may only contain code',
      ],
      [
        'no response type for the code grant',
        { response_types: [] },
        'invalid_client_metadata',
        'the authorization_code grant needs the response type code',
      ],
      [
        'an unknown auth method',
        { token_endpoint_auth_method: 'client_secret_jwt' },
        'invalid_client_metadata',
        'token_endpoint_auth_method must be one of none, client_secret_basic, client_secret_post, private_key_jwt',
      ],
      [
        'jwks and jwks_uri together',
        { jwks: { keys: [PUBLIC_EC_JWK] }, jwks_uri: 'https://app.example.com/jwks' },
        'invalid_client_metadata',
        'jwks and jwks_uri must not both be present',
      ],
      [
        'private_key_jwt without keys',
        { token_endpoint_auth_method: 'private_key_jwt' },
        'invalid_client_metadata',
        'private_key_jwt needs jwks or jwks_uri',
      ],
      [
        'a private key in jwks',
        {
          jwks: { keys: [{ ...PUBLIC_EC_JWK, d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }] },
        },
        'invalid_client_metadata',
        'jwks must be a JSON Web Key Set of public keys',
      ],
      [
        'an empty jwks',
        { jwks: { keys: [] } },
        'invalid_client_metadata',
        'jwks must be a JSON Web Key Set of public keys',
      ],
      [
        'an http jwks_uri',
        { jwks_uri: 'http://app.example.com/jwks' },
        'invalid_client_metadata',
        'jwks_uri must be an https URL',
      ],
      [
        'an http logo_uri',
        { logo_uri: 'http://app.example.com/logo.png' },
        'invalid_client_metadata',
        'logo_uri must be an https URL',
      ],
      [
        'a javascript client_uri',
        { client_uri: 'javascript:alert(1)' },
        'invalid_client_metadata',
        'client_uri must be an https URL',
      ],
      [
        'a relative policy_uri',
        { policy_uri: '/policy' },
        'invalid_client_metadata',
        'policy_uri must be an https URL',
      ],
      [
        'a non-string tos_uri',
        { tos_uri: 42 },
        'invalid_client_metadata',
        'tos_uri must be an https URL',
      ],
      [
        'a contact that is no email address',
        { contacts: ['not-an-email'] },
        'invalid_client_metadata',
        'contacts must be an array of at most 10 email addresses',
      ],
      [
        'contacts as a string',
        { contacts: 'ops@example.com' },
        'invalid_client_metadata',
        'contacts must be an array of at most 10 email addresses',
      ],
      [
        'the user scope',
        { scope: 'openid user' },
        'invalid_client_metadata',
        'scope user cannot be registered dynamically',
      ],
      [
        'the admin scope',
        { scope: 'admin' },
        'invalid_client_metadata',
        'scope admin cannot be registered dynamically',
      ],
      [
        'an invalid scope token',
        { scope: 'openid "quoted"' },
        'invalid_client_metadata',
        'scope must be a space-delimited list of scope tokens',
      ],
      [
        'a scope array',
        { scope: ['openid'] },
        'invalid_client_metadata',
        'scope must be a space-delimited list of scope tokens',
      ],
      [
        'a client_name too long',
        { client_name: 'x'.repeat(201) },
        'invalid_client_metadata',
        'client_name must be a string of 1 to 200 characters',
      ],
      [
        'an unknown application_type',
        { application_type: 'desktop' },
        'invalid_client_metadata',
        'application_type must be web or native',
      ],
      [
        'a non-string software_id',
        { software_id: 42 },
        'invalid_client_metadata',
        'software_id must be a string of 1 to 200 characters',
      ],
      [
        'a software statement',
        { software_statement: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' },
        'invalid_software_statement',
        'software statements are not supported',
      ],
    ];

    it.each(cases)('refuses %s, and creates nothing', async (_label, metadata, error, message) => {
      const name = uniqueName('invalid');
      const sent = await postRegistration(open, {
        client_name: name,
        redirect_uris: [REDIRECT_URI],
        ...metadata,
      });
      expectOAuthBody(sent, 400, error, message);
      expect(await countByName(open, name)).toBe(0);
    });

    it.each([
      [
        'a form body',
        'redirect_uris=x',
        { 'content-type': 'application/x-www-form-urlencoded' },
        415,
        'content type must be application/json',
      ],
      ['malformed JSON', '{"redirect_uris": [', {}, 400, 'request body is not valid JSON'],
      ['a JSON array', '[]', {}, 400, 'request body must be a JSON object'],
      [
        'a NUL character',
        JSON.stringify({ redirect_uris: [REDIRECT_URI], client_name: 'a\u0000b' }),
        {},
        400,
        'strings must not contain NUL characters',
      ],
    ])('refuses %s', async (_label, body, headers, status, message) => {
      const sent = await postRegistration(open, body, headers);
      expectOAuthBody(sent, status, 'invalid_request', message);
    });

    it('answers GET with 405', async () => {
      const response = await fetch(`${open.baseUrl}/oauth/register`);
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
    });
  });

  describe('registered clients work', () => {
    it('a confidential client gets tokens through the code flow', async () => {
      const registered = await registerClient(open, { scope: 'openid profile' });
      const client = {
        client_id: registered.client_id,
        client_secret: registered.client_secret ?? '',
        public: false,
      };
      const issued = await issueCode(open, client, { scope: 'openid offline_access' });
      const tokens = await redeemOk(open, client, issued);
      expect(tokens.access_token).toEqual(expect.any(String));
      expect(tokens.refresh_token).toEqual(expect.any(String));
      expect(tokens.id_token).toEqual(expect.any(String));
    });

    it('a native client loopback redirect matches on any port, a web one only exactly', async () => {
      const person = await enrollAndSignIn(open);
      const authorize = (clientId: string, redirectUri: string) => {
        const query = new URLSearchParams({
          response_type: 'code',
          client_id: clientId,
          redirect_uri: redirectUri,
          scope: 'openid',
          state: 's',
          code_challenge: pkcePair().challenge,
          code_challenge_method: 'S256',
        });
        return fetch(`${open.baseUrl}/oauth/authorize?${query.toString()}`, {
          redirect: 'manual',
          headers: { cookie: person.cookie },
        });
      };
      const native = await registerClient(open, {
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
      });
      expect((await authorize(native.client_id, 'http://127.0.0.1:53127/callback')).status).toBe(
        200,
      );
      expect((await authorize(native.client_id, 'http://127.0.0.1:53127/other')).status).toBe(400);

      const web = await registerClient(open, {
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'none',
        application_type: 'web',
      });
      expect((await authorize(web.client_id, 'http://127.0.0.1/callback')).status).toBe(200);
      expect((await authorize(web.client_id, 'http://127.0.0.1:53127/callback')).status).toBe(400);
    });
  });

  describe('modes', () => {
    it('advertises the endpoint when registration is on', async () => {
      const metadata = (await (
        await fetch(`${open.baseUrl}/.well-known/openid-configuration`)
      ).json()) as Json;
      expect(metadata.registration_endpoint).toBe(`${open.baseUrl}/oauth/register`);
    });

    it('off: refuses with access_denied and does not advertise the endpoint', async () => {
      const off = await startTestApp({ REGISTRATION_MODE: 'off' });
      try {
        const name = uniqueName('off');
        const sent = await postRegistration(off, {
          client_name: name,
          redirect_uris: [REDIRECT_URI],
        });
        expectOAuthBody(sent, 403, 'access_denied', 'dynamic client registration is disabled');
        expect(await countByName(off, name)).toBe(0);
        const metadata = (await (
          await fetch(`${off.baseUrl}/.well-known/openid-configuration`)
        ).json()) as Json;
        expect(metadata).not.toHaveProperty('registration_endpoint');
      } finally {
        await off.close();
      }
    });

    it('rate-limits registrations per address, and a refused one creates nothing', async () => {
      const limited = await startTestApp({
        REGISTRATION_MODE: 'open',
        REGISTRATION_RATE_LIMIT_PER_MINUTE: '2',
      });
      try {
        const name = uniqueName('limited');
        // At most one window boundary falls within these requests, so 5 reach the limit of 2.
        const results: Sent[] = [];
        for (let i = 0; i < 5 && !results.some((r) => r.status === 429); i++) {
          results.push(
            await postRegistration(limited, { client_name: name, redirect_uris: [REDIRECT_URI] }),
          );
        }
        const refused = results.at(-1) as Sent;
        expectOAuthBody(refused, 429, 'invalid_request', 'too many registrations; retry later');
        expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        const created = results.filter((r) => r.status === 201).length;
        expect(created).toBe(results.length - 1);
        expect(await countByName(limited, name)).toBe(created);
      } finally {
        await limited.close();
      }
    });
  });

  describe('initial access tokens', () => {
    let gated: TestApp;
    let adminToken: string;

    beforeAll(async () => {
      gated = await startTestApp({ REGISTRATION_MODE: 'initial-access-token', ...NO_LIMIT });
      adminToken = await gated.adminToken();
    });

    afterAll(async () => {
      await gated.close();
    });

    async function admin(method: string, path: string, body?: unknown): Promise<Sent> {
      const response = await fetch(`${gated.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        body: text ? (JSON.parse(text) as Json) : {},
      };
    }

    async function issue(uses: number | null): Promise<{ id: string; token: string }> {
      const sent = await admin('POST', '/admin/initial-access-tokens', {
        description: 'test',
        uses,
        expires_in_seconds: 3600,
      });
      expect(sent.status).toBe(201);
      return { id: sent.body.id as string, token: sent.body.token as string };
    }

    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const body = (name: string) => ({ client_name: name, redirect_uris: [REDIRECT_URI] });

    it('issues a token once and never shows it again', async () => {
      const sent = await admin('POST', '/admin/initial-access-tokens', {
        description: 'MCP clients',
        uses: 3,
        expires_in_seconds: 600,
      });
      expect(sent.status).toBe(201);
      expect(sent.headers.get('cache-control')).toBe('no-store');
      expect(sent.body).toEqual({
        id: expect.any(String) as unknown,
        token: expect.stringMatching(/^lk_iat_[A-Za-z0-9_-]{43}$/) as unknown,
        description: 'MCP clients',
        uses_remaining: 3,
        created_at: expect.any(String) as unknown,
        expires_at: expect.any(String) as unknown,
        revoked_at: null,
      });
      const [row] = await gated.dataSource.query<{ token_hash: string }[]>(
        `SELECT token_hash FROM initial_access_tokens WHERE id = $1`,
        [sent.body.id],
      );
      expect(row.token_hash).toBe(sha256(sent.body.token as string));
      const listed = await admin('GET', '/admin/initial-access-tokens?limit=200');
      expect(JSON.stringify(listed.body)).not.toContain(sent.body.token as string);
    });

    it.each([
      [{ uses: 0, expires_in_seconds: 600 }],
      [{ uses: 1, expires_in_seconds: 10 }],
      [{ uses: 1 }],
    ])('refuses bad admin input %j', async (input) => {
      const sent = await admin('POST', '/admin/initial-access-tokens', input);
      expect({ status: sent.status, code: sent.body.code }).toEqual({
        status: 400,
        code: 'validation_failed',
      });
    });

    it('requires a token', async () => {
      const name = uniqueName('no token');
      const sent = await postRegistration(gated, body(name));
      expectOAuthBody(sent, 401, 'invalid_token', 'an initial access token is required');
      expect(sent.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
      expect(await countByName(gated, name)).toBe(0);
    });

    it('refuses an unknown token', async () => {
      const sent = await postRegistration(
        gated,
        body(uniqueName('x')),
        bearer('lk_iat_unknown-token'),
      );
      expectOAuthBody(sent, 401, 'invalid_token', 'the initial access token is not valid');
      expect(sent.headers.get('www-authenticate')).toBe(
        'Bearer error="invalid_token", error_description="the initial access token is not valid"',
      );
    });

    it('a single-use token registers once; a failed registration does not spend it', async () => {
      const { id, token } = await issue(1);
      const invalid = await postRegistration(
        gated,
        { redirect_uris: ['/relative'] },
        bearer(token),
      );
      expect(invalid.status).toBe(400);
      const first = await postRegistration(gated, body(uniqueName('single')), bearer(token));
      expect(first.status).toBe(201);
      const name = uniqueName('second');
      const second = await postRegistration(gated, body(name), bearer(token));
      expectOAuthBody(second, 401, 'invalid_token', 'the initial access token is not valid');
      expect(await countByName(gated, name)).toBe(0);
      const [row] = await gated.dataSource.query<{ uses_remaining: number }[]>(
        `SELECT uses_remaining FROM initial_access_tokens WHERE id = $1`,
        [id],
      );
      expect(row.uses_remaining).toBe(0);
    });

    it('a multi-use token registers any number of clients', async () => {
      const { id, token } = await issue(null);
      for (let i = 0; i < 3; i++) {
        const sent = await postRegistration(gated, body(uniqueName('multi')), bearer(token));
        expect(sent.status).toBe(201);
      }
      const [row] = await gated.dataSource.query<{ uses_remaining: number | null }[]>(
        `SELECT uses_remaining FROM initial_access_tokens WHERE id = $1`,
        [id],
      );
      expect(row.uses_remaining).toBeNull();
    });

    it('concurrent registrations cannot overspend a token', async () => {
      const { token } = await issue(2);
      const name = uniqueName('race');
      const results = await Promise.all(
        Array.from({ length: 8 }, () => postRegistration(gated, body(name), bearer(token))),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(2);
      expect(results.filter((r) => r.status === 401)).toHaveLength(6);
      expect(await countByName(gated, name)).toBe(2);
    });

    it('refuses an expired token', async () => {
      const { id, token } = await issue(null);
      await gated.dataSource.query(
        `UPDATE initial_access_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`,
        [id],
      );
      const name = uniqueName('expired');
      const sent = await postRegistration(gated, body(name), bearer(token));
      expectOAuthBody(sent, 401, 'invalid_token', 'the initial access token is not valid');
      expect(await countByName(gated, name)).toBe(0);
    });

    it('refuses a revoked token; revoking an unknown one is a 404', async () => {
      const { id, token } = await issue(null);
      expect((await admin('DELETE', `/admin/initial-access-tokens/${id}`)).status).toBe(204);
      const name = uniqueName('revoked');
      const sent = await postRegistration(gated, body(name), bearer(token));
      expectOAuthBody(sent, 401, 'invalid_token', 'the initial access token is not valid');
      expect(await countByName(gated, name)).toBe(0);
      const listed = await admin('GET', '/admin/initial-access-tokens?limit=200');
      const data = (listed.body.data as Json[]).filter((item) => item.id === id);
      expect(data).toHaveLength(1);
      expect(typeof data[0].revoked_at).toBe('string');
      const unknown = await admin(
        'DELETE',
        '/admin/initial-access-tokens/00000000-0000-4000-8000-000000000000',
      );
      expect({ status: unknown.status, code: unknown.body.code }).toEqual({
        status: 404,
        code: 'initial_access_token_not_found',
      });
    });

    it('the admin routes need an admin token', async () => {
      const response = await fetch(`${gated.baseUrl}/admin/initial-access-tokens`);
      expect(response.status).toBe(401);
    });
  });
});
