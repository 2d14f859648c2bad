import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../../src/config/app-config.js';
import {
  CookieJar,
  SoftAuthenticator,
  authenticationOptions,
  postJson,
  registrationOptions,
  type Server,
} from './soft-authenticator.js';
import { tokenRequest, type TestClient } from './test-app.js';
import { REDIRECT_URI, pkcePair, type UserTokenBody } from './user-grants.js';
import { consentForm } from './consent-form.js';

/**
 * Browser flows over HTTP only, for servers the test cannot reach into (child processes). Each
 * step asks `pick` for the server to send it to, so the steps of one flow may land on different
 * nodes, as behind a load balancer.
 */
export type PickServer = () => Server;

/**
 * Enrolls a software passkey from a setup link and signs in with it. Returns the session
 * cookie, ready for a `cookie:` request header.
 */
export async function signInWithSetupLink(
  pick: PickServer,
  config: Pick<AppConfig, 'webauthn' | 'sessions'>,
  setupUrl: string,
): Promise<string> {
  const setupToken = setupUrl.slice(setupUrl.lastIndexOf('/') + 1);
  const authenticator = new SoftAuthenticator(config.webauthn.rpId, config.webauthn.origin);
  const jar = new CookieJar();
  const creation = await registrationOptions(pick(), jar, setupToken);
  const credential = authenticator.createCredential(creation);
  const enrolled = await postJson(pick(), '/webauthn/register/verify', credential, jar);
  if (enrolled.status !== 200) throw new Error(`enrollment failed: ${await enrolled.text()}`);
  const request = await authenticationOptions(pick(), jar);
  const assertion = authenticator.getAssertion(request);
  const signedIn = await postJson(pick(), '/webauthn/authenticate/verify', assertion, jar);
  if (signedIn.status !== 200) throw new Error(`sign-in failed: ${await signedIn.text()}`);
  const name = config.sessions.cookieName;
  const value = jar.get(name);
  if (value === undefined) throw new Error('no session cookie after sign-in');
  return `${name}=${value}`;
}

/**
 * A code flow with PKCE for a confidential client redirecting to REDIRECT_URI: /authorize, the
 * consent decision when the consent page is shown, and the redemption at the token endpoint.
 */
export async function codeFlow(
  pick: PickServer,
  input: { issuer: string; client: TestClient; cookie: string; scope: string },
): Promise<UserTokenBody> {
  const { verifier, challenge } = pkcePair();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: input.client.client_id,
    redirect_uri: REDIRECT_URI,
    scope: input.scope,
    state: randomBytes(8).toString('base64url'),
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const headers = { cookie: input.cookie };
  let answer = await fetch(`${pick().baseUrl}/oauth/authorize?${query.toString()}`, {
    redirect: 'manual',
    headers,
  });
  if (answer.status === 200) {
    const html = await answer.text();
    answer = await fetch(`${pick().baseUrl}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        ...consentForm(html),
        decision: 'approve',
      }),
    });
  }
  const location = new URL(answer.headers.get('location') ?? '', input.issuer);
  const code = location.searchParams.get('code');
  if (code === null) throw new Error(`no code: ${answer.status} ${location.toString()}`);
  const redeemed = await tokenRequest(pick().baseUrl, input.client, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
  });
  const body = (await redeemed.json()) as UserTokenBody;
  if (redeemed.status !== 200) throw new Error(`redemption failed: ${JSON.stringify(body)}`);
  return body;
}

/** An admin API access token for `admin` (a service account with the admin role). */
export async function adminAccessToken(
  server: Server,
  admin: TestClient,
  audience: string,
): Promise<string> {
  const response = await tokenRequest(server.baseUrl, admin, {
    grant_type: 'client_credentials',
    scope: 'admin',
    resource: audience,
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no admin token: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** A JSON POST to the admin API with a fresh admin token; the answer, or an error unless 2xx. */
export async function adminPost(
  server: Server,
  admin: TestClient,
  audience: string,
  path: string,
  body: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await adminAccessToken(server, admin, audience)}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}
