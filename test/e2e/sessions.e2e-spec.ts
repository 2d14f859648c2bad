import { randomUUID } from 'node:crypto';
import { SessionsService } from '../../src/sessions/sessions.service.js';
import { TokenFamiliesService } from '../../src/tokens/token-families.service.js';
import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

/** A browser form post; redirects are not followed, so the 303 itself can be checked. */
function postForm(
  url: string,
  body: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body),
  });
}

describe('browser sessions', () => {
  let sut: TestApp;
  let sessions: SessionsService;

  beforeAll(async () => {
    sut = await startTestApp();
    sessions = sut.app.get(SessionsService);
  });

  afterAll(async () => {
    await sut.close();
  });

  async function accountStatus(cookie: string): Promise<number> {
    const response = await fetch(`${sut.baseUrl}/account`, {
      headers: { cookie },
      redirect: 'manual',
    });
    return response.status;
  }

  async function familyFor(signedIn: SignedInUser): Promise<string> {
    const session = await sessions.fromHeaders({ cookie: signedIn.cookie });
    if (session === null) throw new Error('no session');
    const client = await sut.createClient();
    return sut.app.get(TokenFamiliesService).create({
      clientId: client.client_id,
      userId: signedIn.user.id,
      sessionId: session.id,
    });
  }

  async function familyRevoked(id: string): Promise<string | null> {
    const rows: { revoked_reason: string | null }[] = await sut.dataSource.query(
      'SELECT revoked_reason FROM token_families WHERE id = $1',
      [id],
    );
    return rows[0].revoked_reason;
  }

  describe('SessionsService', () => {
    it('creates a session and finds it from the Cookie header, among other cookies', async () => {
      const user = await enrollAndSignIn(sut);
      const { session, setCookie } = await sessions.create({
        userId: user.user.id,
        amr: ['webauthn', 'user'],
        userAgent: 'jest',
      });
      expect(setCookie).toMatch(
        /^lk_session=lk_sid_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax$/,
      );
      const value = setCookie.split(';')[0];
      const found = await sessions.fromHeaders({ cookie: `a=1; ${value}; b="2"` });
      expect(found).toEqual(session);
      expect(found?.amr).toEqual(['webauthn', 'user']);
      const stored: { sid_hash: string }[] = await sut.dataSource.query(
        'SELECT sid_hash FROM sessions WHERE id = $1',
        [session.id],
      );
      expect(stored[0].sid_hash).not.toContain(value.split('=')[1]);
    });

    it('treats missing, malformed, unknown, expired and revoked cookies as no session', async () => {
      expect(await sessions.fromHeaders({})).toBeNull();
      expect(await sessions.fromHeaders({ cookie: 'lk_session=' })).toBeNull();
      expect(await sessions.fromHeaders({ cookie: 'lk_session=garbage' })).toBeNull();
      expect(await sessions.fromHeaders({ cookie: 'lk_session=lk_sid_unknown' })).toBeNull();

      const expired = await sessions.create({ userId: null, amr: [] });
      await sut.dataSource.query(
        `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`,
        [expired.session.id],
      );
      expect(await sessions.fromHeaders({ cookie: expired.setCookie.split(';')[0] })).toBeNull();

      const revoked = await sessions.create({ userId: null, amr: [] });
      await sessions.revoke(revoked.session.id);
      expect(await sessions.fromHeaders({ cookie: revoked.setCookie.split(';')[0] })).toBeNull();
    });

    it('clears the cookie with Max-Age=0', () => {
      expect(sessions.clearCookie()).toMatch(
        /^lk_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax/,
      );
    });
  });

  describe('POST /logout', () => {
    it('signs out with the CSRF token: clears the cookie and revokes the session and its tokens', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const family = await familyFor(signedIn);
      const csrf = sessions.csrfToken({ cookie: signedIn.cookie });
      const response = await postForm(
        `${sut.baseUrl}/logout`,
        { csrf: csrf ?? '' },
        { cookie: signedIn.cookie },
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login?signed_out=1');
      expect(response.headers.getSetCookie()[0]).toMatch(/^lk_session=; Path=\/; Max-Age=0/);
      expect(await sessions.fromHeaders({ cookie: signedIn.cookie })).toBeNull();
      expect(await familyRevoked(family)).toBe('signed_out');
    });

    it.each([
      ['missing', {}],
      ['wrong', { csrf: 'x'.repeat(43) }],
    ])('refuses a %s CSRF token (403) and keeps the session', async (_name, form) => {
      const signedIn = await enrollAndSignIn(sut);
      const response = await postForm(`${sut.baseUrl}/logout`, form, { cookie: signedIn.cookie });
      expect(response.status).toBe(403);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await sessions.fromHeaders({ cookie: signedIn.cookie })).not.toBeNull();
    });

    it("refuses another session's CSRF token", async () => {
      const alice = await enrollAndSignIn(sut);
      const bob = await enrollAndSignIn(sut);
      const response = await postForm(
        `${sut.baseUrl}/logout`,
        { csrf: sessions.csrfToken({ cookie: bob.cookie }) ?? '' },
        { cookie: alice.cookie },
      );
      expect(response.status).toBe(403);
      expect(await sessions.fromHeaders({ cookie: alice.cookie })).not.toBeNull();
    });

    it('without a session it just clears the cookie', async () => {
      const response = await postForm(`${sut.baseUrl}/logout`, {});
      expect(response.status).toBe(303);
      expect(response.headers.getSetCookie()[0]).toMatch(/Max-Age=0/);
    });

    it('refuses a form that is not urlencoded or repeats a field', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const json = await fetch(`${sut.baseUrl}/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: signedIn.cookie },
        body: '{}',
      });
      expect(json.status).toBe(415);
      const repeated = await postForm(`${sut.baseUrl}/logout`, 'csrf=a&csrf=b', {
        cookie: signedIn.cookie,
      });
      expect(repeated.status).toBe(400);
      expect(await sessions.fromHeaders({ cookie: signedIn.cookie })).not.toBeNull();
    });
  });

  describe('DELETE /admin/users/:id/sessions', () => {
    it('signs the user out everywhere and revokes their tokens', async () => {
      const first = await enrollAndSignIn(sut);
      const family = await familyFor(first);
      // A second browser of the same user.
      const second = await sessions.create({ userId: first.user.id, amr: ['webauthn', 'user'] });
      const secondCookie = second.setCookie.split(';')[0];
      const other = await enrollAndSignIn(sut);
      expect(await accountStatus(first.cookie)).toBe(200);

      const token = await sut.adminToken();
      const response = await fetch(`${sut.baseUrl}/admin/users/${first.user.id}/sessions`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ revoked_sessions: 2 });

      expect(await accountStatus(first.cookie)).toBe(303);
      expect(await sessions.fromHeaders({ cookie: secondCookie })).toBeNull();
      expect(await familyRevoked(family)).toBe('signed_out_everywhere');
      expect(await accountStatus(other.cookie)).toBe(200);

      const again = await fetch(`${sut.baseUrl}/admin/users/${first.user.id}/sessions`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(await again.json()).toEqual({ revoked_sessions: 0 });
    });

    it('answers 404 for an unknown user and 401 without a token', async () => {
      const token = await sut.adminToken();
      const unknown = await fetch(`${sut.baseUrl}/admin/users/${randomUUID()}/sessions`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ code: 'user_not_found' });
      const anonymous = await fetch(`${sut.baseUrl}/admin/users/${randomUUID()}/sessions`, {
        method: 'DELETE',
      });
      expect(anonymous.status).toBe(401);
    });

    it('disabling or deleting a user ends their sessions and token families', async () => {
      const token = await sut.adminToken();
      const disabled = await enrollAndSignIn(sut);
      const disabledFamily = await familyFor(disabled);
      await fetch(`${sut.baseUrl}/admin/users/${disabled.user.id}/disable`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(await familyRevoked(disabledFamily)).toBe('user_disabled');
      const rows: { revoked_at: Date | null }[] = await sut.dataSource.query(
        'SELECT revoked_at FROM sessions WHERE user_id = $1',
        [disabled.user.id],
      );
      expect(rows.every((row) => row.revoked_at !== null)).toBe(true);
      // Re-enabling does not bring the old session back.
      await fetch(`${sut.baseUrl}/admin/users/${disabled.user.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'active' }),
      });
      expect(await sessions.fromHeaders({ cookie: disabled.cookie })).toBeNull();

      const deleted = await enrollAndSignIn(sut);
      await fetch(`${sut.baseUrl}/admin/users/${deleted.user.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(await sessions.fromHeaders({ cookie: deleted.cookie })).toBeNull();
    });
  });
});
