import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp, type TestClient } from '../utils/test-app.js';
import { REDIRECT_URI, pkcePair } from '../utils/user-grants.js';

const SIGNED_OUT = 'https://app.example.com/signed-out';

/** RP-initiated logout at /oauth/logout (end_session_endpoint). */
describe('RP-initiated logout', () => {
  let sut: TestApp;
  let client: TestClient;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await sut.createClient({
      grant_types: ['authorization_code'],
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: [SIGNED_OUT],
    });
  });

  afterAll(async () => {
    await sut.close();
  });

  /** Signs a person in and gets an ID token for the client through the real flow. */
  async function signedInWithIdToken(): Promise<{ person: SignedInUser; idToken: string }> {
    const person = await enrollAndSignIn(sut);
    const { verifier, challenge } = pkcePair();
    await sut.dataSource.query(
      `INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, '{openid}')`,
      [person.user.id, client.client_id],
    );
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const authorized = await fetch(`${sut.baseUrl}/oauth/authorize?${query.toString()}`, {
      redirect: 'manual',
      headers: { cookie: person.cookie },
    });
    const code = new URL(authorized.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const token = await fetch(`${sut.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization:
          'Basic ' + Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64'),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      }),
    });
    const body = (await token.json()) as { id_token: string };
    return { person, idToken: body.id_token };
  }

  function logout(params: Record<string, string>, cookie?: string): Promise<Response> {
    return fetch(`${sut.baseUrl}/oauth/logout?${new URLSearchParams(params).toString()}`, {
      redirect: 'manual',
      headers: cookie ? { cookie } : {},
    });
  }

  async function sessionRevoked(userId: string): Promise<boolean> {
    const rows = await sut.dataSource.query<{ revoked: boolean }[]>(
      `SELECT revoked_at IS NOT NULL AS revoked FROM sessions WHERE user_id = $1`,
      [userId],
    );
    return rows.every((row) => row.revoked);
  }

  it('is advertised as the end_session_endpoint', async () => {
    const metadata = (await (
      await fetch(`${sut.baseUrl}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    expect(metadata.end_session_endpoint).toBe(`${sut.baseUrl}/oauth/logout`);
  });

  it('ends the session at once with an ID token hint, and returns to a registered URI with state', async () => {
    const { person, idToken } = await signedInWithIdToken();
    const response = await logout(
      { id_token_hint: idToken, post_logout_redirect_uri: SIGNED_OUT, state: 's1' },
      person.cookie,
    );
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`${SIGNED_OUT}?state=s1`);
    expect(response.headers.get('set-cookie')).toContain('Max-Age=0');
    expect(await sessionRevoked(person.user.id)).toBe(true);
    const account = await fetch(`${sut.baseUrl}/account`, {
      redirect: 'manual',
      headers: { cookie: person.cookie },
    });
    expect(account.status).toBeGreaterThanOrEqual(300);
  });

  it('asks the user to confirm without a hint, and signs out only on the confirmed POST', async () => {
    const person = await enrollAndSignIn(sut);
    const page = await logout({}, person.cookie);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Sign out?');
    expect(await sessionRevoked(person.user.id)).toBe(false);
    const csrf = /name='csrf' value='([^']*)'/.exec(html)?.[1] ?? '';

    const forged = await fetch(`${sut.baseUrl}/oauth/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: person.cookie },
      body: new URLSearchParams({ csrf: 'forged' }),
    });
    expect(forged.status).toBe(200);
    expect(await forged.text()).toContain('Sign out?');
    expect(await sessionRevoked(person.user.id)).toBe(false);

    const confirmed = await fetch(`${sut.baseUrl}/oauth/logout`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: person.cookie },
      body: new URLSearchParams({ csrf }),
    });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('You are signed out.');
    expect(await sessionRevoked(person.user.id)).toBe(true);
  });

  it('refuses a post_logout_redirect_uri that is not registered, and signs nobody out', async () => {
    const { person, idToken } = await signedInWithIdToken();
    const response = await logout(
      { id_token_hint: idToken, post_logout_redirect_uri: 'https://evil.example/' },
      person.cookie,
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(await sessionRevoked(person.user.id)).toBe(false);
  });

  it('refuses a redirect without a way to identify the client', async () => {
    const response = await logout({ post_logout_redirect_uri: SIGNED_OUT });
    expect(response.status).toBe(400);
  });

  it('refuses a forged or foreign ID token hint', async () => {
    const { person, idToken } = await signedInWithIdToken();
    const [header, payload] = idToken.split('.');
    const response = await logout({ id_token_hint: `${header}.${payload}.AAAA` }, person.cookie);
    expect(response.status).toBe(400);
    const mismatch = await logout(
      { id_token_hint: idToken, client_id: 'another-client' },
      person.cookie,
    );
    expect(mismatch.status).toBe(400);
    expect(await sessionRevoked(person.user.id)).toBe(false);
  });

  it('answers a signed-out browser with the signed-out page, or the redirect', async () => {
    const page = await logout({});
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('You are signed out.');
    const redirect = await logout({
      client_id: client.client_id,
      post_logout_redirect_uri: SIGNED_OUT,
    });
    expect(redirect.status).toBe(303);
    expect(redirect.headers.get('location')).toBe(SIGNED_OUT);
  });
});
