import { createHash } from 'node:crypto';
import {
  expectOAuthBody,
  manage,
  registerClient,
  uniqueName,
  type Json,
  type Registered,
} from '../utils/registration.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { REDIRECT_URI, issueCode, redeemOk, refresh } from '../utils/user-grants.js';

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');
const INVALID = 'the registration access token is not valid';

/** GET|PUT|DELETE /oauth/register/:client_id (RFC 7592). */
describe('client registration management', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp({
      REGISTRATION_MODE: 'open',
      REGISTRATION_RATE_LIMIT_PER_MINUTE: '100000',
    });
  });

  afterAll(async () => {
    await sut.close();
  });

  async function storedHash(clientId: string): Promise<string | null> {
    const rows = await sut.dataSource.query<{ h: string | null }[]>(
      `SELECT registration_access_token_hash AS h FROM clients WHERE id = $1`,
      [clientId],
    );
    return rows.length === 0 ? null : rows[0].h;
  }

  /** The metadata of a PUT: what GET returned, changed. */
  function replacement(registered: Registered, changes: Json = {}): Json {
    return {
      client_id: registered.client_id,
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      ...changes,
    };
  }

  describe('GET', () => {
    it('returns the current metadata without secrets', async () => {
      const registered = await registerClient(sut, { contacts: ['ops@example.com'] });
      const sent = await manage(
        registered.registration_client_uri,
        'GET',
        registered.registration_access_token,
      );
      expect(sent.status).toBe(200);
      expect(sent.headers.get('cache-control')).toBe('no-store');
      const expected: Json = { ...registered };
      delete expected.client_secret;
      delete expected.registration_access_token;
      expect(sent.body).toEqual(expected);
    });

    it('refuses a missing, wrong or foreign token alike, and unknown clients too', async () => {
      const a = await registerClient(sut);
      const b = await registerClient(sut);
      const missing = await manage(a.registration_client_uri, 'GET', null);
      expectOAuthBody(missing, 401, 'invalid_token', 'a registration access token is required');
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="latchkey"');
      const wrong = await manage(a.registration_client_uri, 'GET', 'lk_rat_wrong');
      expectOAuthBody(wrong, 401, 'invalid_token', INVALID);
      expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
      const foreign = await manage(a.registration_client_uri, 'GET', b.registration_access_token);
      expectOAuthBody(foreign, 401, 'invalid_token', INVALID);
      const unknown = await manage(
        `${sut.baseUrl}/oauth/register/00000000-0000-4000-8000-000000000000`,
        'GET',
        a.registration_access_token,
      );
      expectOAuthBody(unknown, 401, 'invalid_token', INVALID);
      const admin = await sut.createClient();
      const adminClient = await manage(
        `${sut.baseUrl}/oauth/register/${admin.client_id}`,
        'GET',
        a.registration_access_token,
      );
      expectOAuthBody(adminClient, 401, 'invalid_token', INVALID);
    });

    it('answers another method with 405', async () => {
      const registered = await registerClient(sut);
      const sent = await manage(
        registered.registration_client_uri,
        'POST',
        registered.registration_access_token,
      );
      expect(sent.status).toBe(405);
      expect(sent.headers.get('allow')).toBe('GET, PUT, DELETE');
    });
  });

  describe('PUT', () => {
    it('replaces the metadata and rotates the registration access token', async () => {
      const registered = await registerClient(sut, { contacts: ['ops@example.com'] });
      const [before] = await sut.dataSource.query<{ secret_hash: string }[]>(
        `SELECT secret_hash FROM clients WHERE id = $1`,
        [registered.client_id],
      );
      const name = uniqueName('renamed');
      const sent = await manage(
        registered.registration_client_uri,
        'PUT',
        registered.registration_access_token,
        replacement(registered, {
          client_name: name,
          redirect_uris: ['https://app.example.com/new'],
          // RFC 7592 §2.2: server-assigned values may come back unchanged.
          registration_access_token: registered.registration_access_token,
          registration_client_uri: registered.registration_client_uri,
          client_id_issued_at: registered.client_id_issued_at,
          client_secret_expires_at: 0,
          client_secret: registered.client_secret,
        }),
      );
      expect(sent.status).toBe(200);
      expect(sent.body).toEqual({
        client_id: registered.client_id,
        client_id_issued_at: registered.client_id_issued_at,
        client_secret_expires_at: 0,
        registration_access_token: expect.stringMatching(/^lk_rat_/) as unknown,
        registration_client_uri: registered.registration_client_uri,
        client_name: name,
        application_type: 'web',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['https://app.example.com/new'],
      });
      const rotated = sent.body.registration_access_token as string;
      expect(rotated).not.toBe(registered.registration_access_token);
      expect(await storedHash(registered.client_id)).toBe(sha256(rotated));
      const old = await manage(
        registered.registration_client_uri,
        'GET',
        registered.registration_access_token,
      );
      expectOAuthBody(old, 401, 'invalid_token', INVALID);
      const current = await manage(registered.registration_client_uri, 'GET', rotated);
      expect(current.body.client_name).toBe(name);
      // The secret is kept (RFC 7592 §2.2 lets the server rotate it; this one does not).
      const [after] = await sut.dataSource.query<{ secret_hash: string }[]>(
        `SELECT secret_hash FROM clients WHERE id = $1`,
        [registered.client_id],
      );
      expect(after.secret_hash).toBe(before.secret_hash);
    });

    it.each([
      [
        'another client_id',
        { client_id: 'someone-else' },
        'invalid_request',
        'client_id must be the identifier of this client',
      ],
      [
        'a different registration_access_token',
        { registration_access_token: 'lk_rat_other' },
        'invalid_request',
        'registration_access_token cannot be changed',
      ],
      [
        'a different registration_client_uri',
        { registration_client_uri: 'https://evil.example/x' },
        'invalid_request',
        'registration_client_uri cannot be changed',
      ],
      [
        'a different client_id_issued_at',
        { client_id_issued_at: 1 },
        'invalid_request',
        'client_id_issued_at cannot be changed',
      ],
      [
        'a different client_secret_expires_at',
        { client_secret_expires_at: 12345 },
        'invalid_request',
        'client_secret_expires_at cannot be changed',
      ],
      [
        'a wrong client_secret',
        { client_secret: 'lk_cs_wrong' },
        'invalid_request',
        'client_secret does not match the current secret',
      ],
      [
        'a bad redirect URI',
        { redirect_uris: ['http://app.example.com/cb'] },
        'invalid_redirect_uri',
        'redirect_uris[0] must use https (or http on a loopback address) for a web application',
      ],
      [
        'a switch to public',
        { token_endpoint_auth_method: 'none' },
        'invalid_client_metadata',
        'token_endpoint_auth_method cannot change from client_secret_basic to none',
      ],
      [
        'the client_credentials grant',
        { grant_types: ['client_credentials'] },
        'invalid_client_metadata',
        'the client_credentials grant cannot be registered dynamically',
      ],
    ])('refuses %s and changes nothing', async (_label, changes, error, description) => {
      const registered = await registerClient(sut);
      const hash = await storedHash(registered.client_id);
      const sent = await manage(
        registered.registration_client_uri,
        'PUT',
        registered.registration_access_token,
        replacement(registered, changes),
      );
      expectOAuthBody(sent, 400, error, description);
      expect(await storedHash(registered.client_id)).toBe(hash);
      const still = await manage(
        registered.registration_client_uri,
        'GET',
        registered.registration_access_token,
      );
      expect(still.body).toEqual(expect.objectContaining({ client_name: registered.client_name }));
    });

    it('switches between client_secret_basic and client_secret_post', async () => {
      const registered = await registerClient(sut);
      const sent = await manage(
        registered.registration_client_uri,
        'PUT',
        registered.registration_access_token,
        replacement(registered, { token_endpoint_auth_method: 'client_secret_post' }),
      );
      expect(sent.status).toBe(200);
      expect(sent.body.token_endpoint_auth_method).toBe('client_secret_post');
    });

    it('refuses a body of the wrong type after authenticating', async () => {
      const registered = await registerClient(sut);
      const unauthenticated = await manage(registered.registration_client_uri, 'PUT', null, 'x', {
        'content-type': 'text/plain',
      });
      expect(unauthenticated.status).toBe(401);
      const sent = await manage(
        registered.registration_client_uri,
        'PUT',
        registered.registration_access_token,
        'x',
        { 'content-type': 'text/plain' },
      );
      expectOAuthBody(sent, 415, 'invalid_request', 'content type must be application/json');
    });

    it('of 20 concurrent updates with one token exactly one wins', async () => {
      const registered = await registerClient(sut);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          manage(
            registered.registration_client_uri,
            'PUT',
            registered.registration_access_token,
            replacement(registered, { client_name: `race ${i}` }),
          ),
        ),
      );
      const won = results.filter((r) => r.status === 200);
      expect(won).toHaveLength(1);
      for (const lost of results.filter((r) => r.status !== 200)) {
        expectOAuthBody(lost, 401, 'invalid_token', INVALID);
      }
      const token = won[0].body.registration_access_token as string;
      expect(await storedHash(registered.client_id)).toBe(sha256(token));
      const current = await manage(registered.registration_client_uri, 'GET', token);
      expect(current.body.client_name).toBe(won[0].body.client_name);
    });
  });

  describe('DELETE', () => {
    it('removes the client and its token families', async () => {
      const registered = await registerClient(sut);
      const client = {
        client_id: registered.client_id,
        client_secret: registered.client_secret ?? '',
        public: false,
      };
      const tokens = await redeemOk(
        sut,
        client,
        await issueCode(sut, client, { scope: 'openid offline_access' }),
      );
      const wrong = await manage(registered.registration_client_uri, 'DELETE', 'lk_rat_wrong');
      expectOAuthBody(wrong, 401, 'invalid_token', INVALID);

      const response = await fetch(registered.registration_client_uri, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${registered.registration_access_token}` },
      });
      expect(response.status).toBe(204);
      expect(await response.text()).toBe('');

      const again = await manage(
        registered.registration_client_uri,
        'GET',
        registered.registration_access_token,
      );
      expectOAuthBody(again, 401, 'invalid_token', INVALID);
      const rows = await sut.dataSource.query<{ n: string }[]>(
        `SELECT (SELECT count(*) FROM clients WHERE id = $1)
              + (SELECT count(*) FROM token_families WHERE client_id = $1) AS n`,
        [registered.client_id],
      );
      expect(Number(rows[0].n)).toBe(0);
      const refreshed = await refresh(sut, client, tokens.refresh_token ?? '');
      expect(refreshed.status).toBe(401);
    });
  });
});
