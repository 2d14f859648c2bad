import { createHash, randomBytes } from 'node:crypto';
import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp, type TestClient } from '../utils/test-app.js';
import { REDIRECT_URI, pkcePair } from '../utils/user-grants.js';
import { consentForm } from '../utils/consent-form.js';

/** GET /oauth/authorize and the consent decision, through the real server. */
describe('authorization endpoint', () => {
  let sut: TestApp;
  let client: TestClient;
  let person: SignedInUser;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await sut.createClient({
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
      logo_uri: 'https://app.example.com/logo.png',
    });
    person = await enrollAndSignIn(sut);
  });

  afterAll(async () => {
    await sut.close();
  });

  function authorizeUrl(overrides: Record<string, string | null> = {}, base = client): string {
    const params: Record<string, string | null> = {
      response_type: 'code',
      client_id: base.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email offline_access',
      state: 'state-123',
      nonce: 'nonce-456',
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
      ...overrides,
    };
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) if (value !== null) query.set(name, value);
    return `${sut.baseUrl}/oauth/authorize?${query.toString()}`;
  }

  function get(url: string, cookie?: string): Promise<Response> {
    return fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  }

  /** The parameters of a redirect back to the client. */
  function redirectParams(response: Response): URLSearchParams {
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    return location.searchParams;
  }

  function expectRedirectError(response: Response, error: string, description: string): void {
    const params = redirectParams(response);
    expect(params.get('error')).toBe(error);
    expect(params.get('error_description')).toBe(description);
    expect(params.get('state')).toBe('state-123');
    expect(params.get('iss')).toBe(sut.baseUrl);
    expect(params.get('code')).toBeNull();
  }

  async function consentRows(userId: string): Promise<unknown[]> {
    return sut.dataSource.query(`SELECT scopes FROM consents WHERE user_id = $1`, [userId]);
  }

  function decide(form: Record<string, string>, cookie: string): Promise<Response> {
    return fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams(form),
    });
  }

  describe('before the redirect URI is trusted', () => {
    it('shows an error page for an unknown client, and redirects nowhere', async () => {
      const response = await get(authorizeUrl({ client_id: 'no-such-client' }));
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('Unknown application');
    });

    it('shows an error page for a redirect URI that is not registered', async () => {
      const response = await get(authorizeUrl({ redirect_uri: 'https://evil.example/callback' }));
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('Invalid redirect URI');
    });

    it('shows an error page without a redirect URI', async () => {
      const response = await get(authorizeUrl({ redirect_uri: null }));
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
    });
  });

  describe('request errors go back to the client with state and iss', () => {
    it.each([
      [{ code_challenge: null }, 'invalid_request', 'code_challenge is required'],
      [{ code_challenge_method: 'plain' }, 'invalid_request', 'code_challenge_method must be S256'],
      [{ code_challenge_method: null }, 'invalid_request', 'code_challenge_method must be S256'],
      [
        { code_challenge: 'short' },
        'invalid_request',
        'code_challenge must be 43-128 unreserved characters',
      ],
      [
        { code_challenge: 'A'.repeat(43) },
        'invalid_request',
        'code_challenge has too little entropy',
      ],
      [
        { response_type: 'token' },
        'unsupported_response_type',
        'only response_type=code is supported',
      ],
      [{ response_type: null }, 'invalid_request', 'response_type is required'],
      [{ scope: null }, 'invalid_scope', 'scope is required'],
      [
        { scope: 'openid reports:read' },
        'invalid_scope',
        'the client may not request: reports:read',
      ],
      [
        { prompt: 'none login' },
        'invalid_request',
        'prompt=none cannot be combined with other values',
      ],
      [{ prompt: 'select_account' }, 'invalid_request', 'prompt select_account is not supported'],
      [{ max_age: '-1' }, 'invalid_request', 'max_age must be a non-negative integer'],
      [{ request: 'eyJ' }, 'request_not_supported', 'request objects are not supported'],
      [
        { resource: 'https://unknown.example/api' },
        'invalid_target',
        'the requested resource is not known to this server',
      ],
    ])('%j → %s', async (overrides, error, description) => {
      const response = await get(authorizeUrl(overrides), person.cookie);
      expectRedirectError(response, error, description);
    });

    it('refuses a repeated parameter', async () => {
      const response = await get(`${authorizeUrl()}&scope=openid`, person.cookie);
      expectRedirectError(response, 'invalid_request', 'parameter scope must not be repeated');
    });

    it('answers prompt=none without a session with login_required', async () => {
      const response = await get(authorizeUrl({ prompt: 'none' }));
      expectRedirectError(response, 'login_required', 'the user is not signed in');
    });

    it('refuses a client without the authorization_code grant', async () => {
      const service = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const response = await get(authorizeUrl({}, service), person.cookie);
      // The redirect URI cannot be verified for a client that has none registered.
      expect(response.status).toBe(400);
      expect(response.headers.get('location')).toBeNull();
    });

    it('expands user to admin only for a client allowed the admin scope', async () => {
      const admin = await enrollAndSignIn(sut, { roles: ['user', 'admin'] });
      const html = await (await get(authorizeUrl({ scope: 'openid user' }), admin.cookie)).text();
      expect(html).toContain("<code class='scope'>user</code>");
      expect(html).not.toContain("<code class='scope'>admin</code>");
      const adminApp = await sut.createClient({
        grant_types: ['authorization_code'],
        redirect_uris: [REDIRECT_URI],
        allowed_scopes: ['admin'],
        service_account_roles: ['admin'],
      });
      const allowed = await (
        await get(authorizeUrl({ scope: 'openid user' }, adminApp), admin.cookie)
      ).text();
      expect(allowed).toContain("<code class='scope'>admin</code>");
    });

    it('refuses a permission the user does not hold', async () => {
      const adminApp = await sut.createClient({
        grant_types: ['authorization_code'],
        redirect_uris: [REDIRECT_URI],
        allowed_scopes: ['admin'],
        service_account_roles: ['admin'],
      });
      const response = await get(authorizeUrl({ scope: 'openid admin' }, adminApp), person.cookie);
      expectRedirectError(response, 'invalid_scope', 'the user does not hold: admin');
    });
  });

  describe('sign-in', () => {
    it('sends a signed-out user to /login and brings them back', async () => {
      const url = authorizeUrl();
      const response = await get(url);
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get('location') ?? '', sut.baseUrl);
      expect(location.pathname).toBe('/login');
      const returnTo = location.searchParams.get('return_to') ?? '';
      expect(returnTo.startsWith('/oauth/authorize?')).toBe(true);
      expect(new URLSearchParams(returnTo.split('?')[1]).get('state')).toBe('state-123');
    });

    it('asks for a fresh sign-in on prompt=login, without looping', async () => {
      const response = await get(authorizeUrl({ prompt: 'login' }), person.cookie);
      const location = new URL(response.headers.get('location') ?? '', sut.baseUrl);
      expect(location.pathname).toBe('/login');
      const returnTo = new URLSearchParams(
        (location.searchParams.get('return_to') ?? '').split('?')[1],
      );
      expect(returnTo.get('prompt')).toBeNull();
    });

    it('asks for a fresh sign-in when max_age has passed', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const response = await get(authorizeUrl({ max_age: '0' }), person.cookie);
      expect(new URL(response.headers.get('location') ?? '', sut.baseUrl).pathname).toBe('/login');
    });
  });

  describe('consent', () => {
    it('shows the client, its redirect host and each permission, then issues a code on approval', async () => {
      const fresh = await enrollAndSignIn(sut);
      const challenge = pkcePair();
      const page = await get(
        authorizeUrl({ code_challenge: challenge.challenge, scope: 'openid email offline_access' }),
        fresh.cookie,
      );
      expect(page.status).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      const html = await page.text();
      expect(html).toContain('app.example.com');
      expect(html).toContain('See your email address');
      expect(html).toContain('https://app.example.com/logo.png');

      const form = consentForm(html);
      const approved = await decide({ ...form, decision: 'approve' }, fresh.cookie);
      expect(approved.status).toBe(303);
      const params = new URL(approved.headers.get('location') ?? '').searchParams;
      expect(params.get('state')).toBe('state-123');
      expect(params.get('iss')).toBe(sut.baseUrl);
      const code = params.get('code') ?? '';
      expect(code).toMatch(/^lk_ac_/);
      expect(await consentRows(fresh.user.id)).toEqual([
        { scopes: ['email', 'offline_access', 'openid'] },
      ]);

      const token = await fetch(`${sut.baseUrl}/oauth/token`, {
        method: 'POST',
        headers: {
          authorization:
            'Basic ' +
            Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64'),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          code_verifier: challenge.verifier,
        }),
      });
      expect(token.status).toBe(200);
      const body = (await token.json()) as Record<string, string>;
      expect(body.scope).toBe('openid email offline_access');
      expect(body.refresh_token).toMatch(/^lk_rt_/);
      const idToken = JSON.parse(
        Buffer.from(body.id_token.split('.')[1], 'base64url').toString(),
      ) as Record<string, unknown>;
      expect(idToken).toMatchObject({
        sub: fresh.user.id,
        aud: client.client_id,
        nonce: 'nonce-456',
      });
      expect(idToken.email).toBe(fresh.user.email);
    });

    it('remembers consent for the same or fewer scopes, and prompt=consent asks again', async () => {
      const fresh = await enrollAndSignIn(sut);
      const html = await (await get(authorizeUrl(), fresh.cookie)).text();
      await decide({ ...consentForm(html), decision: 'approve' }, fresh.cookie);

      const again = await get(authorizeUrl({ scope: 'openid email' }), fresh.cookie);
      expect(redirectParams(again).get('code')).toMatch(/^lk_ac_/);

      const forced = await get(authorizeUrl({ prompt: 'consent' }), fresh.cookie);
      expect(forced.status).toBe(200);

      const wider = await get(
        authorizeUrl({ scope: 'openid profile', prompt: 'none' }),
        fresh.cookie,
      );
      expectRedirectError(wider, 'consent_required', 'the user has not consented');
    });

    it('answers a denial with access_denied and records nothing', async () => {
      const fresh = await enrollAndSignIn(sut);
      const html = await (await get(authorizeUrl(), fresh.cookie)).text();
      const denied = await decide({ ...consentForm(html), decision: 'deny' }, fresh.cookie);
      expect(denied.status).toBe(303);
      const params = new URL(denied.headers.get('location') ?? '').searchParams;
      expect(params.get('error')).toBe('access_denied');
      expect(params.get('iss')).toBe(sut.baseUrl);
      expect(await consentRows(fresh.user.id)).toEqual([]);
    });

    it('refuses a decision without the right CSRF token, or from another site, and records nothing', async () => {
      const fresh = await enrollAndSignIn(sut);
      const html = await (await get(authorizeUrl(), fresh.cookie)).text();
      const form = consentForm(html);

      const missing = await decide({ request: form.request, decision: 'approve' }, fresh.cookie);
      expect(missing.status).toBe(403);
      const forged = await decide(
        { ...form, csrf: randomBytes(32).toString('base64url'), decision: 'approve' },
        fresh.cookie,
      );
      expect(forged.status).toBe(403);
      // A token minted for one user's session is worthless in another's.
      const other = await decide({ ...form, decision: 'approve' }, person.cookie);
      expect(other.status).toBe(403);
      const crossSite = await fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: fresh.cookie,
          origin: 'https://evil.example',
        },
        body: new URLSearchParams({ ...form, decision: 'approve' }),
      });
      expect(crossSite.status).toBe(403);
      expect(await consentRows(fresh.user.id)).toEqual([]);
    });

    it('drops offline_access for a client that may not refresh', async () => {
      const noRefresh = await sut.createClient({
        grant_types: ['authorization_code'],
        redirect_uris: [REDIRECT_URI],
      });
      const html = await (await get(authorizeUrl({}, noRefresh), person.cookie)).text();
      expect(html).not.toContain("<code class='scope'>offline_access</code>");
      expect(html).toContain("<code class='scope'>openid</code>");
    });
  });

  describe('POST to the authorization endpoint', () => {
    it('accepts the request as a form body (OIDC Core §3.1.2.1)', async () => {
      const query = new URL(authorizeUrl()).searchParams;
      const response = await fetch(`${sut.baseUrl}/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: query,
      });
      expect(response.status).toBe(302);
      expect(new URL(response.headers.get('location') ?? '', sut.baseUrl).pathname).toBe('/login');
    });

    it('refuses another content type', async () => {
      const response = await fetch(`${sut.baseUrl}/oauth/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(response.status).toBe(415);
    });
  });

  describe('redirect URIs', () => {
    it('matches a native client loopback redirect on any port', async () => {
      const native = await sut.createClient({
        client_type: 'public',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const url = authorizeUrl(
        { redirect_uri: 'http://127.0.0.1:53127/callback', code_challenge: challenge },
        native,
      );
      const response = await get(url, person.cookie);
      expect(response.status).toBe(200);
      const mismatch = await get(
        authorizeUrl({ redirect_uri: 'http://127.0.0.1:53127/other' }, native),
        person.cookie,
      );
      expect(mismatch.status).toBe(400);
    });

    it('matches a confidential client redirect exactly', async () => {
      const response = await get(authorizeUrl({ redirect_uri: `${REDIRECT_URI}/` }), person.cookie);
      expect(response.status).toBe(400);
    });
  });
});
