import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import {
  CookieJar,
  SoftAuthenticator,
  authenticate,
  authenticationOptions,
  createUser,
  enrollAndSignIn,
  postJson,
  register,
  registrationOptions,
  setupTokenFor,
} from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

describe('webauthn ceremonies', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  async function credentialCount(userId: string): Promise<number> {
    const rows: { n: string }[] = await sut.dataSource.query(
      'SELECT count(*) AS n FROM webauthn_credentials WHERE user_id = $1',
      [userId],
    );
    return Number(rows[0].n);
  }

  async function expectError(response: Response, status: number, code: string): Promise<void> {
    const body = (await response.json()) as ErrorBody;
    expect({ status: response.status, code: body.code }).toEqual({ status, code });
    expect(body.statusCode).toBe(status);
    expect(typeof body.message).toBe('string');
  }

  async function enrolled(): Promise<{ userId: string; authenticator: SoftAuthenticator }> {
    const user = await createUser(sut);
    const authenticator = SoftAuthenticator.for(sut);
    const response = await register(
      sut,
      new CookieJar(),
      authenticator,
      await setupTokenFor(sut, user.id),
    );
    expect(response.status).toBe(200);
    return { userId: user.id, authenticator };
  }

  describe('registration', () => {
    it('generates discoverable, user-verified, attestation-free options for a setup token', async () => {
      const user = await createUser(sut, { displayName: 'Ada' });
      const jar = new CookieJar();
      const options = await registrationOptions(sut, jar, await setupTokenFor(sut, user.id));
      expect(options).toMatchObject({
        rp: { id: sut.config.webauthn.rpId, name: 'Latchkey' },
        user: {
          id: Buffer.from(user.id).toString('base64url'),
          name: user.email,
          displayName: 'Ada',
        },
        attestation: 'none',
        excludeCredentials: [],
        authenticatorSelection: {
          residentKey: 'required',
          requireResidentKey: true,
          userVerification: 'required',
        },
      });
      expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43,}$/);
      expect(jar.get('lk_webauthn')).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('enrolls a passkey and consumes the setup token', async () => {
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      const authenticator = SoftAuthenticator.for(sut);
      const jar = new CookieJar();
      const response = await register(sut, jar, authenticator, token, { backedUp: true });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        verified: true,
        redirect: '/login?enrolled=1',
        passkey: {
          id: authenticator.id,
          device_type: 'multiDevice',
          backed_up: true,
          transports: ['internal', 'hybrid'],
          aaguid: '00000000-0000-0000-0000-000000000000',
          last_used_at: null,
        },
      });
      expect((body.passkey as { name: string }).name).toMatch(/^Passkey \(\d{4}-\d{2}-\d{2}\)$/);
      expect(jar.get('lk_webauthn')).toBeUndefined();
      const stored: { sign_count: string; public_key: Buffer }[] = await sut.dataSource.query(
        'SELECT sign_count, public_key FROM webauthn_credentials WHERE id = $1',
        [authenticator.id],
      );
      expect(stored[0].sign_count).toBe('0');
      expect(stored[0].public_key.length).toBeGreaterThan(60);

      // Single use: the same link cannot start another enrollment.
      const again = await postJson(
        sut,
        '/webauthn/register/options',
        { setup_token: token },
        new CookieJar(),
      );
      await expectError(again, 400, 'setup_token_invalid');
    });

    it('refuses unknown, malformed and expired setup tokens', async () => {
      const jar = new CookieJar();
      for (const setup_token of ['lk_st_unknown', 'not-a-token', 'lk_st_' + 'x'.repeat(200)]) {
        const response = await postJson(sut, '/webauthn/register/options', { setup_token }, jar);
        expect(response.status).toBe(400);
      }
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      await sut.dataSource.query(
        `UPDATE setup_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1`,
        [user.id],
      );
      const expired = await postJson(
        sut,
        '/webauthn/register/options',
        { setup_token: token },
        jar,
      );
      await expectError(expired, 400, 'setup_token_invalid');
    });

    it('a setup token used up by another ceremony cannot complete a second enrollment', async () => {
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      const first = new CookieJar();
      const second = new CookieJar();
      const optionsA = await registrationOptions(sut, first, token);
      const optionsB = await registrationOptions(sut, second, token);
      const a = SoftAuthenticator.for(sut);
      const b = SoftAuthenticator.for(sut);
      const done = await postJson(
        sut,
        '/webauthn/register/verify',
        a.createCredential(optionsA),
        first,
      );
      expect(done.status).toBe(200);
      const late = await postJson(
        sut,
        '/webauthn/register/verify',
        b.createCredential(optionsB),
        second,
      );
      await expectError(late, 400, 'setup_token_invalid');
      expect(await credentialCount(user.id)).toBe(1);
    });

    it('a new setup link ends the old one, even mid-ceremony', async () => {
      const user = await createUser(sut);
      const oldToken = await setupTokenFor(sut, user.id);
      const jar = new CookieJar();
      const options = await registrationOptions(sut, jar, oldToken);
      const newToken = await setupTokenFor(sut, user.id);
      const authenticator = SoftAuthenticator.for(sut);
      const response = await postJson(
        sut,
        '/webauthn/register/verify',
        authenticator.createCredential(options),
        jar,
      );
      await expectError(response, 400, 'setup_token_invalid');
      const stale = await postJson(
        sut,
        '/webauthn/register/options',
        { setup_token: oldToken },
        new CookieJar(),
      );
      await expectError(stale, 400, 'setup_token_invalid');
      // The new link still works.
      const fresh = await register(sut, new CookieJar(), authenticator, newToken);
      expect(fresh.status).toBe(200);
    });

    it('refuses a response without user verification, changing nothing', async () => {
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      const response = await register(sut, new CookieJar(), SoftAuthenticator.for(sut), token, {
        uv: false,
      });
      await expectError(response, 400, 'webauthn_verification_failed');
      expect(await credentialCount(user.id)).toBe(0);
      // The link was not used up by the failed attempt.
      expect((await register(sut, new CookieJar(), SoftAuthenticator.for(sut), token)).status).toBe(
        200,
      );
    });

    it.each([
      ['origin', { origin: 'https://evil.example' }],
      ['RP id', { rpId: 'evil.example' }],
      ['ceremony type', { type: 'webauthn.get' }],
      ['challenge', { challenge: Buffer.from('another challenge').toString('base64url') }],
    ])('refuses a registration with the wrong %s', async (_name, overrides) => {
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      const response = await register(
        sut,
        new CookieJar(),
        SoftAuthenticator.for(sut),
        token,
        overrides,
      );
      await expectError(response, 400, 'webauthn_verification_failed');
      expect(await credentialCount(user.id)).toBe(0);
    });

    it('refuses verify without a ceremony cookie, with a replayed one and with an expired one', async () => {
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      const jar = new CookieJar();
      const options = await registrationOptions(sut, jar, token);
      const credential = SoftAuthenticator.for(sut).createCredential(options);

      const noCookie = await postJson(
        sut,
        '/webauthn/register/verify',
        credential,
        new CookieJar(),
      );
      await expectError(noCookie, 400, 'challenge_invalid');

      const ceremony = jar.get('lk_webauthn') ?? '';
      await sut.dataSource.query(
        `UPDATE webauthn_challenges SET expires_at = now() - interval '1 second' WHERE id = $1`,
        [ceremony],
      );
      const expired = await postJson(sut, '/webauthn/register/verify', credential, jar);
      await expectError(expired, 400, 'challenge_invalid');

      const jar2 = new CookieJar();
      const options2 = await registrationOptions(sut, jar2, token);
      const replay = jar2.clone();
      const ok = await postJson(
        sut,
        '/webauthn/register/verify',
        SoftAuthenticator.for(sut).createCredential(options2),
        jar2,
      );
      expect(ok.status).toBe(200);
      const replayed = await postJson(
        sut,
        '/webauthn/register/verify',
        SoftAuthenticator.for(sut).createCredential(options2),
        replay,
      );
      await expectError(replayed, 400, 'challenge_invalid');
      expect(await credentialCount(user.id)).toBe(1);
    });

    it('lets a signed-in user add a passkey, excluding the ones they have', async () => {
      const { user, authenticator, jar } = await enrollAndSignIn(sut);
      const options = await registrationOptions(sut, jar);
      expect(options.excludeCredentials).toEqual([
        { id: authenticator.id, type: 'public-key', transports: ['internal', 'hybrid'] },
      ]);
      const second = SoftAuthenticator.for(sut);
      const response = await postJson(
        sut,
        '/webauthn/register/verify',
        second.createCredential(options),
        jar,
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ redirect: '/account' });
      expect(await credentialCount(user.id)).toBe(2);
    });

    it('refuses a credential id that is already registered', async () => {
      const { authenticator, jar } = await enrollAndSignIn(sut);
      const response = await register(sut, jar, authenticator);
      await expectError(response, 409, 'credential_already_registered');
    });

    it('a refused enrollment of a registered credential leaves the setup link usable', async () => {
      const { authenticator } = await enrolled();
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);

      const duplicate = await register(sut, new CookieJar(), authenticator, token);
      await expectError(duplicate, 409, 'credential_already_registered');
      expect(await credentialCount(user.id)).toBe(0);
      const links: { consumed_at: Date | null }[] = await sut.dataSource.query(
        'SELECT consumed_at FROM setup_tokens WHERE user_id = $1',
        [user.id],
      );
      expect(links).toEqual([{ consumed_at: null }]);

      const fresh = SoftAuthenticator.for(sut);
      const response = await register(sut, new CookieJar(), fresh, token);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ passkey: { id: fresh.id } });
      expect(await credentialCount(user.id)).toBe(1);
      // Now it is spent.
      const again = await postJson(
        sut,
        '/webauthn/register/options',
        { setup_token: token },
        new CookieJar(),
      );
      await expectError(again, 400, 'setup_token_invalid');
    });

    it('needs a setup token or a session', async () => {
      const response = await postJson(sut, '/webauthn/register/options', {}, new CookieJar());
      await expectError(response, 401, 'sign_in_required');
    });

    it('a session-started ceremony cannot be finished by another user', async () => {
      const alice = await enrollAndSignIn(sut);
      const bob = await enrollAndSignIn(sut);
      const options: PublicKeyCredentialCreationOptionsJSON = await registrationOptions(
        sut,
        alice.jar,
      );
      const hijack = new CookieJar();
      hijack.set('lk_webauthn', alice.jar.get('lk_webauthn') ?? '');
      hijack.set(sut.config.sessions.cookieName, bob.jar.get(sut.config.sessions.cookieName) ?? '');
      const response = await postJson(
        sut,
        '/webauthn/register/verify',
        SoftAuthenticator.for(sut).createCredential(options),
        hijack,
      );
      await expectError(response, 400, 'webauthn_verification_failed');
      expect(await credentialCount(alice.user.id)).toBe(1);
    });

    it('rejects malformed verify bodies with 400 or 415', async () => {
      const jar = new CookieJar();
      const response = await postJson(sut, '/webauthn/register/verify', { id: 1 }, jar);
      await expectError(response, 400, 'validation_failed');
      const text = await fetch(`${sut.baseUrl}/webauthn/register/verify`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'hello',
      });
      expect(text.status).toBe(415);
    });
  });

  describe('authentication', () => {
    it('generates usernameless, user-verified options', async () => {
      const jar = new CookieJar();
      const options = await authenticationOptions(sut, jar);
      expect(options.rpId).toBe(sut.config.webauthn.rpId);
      expect(options.userVerification).toBe('required');
      expect(options.allowCredentials ?? []).toEqual([]);
      expect(jar.get('lk_webauthn')).toBeDefined();
    });

    it('signs in, sets an HttpOnly session cookie and records the use', async () => {
      const { userId, authenticator } = await enrolled();
      const jar = new CookieJar();
      const options = await authenticationOptions(sut, jar);
      const response = await fetch(`${sut.baseUrl}/webauthn/authenticate/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: jar.header() },
        body: JSON.stringify(authenticator.getAssertion(options)),
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ verified: true, redirect: '/account' });
      const cookie = response.headers
        .getSetCookie()
        .find((line) => line.startsWith(`${sut.config.sessions.cookieName}=`));
      expect(cookie).toMatch(
        /^lk_session=lk_sid_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/,
      );
      const sessions: { amr: string[]; user_id: string }[] = await sut.dataSource.query(
        'SELECT amr, user_id FROM sessions WHERE user_id = $1',
        [userId],
      );
      expect(sessions).toEqual([{ amr: ['webauthn', 'user'], user_id: userId }]);
      const stored: { sign_count: string; last_used_at: Date | null }[] =
        await sut.dataSource.query(
          'SELECT sign_count, last_used_at FROM webauthn_credentials WHERE id = $1',
          [authenticator.id],
        );
      expect(stored[0].sign_count).toBe('1');
      expect(stored[0].last_used_at).not.toBeNull();
    });

    it('honours return_to only for same-origin /oauth/authorize? paths', async () => {
      const { authenticator } = await enrolled();
      const cases: [string, string][] = [
        ['/oauth/authorize?client_id=a&state=x', '/oauth/authorize?client_id=a&state=x'],
        ['https://evil.example/oauth/authorize?x=1', '/account'],
        ['//evil.example/oauth/authorize?x=1', '/account'],
        ['/oauth/authorize?x=1\\@evil', '/account'],
        ['/admin/users', '/account'],
        ['/oauth/authorizer?x=1', '/account'],
      ];
      for (const [returnTo, expected] of cases) {
        const response = await authenticate(sut, new CookieJar(), authenticator, {}, returnTo);
        expect(response.status).toBe(200);
        expect(((await response.json()) as { redirect: string }).redirect).toBe(expected);
      }
    });

    it('refuses an unknown credential', async () => {
      const stranger = SoftAuthenticator.for(sut);
      const response = await authenticate(sut, new CookieJar(), stranger);
      await expectError(response, 400, 'unknown_credential');
    });

    it('refuses a replayed challenge', async () => {
      const { authenticator } = await enrolled();
      const jar = new CookieJar();
      const options = await authenticationOptions(sut, jar);
      const replay = jar.clone();
      const first = await postJson(
        sut,
        '/webauthn/authenticate/verify',
        authenticator.getAssertion(options),
        jar,
      );
      expect(first.status).toBe(200);
      const second = await postJson(
        sut,
        '/webauthn/authenticate/verify',
        authenticator.getAssertion(options),
        replay,
      );
      await expectError(second, 400, 'challenge_invalid');
      expect(replay.get(sut.config.sessions.cookieName)).toBeUndefined();
    });

    it('a registration ceremony cannot be used to authenticate', async () => {
      const { authenticator } = await enrolled();
      const user = await createUser(sut);
      const jar = new CookieJar();
      const options = await registrationOptions(sut, jar, await setupTokenFor(sut, user.id));
      const response = await postJson(
        sut,
        '/webauthn/authenticate/verify',
        authenticator.getAssertion({ challenge: options.challenge }),
        jar,
      );
      await expectError(response, 400, 'challenge_invalid');
    });

    it.each([
      ['no user verification', { uv: false }],
      ['no user presence', { up: false }],
      ['a wrong origin', { origin: 'http://127.0.0.1:1' }],
      ['a wrong RP id', { rpId: 'example.com' }],
      ['a wrong ceremony type', { type: 'webauthn.create' }],
      ['a forged signature', { wrongKey: true }],
    ])('refuses an assertion with %s, creating no session', async (_name, overrides) => {
      const { userId, authenticator } = await enrolled();
      const jar = new CookieJar();
      const response = await authenticate(sut, jar, authenticator, overrides);
      await expectError(response, 400, 'webauthn_verification_failed');
      expect(jar.get(sut.config.sessions.cookieName)).toBeUndefined();
      const sessions: unknown[] = await sut.dataSource.query(
        'SELECT 1 FROM sessions WHERE user_id = $1',
        [userId],
      );
      expect(sessions).toHaveLength(0);
    });

    it('refuses a signature counter that does not advance', async () => {
      const { authenticator } = await enrolled();
      expect((await authenticate(sut, new CookieJar(), authenticator)).status).toBe(200);
      expect((await authenticate(sut, new CookieJar(), authenticator)).status).toBe(200);
      const stale = await authenticate(sut, new CookieJar(), authenticator, { signCount: 1 });
      await expectError(stale, 400, 'sign_counter_regression');
      const same = await authenticate(sut, new CookieJar(), authenticator, { signCount: 2 });
      await expectError(same, 400, 'sign_counter_regression');
      const zero = await authenticate(sut, new CookieJar(), authenticator, { signCount: 0 });
      await expectError(zero, 400, 'sign_counter_regression');
      const stored: { sign_count: string }[] = await sut.dataSource.query(
        'SELECT sign_count FROM webauthn_credentials WHERE id = $1',
        [authenticator.id],
      );
      expect(stored[0].sign_count).toBe('2');
    });

    it('accepts authenticators that keep no counter (always zero)', async () => {
      const user = await createUser(sut);
      const authenticator = SoftAuthenticator.for(sut, true);
      await register(sut, new CookieJar(), authenticator, await setupTokenFor(sut, user.id));
      expect((await authenticate(sut, new CookieJar(), authenticator)).status).toBe(200);
      expect((await authenticate(sut, new CookieJar(), authenticator)).status).toBe(200);
    });

    it('refuses a user handle that names another user', async () => {
      const { authenticator } = await enrolled();
      authenticator.userHandle = Buffer.from('00000000-0000-4000-8000-000000000000').toString(
        'base64url',
      );
      const response = await authenticate(sut, new CookieJar(), authenticator);
      await expectError(response, 400, 'webauthn_verification_failed');
    });

    it('refuses a disabled user, and signs them out', async () => {
      const { user, authenticator, cookie } = await enrollAndSignIn(sut);
      const token = await sut.adminToken();
      const disabled = await fetch(`${sut.baseUrl}/admin/users/${user.id}/disable`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(disabled.status).toBe(200);
      const response = await authenticate(sut, new CookieJar(), authenticator);
      await expectError(response, 403, 'user_disabled');
      const account = await fetch(`${sut.baseUrl}/account`, {
        headers: { cookie },
        redirect: 'manual',
      });
      expect(account.status).toBe(303);
    });
  });
});
