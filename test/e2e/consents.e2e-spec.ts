import { randomBytes, randomUUID } from 'node:crypto';
import { AuditService } from '../../src/audit/audit.service.js';
import { SessionsService } from '../../src/sessions/sessions.service.js';
import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { startTestApp, tokenRequest, type TestApp, type TestClient } from '../utils/test-app.js';
import { REDIRECT_URI, introspect, pkcePair } from '../utils/user-grants.js';
import { consentForm } from '../utils/consent-form.js';

interface Tokens {
  access_token: string;
  refresh_token: string;
}

interface ConsentBody {
  client_id: string;
  client_name: string;
  scopes: string[];
  created_at: string;
  updated_at: string;
}

interface AuditRow {
  type: string;
  actor_type: string | null;
  actor_id: string | null;
  user_id: string | null;
  client_id: string | null;
  details: Record<string, unknown>;
}

/** Withdrawing consent, from the account page and through the admin API. */
describe('consent revocation', () => {
  let sut: TestApp;
  let admin: TestClient;
  let adminToken: string;

  beforeAll(async () => {
    sut = await startTestApp();
    admin = await sut.createAdminClient();
    const response = await tokenRequest(sut.baseUrl, admin, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: sut.config.audiences.admin,
    });
    adminToken = ((await response.json()) as { access_token: string }).access_token;
  });

  afterAll(async () => {
    await sut.close();
  });

  function codeClient(name: string): Promise<TestClient> {
    return sut.createClient({
      client_name: name,
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
    });
  }

  function authorize(client: TestClient, cookie: string, challenge: string): Promise<Response> {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email offline_access',
      state: 'consents-state',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    return fetch(`${sut.baseUrl}/oauth/authorize?${query.toString()}`, {
      redirect: 'manual',
      headers: { cookie },
    });
  }

  /** The real flow: consent page, approval, code, token response. */
  async function grant(client: TestClient, person: SignedInUser): Promise<Tokens> {
    const pkce = pkcePair();
    const page = await authorize(client, person.cookie, pkce.challenge);
    expect(page.status).toBe(200);
    const html = await page.text();
    const decided = await fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: person.cookie },
      body: new URLSearchParams({
        ...consentForm(html),
        decision: 'approve',
      }),
    });
    expect(decided.status).toBe(303);
    const code = new URL(decided.headers.get('location') ?? '').searchParams.get('code') ?? '';
    const redeemed = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: pkce.verifier,
    });
    expect(redeemed.status).toBe(200);
    return (await redeemed.json()) as Tokens;
  }

  function refresh(client: TestClient, refreshToken: string): Promise<Response> {
    return tokenRequest(sut.baseUrl, client, {
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
    });
  }

  function account(cookie: string, query = ''): Promise<Response> {
    return fetch(`${sut.baseUrl}/account${query}`, { redirect: 'manual', headers: { cookie } });
  }

  function revokeOnPage(
    clientId: string,
    form: Record<string, string>,
    cookie: string,
  ): Promise<Response> {
    return fetch(`${sut.baseUrl}/account/consents/${encodeURIComponent(clientId)}/revoke`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams(form),
    });
  }

  function adminApi(method: string, path: string, token = adminToken): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
  }

  async function adminList(userId: string): Promise<ConsentBody[]> {
    const response = await adminApi('GET', `/admin/users/${userId}/consents`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: ConsentBody[] }).data;
  }

  async function consentClients(userId: string): Promise<string[]> {
    const rows = await sut.dataSource.query<{ client_id: string }[]>(
      `SELECT client_id FROM consents WHERE user_id = $1 ORDER BY client_id`,
      [userId],
    );
    return rows.map((row) => row.client_id);
  }

  async function revokedEvents(userId: string): Promise<AuditRow[]> {
    await sut.app.get(AuditService).flush();
    return sut.dataSource.query<AuditRow[]>(
      `SELECT type, actor_type, actor_id, user_id, client_id, details FROM audit_events
        WHERE type = 'consent.revoked' AND user_id = $1 ORDER BY at, id`,
      [userId],
    );
  }

  /** After a withdrawal: the client asks again and nothing it held still works. */
  async function expectWithdrawn(
    client: TestClient,
    person: SignedInUser,
    tokens: Tokens,
  ): Promise<void> {
    const again = await authorize(client, person.cookie, pkcePair().challenge);
    expect(again.status).toBe(200);
    expect(await again.text()).toContain("name='decision'");
    const refused = await refresh(client, tokens.refresh_token);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
    expect(await introspect(sut, tokens.access_token)).toEqual({ active: false });
  }

  describe('on the account page', () => {
    it('lists the apps the user allowed, in plain words, escaped', async () => {
      const person = await enrollAndSignIn(sut);
      const client = await codeClient('Notes <Beta>');
      await grant(client, person);
      const response = await account(person.cookie);
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain("<h2 id='apps-heading'>Apps with access</h2>");
      expect(html).toContain('Notes &lt;Beta&gt;');
      expect(html).toContain('See your email address');
      expect(html).toContain('Keep access while you are away');
      expect(html).toContain(
        `action='/account/consents/${encodeURIComponent(client.client_id)}/revoke'`,
      );
      expect(html).toMatch(/Allowed since [A-Z][a-z]{2} \d{1,2}, \d{4}/);
      expect(html).not.toContain('No app has access to your account.');

      const nobody = await enrollAndSignIn(sut);
      expect(await (await account(nobody.cookie)).text()).toContain(
        'No app has access to your account.',
      );
    });

    it('refuses a revocation without the right CSRF token, or of another user, changing nothing', async () => {
      const person = await enrollAndSignIn(sut);
      const client = await codeClient('Calendar');
      const tokens = await grant(client, person);

      const missing = await revokeOnPage(client.client_id, {}, person.cookie);
      expect(missing.status).toBe(403);
      const forged = await revokeOnPage(
        client.client_id,
        { csrf: randomBytes(32).toString('base64url') },
        person.cookie,
      );
      expect(forged.status).toBe(403);
      // Another signed-in user's valid form cannot touch this user's consent.
      const other = await enrollAndSignIn(sut);
      const csrf = sut.app.get(SessionsService).csrfToken({ cookie: other.cookie }) ?? '';
      const foreign = await revokeOnPage(client.client_id, { csrf }, other.cookie);
      expect(foreign.status).toBe(404);
      // Signed out: off to the sign-in page, nothing revoked.
      const anonymous = await revokeOnPage(client.client_id, { csrf }, '');
      expect(anonymous.status).toBe(303);
      expect(anonymous.headers.get('location')).toMatch(/^\/login\?return_to=/);

      expect(await consentClients(person.user.id)).toEqual([client.client_id]);
      expect(await introspect(sut, tokens.access_token)).toMatchObject({ active: true });
      expect((await refresh(client, tokens.refresh_token)).status).toBe(200);
      expect(await revokedEvents(person.user.id)).toEqual([]);
    });

    it('revokes the consent and the tokens of that app only, and records it', async () => {
      const person = await enrollAndSignIn(sut);
      const client = await codeClient('Mail');
      const kept = await codeClient('Drive');
      const tokens = await grant(client, person);
      const keptTokens = await grant(kept, person);
      expect(await consentClients(person.user.id)).toEqual(
        [client.client_id, kept.client_id].sort(),
      );

      const csrf = sut.app.get(SessionsService).csrfToken({ cookie: person.cookie }) ?? '';
      const revoked = await revokeOnPage(client.client_id, { csrf }, person.cookie);
      expect(revoked.status).toBe(303);
      expect(revoked.headers.get('location')).toBe('/account?done=access_revoked');
      const html = await (await account(person.cookie, '?done=access_revoked')).text();
      expect(html).toContain('Access removed.');
      expect(html).not.toContain('>Mail<');
      expect(html).toContain('>Drive<');

      expect(await consentClients(person.user.id)).toEqual([kept.client_id]);
      await expectWithdrawn(client, person, tokens);
      // The other app keeps its grant.
      expect(await introspect(sut, keptTokens.access_token)).toMatchObject({ active: true });
      expect((await refresh(kept, keptTokens.refresh_token)).status).toBe(200);

      expect(await revokedEvents(person.user.id)).toEqual([
        {
          type: 'consent.revoked',
          actor_type: 'user',
          actor_id: person.user.id,
          user_id: person.user.id,
          client_id: client.client_id,
          details: { scope: 'email offline_access openid' },
        },
      ]);

      // A second revocation finds nothing to revoke.
      const twice = await revokeOnPage(client.client_id, { csrf }, person.cookie);
      expect(twice.status).toBe(404);
    });
  });

  describe('through the admin API', () => {
    it('lists a user’s consents', async () => {
      const person = await enrollAndSignIn(sut);
      expect(await adminList(person.user.id)).toEqual([]);
      const client = await codeClient('Reports');
      await grant(client, person);
      const [consent] = await adminList(person.user.id);
      expect(consent).toEqual({
        client_id: client.client_id,
        client_name: 'Reports',
        scopes: ['email', 'offline_access', 'openid'],
        created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) as unknown,
        updated_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) as unknown,
      });
    });

    it('revokes a consent with its tokens and records the admin as the actor', async () => {
      const person = await enrollAndSignIn(sut);
      const client = await codeClient('Chat');
      const tokens = await grant(client, person);

      const response = await adminApi(
        'DELETE',
        `/admin/users/${person.user.id}/consents/${encodeURIComponent(client.client_id)}`,
      );
      expect(response.status).toBe(204);
      expect(await adminList(person.user.id)).toEqual([]);
      await expectWithdrawn(client, person, tokens);
      expect(await revokedEvents(person.user.id)).toEqual([
        {
          type: 'consent.revoked',
          actor_type: 'admin',
          actor_id: admin.client_id,
          user_id: person.user.id,
          client_id: client.client_id,
          details: { scope: 'email offline_access openid' },
        },
      ]);
    });

    it('answers 404 for an unknown consent or user, and 401 without a token, changing nothing', async () => {
      const person = await enrollAndSignIn(sut);
      const client = await codeClient('Wiki');
      await grant(client, person);
      const other = await codeClient('Unused');

      const cases: [string, string, number, string][] = [
        [
          'DELETE',
          `/admin/users/${person.user.id}/consents/${other.client_id}`,
          404,
          'consent_not_found',
        ],
        [
          'DELETE',
          `/admin/users/${person.user.id}/consents/no-such-client`,
          404,
          'consent_not_found',
        ],
        [
          'DELETE',
          `/admin/users/${person.user.id}/consents/${'x'.repeat(600)}`,
          404,
          'consent_not_found',
        ],
        [
          'DELETE',
          `/admin/users/${randomUUID()}/consents/${client.client_id}`,
          404,
          'user_not_found',
        ],
        ['DELETE', `/admin/users/not-a-uuid/consents/${client.client_id}`, 404, 'user_not_found'],
        ['GET', `/admin/users/${randomUUID()}/consents`, 404, 'user_not_found'],
      ];
      for (const [method, path, status, code] of cases) {
        const response = await adminApi(method, path);
        expect({ path, status: response.status }).toEqual({ path, status });
        expect(((await response.json()) as { code: string }).code).toBe(code);
      }
      const anonymous = await fetch(
        `${sut.baseUrl}/admin/users/${person.user.id}/consents/${client.client_id}`,
        { method: 'DELETE' },
      );
      expect(anonymous.status).toBe(401);

      expect(await consentClients(person.user.id)).toEqual([client.client_id]);
      expect(await revokedEvents(person.user.id)).toEqual([]);
    });
  });
});
