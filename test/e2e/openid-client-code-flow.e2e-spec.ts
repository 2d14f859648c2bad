import * as oidc from 'openid-client';
import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp, type TestClient } from '../utils/test-app.js';
import { REDIRECT_URI } from '../utils/user-grants.js';

/**
 * The whole person flow with openid-client (v6) as the relying party: a software passkey signs
 * in, the browser part (authorize, consent) runs over HTTP, and openid-client checks the
 * authorization response (state, RFC 9207 iss), the token response and the ID token.
 */
describe('openid-client as the relying party of the code flow', () => {
  let sut: TestApp;
  let client: TestClient;
  let person: SignedInUser;
  let config: oidc.Configuration;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await sut.createClient({
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
      post_logout_redirect_uris: ['https://app.example.com/signed-out'],
    });
    person = await enrollAndSignIn(sut);
    config = await oidc.discovery(
      new URL(sut.baseUrl),
      client.client_id,
      undefined,
      oidc.ClientSecretBasic(client.client_secret),
      { execute: [oidc.allowInsecureRequests] },
    );
  });

  afterAll(async () => {
    await sut.close();
  });

  /** Plays the browser: follows /authorize, approves consent, returns the callback URL. */
  async function browse(url: URL): Promise<URL> {
    const first = await fetch(url, { redirect: 'manual', headers: { cookie: person.cookie } });
    if (first.status === 302) return new URL(first.headers.get('location') ?? '');
    const html = await first.text();
    const field = (name: string) =>
      (new RegExp(`name='${name}' value='([^']*)'`).exec(html)?.[1] ?? '')
        .replace(/&amp;/g, '&')
        .replace(/&#x3D;/g, '=');
    const decided = await fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: person.cookie },
      body: new URLSearchParams({
        request: field('request'),
        csrf: field('csrf'),
        decision: 'approve',
      }),
    });
    expect(decided.status).toBe(303);
    return new URL(decided.headers.get('location') ?? '');
  }

  it('signs a person in, refreshes, reads UserInfo and logs out', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid email profile offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });

    const callback = await browse(url);
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    expect(claims).toMatchObject({
      iss: sut.baseUrl,
      sub: person.user.id,
      aud: client.client_id,
      nonce,
      email: person.user.email,
    });
    expect(typeof claims?.auth_time).toBe('number');
    expect(tokens.scope).toBe('openid profile email offline_access');
    expect(tokens.refresh_token).toMatch(/^lk_rt_/);

    const userInfo = await oidc.fetchUserInfo(config, tokens.access_token, person.user.id);
    expect(userInfo).toMatchObject({ sub: person.user.id, email: person.user.email });

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    const introspected = await oidc.tokenIntrospection(config, refreshed.access_token);
    expect(introspected).toMatchObject({ active: true, sub: person.user.id });

    const logoutUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token ?? '',
      post_logout_redirect_uri: 'https://app.example.com/signed-out',
      state: 'bye',
    });
    const loggedOut = await fetch(logoutUrl, {
      redirect: 'manual',
      headers: { cookie: person.cookie },
    });
    expect(loggedOut.status).toBe(303);
    expect(loggedOut.headers.get('location')).toBe('https://app.example.com/signed-out?state=bye');
    // Signing out ends the session and the tokens issued in it.
    expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toEqual({
      active: false,
    });
    await expect(
      oidc.refreshTokenGrant(config, refreshed.refresh_token ?? ''),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('reports an authorization error to the relying party with iss', async () => {
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 'x',
      // No PKCE: refused, and the refusal reaches the client.
    });
    const callback = await browse(url);
    await expect(
      oidc.authorizationCodeGrant(config, callback, { expectedState: 'x', idTokenExpected: true }),
    ).rejects.toMatchObject({
      error: 'invalid_request',
      error_description: 'code_challenge is required',
    });
  });
});
