import { SessionsService } from '../../src/sessions/sessions.service.js';
import {
  CookieJar,
  SoftAuthenticator,
  createUser,
  enrollAndSignIn,
  register,
  setupTokenFor,
  type SignedInUser,
} from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

describe('sign-in, setup and account pages', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  function get(path: string, cookie?: string): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      redirect: 'manual',
      headers: cookie === undefined ? {} : { cookie },
    });
  }

  function post(path: string, form: Record<string, string>, cookie: string): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams(form),
    });
  }

  function csrfOf(signedIn: SignedInUser): string {
    return sut.app.get(SessionsService).csrfToken({ cookie: signedIn.cookie }) ?? '';
  }

  async function passkeyCount(userId: string): Promise<number> {
    const rows: { n: string }[] = await sut.dataSource.query(
      'SELECT count(*) AS n FROM webauthn_credentials WHERE user_id = $1',
      [userId],
    );
    return Number(rows[0].n);
  }

  async function expectPage(response: Response, status: number, heading: RegExp): Promise<string> {
    expect(response.status).toBe(status);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    expect(html.startsWith('<!doctype html>\n<html lang=')).toBe(true);
    expect(html).toMatch(heading);
    // No inline scripts: every script element loads a local /assets file.
    for (const tag of html.match(/<script[^>]*>/g) ?? []) {
      expect(tag).toMatch(/^<script src='\/assets\/[a-z-]+\.js' defer>$/);
    }
    return html;
  }

  describe('GET /login', () => {
    it('renders the passkey sign-in page with autofill', async () => {
      const html = await expectPage(await get('/login'), 200, /<h1 id='title'>Sign in<\/h1>/);
      expect(html).toContain("autocomplete='username webauthn'");
      expect(html).toContain("<label for='username'>");
      expect(html).toContain("role='alert' aria-live='assertive'");
      expect(html).toContain('/assets/simplewebauthn-browser.js');
      expect(html).toContain('/assets/login.js');
    });

    it('keeps return_to for the page script, escaped', async () => {
      const html = await (
        await get('/login?return_to=' + encodeURIComponent('/oauth/authorize?a=1&b="x"'))
      ).text();
      expect(html).toContain("data-return-to='/oauth/authorize?a&#x3D;1&amp;b&#x3D;&quot;x&quot;'");
    });

    it('shows the signed-out and enrolled notices', async () => {
      expect(await (await get('/login?signed_out=1')).text()).toContain('You have signed out.');
      expect(await (await get('/login?enrolled=1')).text()).toContain('Your passkey is ready.');
    });
  });

  describe('GET /setup/:token', () => {
    it('renders the enrollment page for a live link', async () => {
      const user = await createUser(sut, { displayName: 'Ada <script>' });
      const token = await setupTokenFor(sut, user.id);
      const html = await expectPage(
        await get(`/setup/${token}`),
        200,
        /<h1 id='title'>Set up your passkey<\/h1>/,
      );
      expect(html).toContain(`data-setup-token='${token}'`);
      expect(html).toContain('Ada &lt;script&gt;');
      expect(html).toContain(user.email);
    });

    it('answers a friendly 4xx page for unknown, used and expired links', async () => {
      await expectPage(
        await get('/setup/lk_st_nope'),
        400,
        /<h1 id='title'>This link no longer works<\/h1>/,
      );
      await expectPage(await get('/setup/whatever'), 400, /setup link is invalid/);

      const user = await createUser(sut);
      const used = await setupTokenFor(sut, user.id);
      await register(sut, new CookieJar(), SoftAuthenticator.for(sut), used);
      await expectPage(
        await get(`/setup/${used}`),
        400,
        /setup link is invalid, expired or already used/,
      );

      const other = await createUser(sut);
      const expired = await setupTokenFor(sut, other.id);
      await sut.dataSource.query(
        `UPDATE setup_tokens SET expires_at = now() - interval '1 second' WHERE user_id = $1`,
        [other.id],
      );
      await expectPage(await get(`/setup/${expired}`), 400, /already used/);
    });

    it('answers 4xx for a disabled user', async () => {
      const user = await createUser(sut);
      const token = await setupTokenFor(sut, user.id);
      const token2 = await sut.adminToken();
      await fetch(`${sut.baseUrl}/admin/users/${user.id}/disable`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token2}` },
      });
      expect((await get(`/setup/${token}`)).status).toBe(400);
    });
  });

  describe('GET /account', () => {
    it('redirects to sign-in when signed out', async () => {
      const response = await get('/account');
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login?return_to=%2Faccount');
      const stale = await get('/account', 'lk_session=lk_sid_stale');
      expect(stale.status).toBe(303);
    });

    it('lists the passkeys with rename forms and a CSRF-protected sign-out', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const html = await expectPage(
        await get('/account', signedIn.cookie),
        200,
        /<h1 id='title'>Your account<\/h1>/,
      );
      expect(html).toContain(signedIn.user.email);
      expect(html).toContain(`action='/account/passkeys/${signedIn.authenticator.id}/rename'`);
      expect(html).toContain(`name='csrf' value='${csrfOf(signedIn)}'`);
      expect(html).toContain("action='/logout'");
      // The only passkey offers no remove button.
      expect(html).not.toContain("/delete'");
      expect(html).toContain('This is your only passkey');
    });
  });

  describe('account forms', () => {
    it('renames a passkey with the CSRF token', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const path = `/account/passkeys/${signedIn.authenticator.id}/rename`;
      const response = await post(
        path,
        { csrf: csrfOf(signedIn), name: 'Work laptop' },
        signedIn.cookie,
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/account?done=renamed');
      const html = await (await get('/account?done=renamed', signedIn.cookie)).text();
      expect(html).toContain('Work laptop');
      expect(html).toContain('Passkey renamed.');
    });

    it.each([
      ['missing', undefined],
      ['wrong', 'A'.repeat(43)],
    ])('refuses a %s CSRF token with 403, changing nothing', async (_name, csrf) => {
      const signedIn = await enrollAndSignIn(sut);
      const form: Record<string, string> = { name: 'Hijacked' };
      if (csrf !== undefined) form.csrf = csrf;
      const rename = await post(
        `/account/passkeys/${signedIn.authenticator.id}/rename`,
        form,
        signedIn.cookie,
      );
      await expectPage(rename, 403, /reload the page/);
      const remove = await post(
        `/account/passkeys/${signedIn.authenticator.id}/delete`,
        csrf === undefined ? {} : { csrf },
        signedIn.cookie,
      );
      expect(remove.status).toBe(403);
      const rows: { name: string }[] = await sut.dataSource.query(
        'SELECT name FROM webauthn_credentials WHERE user_id = $1',
        [signedIn.user.id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].name).not.toBe('Hijacked');
    });

    it('cannot remove the last passkey (409)', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const response = await post(
        `/account/passkeys/${signedIn.authenticator.id}/delete`,
        { csrf: csrfOf(signedIn) },
        signedIn.cookie,
      );
      await expectPage(response, 409, /only passkey/);
      expect(await passkeyCount(signedIn.user.id)).toBe(1);
    });

    it('removes a passkey when another remains', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const second = SoftAuthenticator.for(sut);
      expect((await register(sut, signedIn.jar, second)).status).toBe(200);
      const html = await (await get('/account', signedIn.cookie)).text();
      expect(html).toContain(`/account/passkeys/${second.id}/delete`);
      const response = await post(
        `/account/passkeys/${second.id}/delete`,
        { csrf: csrfOf(signedIn) },
        signedIn.cookie,
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/account?done=removed');
      expect(await passkeyCount(signedIn.user.id)).toBe(1);
    });

    it("cannot touch another user's passkey (404)", async () => {
      const alice = await enrollAndSignIn(sut);
      const bob = await enrollAndSignIn(sut);
      const response = await post(
        `/account/passkeys/${bob.authenticator.id}/rename`,
        { csrf: csrfOf(alice), name: 'Mine now' },
        alice.cookie,
      );
      await expectPage(response, 404, /passkey not found/);
    });

    it('sends a signed-out form post to sign-in', async () => {
      const response = await post('/account/passkeys/x/rename', { name: 'x' }, '');
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login?return_to=%2Faccount');
    });

    it('rejects an invalid form with a 400 page', async () => {
      const signedIn = await enrollAndSignIn(sut);
      const response = await post(
        `/account/passkeys/${signedIn.authenticator.id}/rename`,
        { csrf: csrfOf(signedIn), name: '' },
        signedIn.cookie,
      );
      await expectPage(response, 400, /Something is wrong with that request/);
    });
  });

  describe('assets', () => {
    it.each([
      ['latchkey.css', /^text\/css/],
      ['login.js', /^text\/javascript/],
      ['setup.js', /^text\/javascript/],
      ['account.js', /^text\/javascript/],
      ['passkeys.js', /^text\/javascript/],
      ['simplewebauthn-browser.js', /^text\/javascript/],
    ])('serves %s locally', async (file, type) => {
      const response = await get(`/assets/${file}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(type);
      const etag = response.headers.get('etag') ?? '';
      expect((await response.text()).length).toBeGreaterThan(100);
      const cached = await fetch(`${sut.baseUrl}/assets/${file}`, {
        headers: { 'if-none-match': etag },
      });
      expect(cached.status).toBe(304);
    });

    it('serves the @simplewebauthn/browser bundle', async () => {
      const body = await (await get('/assets/simplewebauthn-browser.js')).text();
      expect(body).toContain('SimpleWebAuthnBrowser');
    });

    it('serves nothing else', async () => {
      for (const path of ['/assets/nope.js', '/assets/..%2Fpackage.json', '/assets/login.hbs']) {
        expect((await get(path)).status).toBe(404);
      }
    });
  });
});
