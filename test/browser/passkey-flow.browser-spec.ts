import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type CDPSession,
  type Page,
} from 'playwright-core';
import { createUser, setupTokenFor } from '../utils/soft-authenticator.js';
import { startTestApp, tokenRequest, type TestApp, type TestClient } from '../utils/test-app.js';
import { pkcePair, verifyWithJwks, type UserTokenBody } from '../utils/user-grants.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
const ARTIFACTS = join(process.cwd(), 'test/browser/artifacts');
const DESKTOP = { width: 1280, height: 900 };
const MOBILE = { width: 390, height: 844 };
/** Upper bound for one page step (navigation, ceremony): a wait, never a timing assertion. */
const STEP = 15_000;
/**
 * Hooks and the test pass their own limit: jest-circus reads `testTimeout` from the global
 * config only, so the project's setting in jest.config.cjs does not reach them.
 */
const LIMIT = 60_000;

/**
 * The client's redirect URI, /callback: records each request's URL and answers 200 "ok". Other
 * paths (the browser's /favicon.ico) get a 404 and are not recorded.
 */
interface CallbackServer {
  server: Server;
  /** http://127.0.0.1:<port>/callback */
  url: string;
  /** The path and query of each request to /callback, in order. */
  hits: string[];
}

async function startCallbackServer(): Promise<CallbackServer> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url !== '/callback' && !url.startsWith('/callback?')) {
      res.writeHead(404).end();
      return;
    }
    hits.push(url);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/callback`, hits };
}

/**
 * A person enrolls a passkey from a setup link, then signs in with it during an authorization
 * request, consents, and the client redeems the code: the whole flow in a real Chromium, whose
 * CDP virtual authenticator plays the platform authenticator.
 */
describe('passkey enrollment, sign-in and consent in a real browser', () => {
  let sut: TestApp;
  // Declared without `undefined`, but afterAll copes with a beforeAll that failed half-way.
  let callback: CallbackServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  /** The page's console errors (CSP violations among them), to explain a stuck navigation. */
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    // Fail, never skip: CI installs Chromium (.ci/run).
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install it (apt-get install chromium)`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    // WebAuthn needs a domain for the RP ID, and localhost is one (and a secure context).
    sut = await startTestApp({}, { host: 'localhost' });
    callback = await startCallbackServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    context = await browser.newContext({ viewport: DESKTOP });
    // Chromium's virtual authenticator answers a conditional (autofill) request on its own, with
    // no one picking the passkey, so login.js's autofill ceremony would sign in before the button
    // is clicked. As in a browser without passkey autofill, only the button signs in here.
    await context.addInitScript(
      'Object.defineProperty(PublicKeyCredential, "isConditionalMediationAvailable", ' +
        '{ value: () => Promise.resolve(false) });',
    );
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.setDefaultTimeout(STEP);
    page.setDefaultNavigationTimeout(STEP);
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  }, LIMIT);

  afterAll(async () => {
    // Each one runs even if another (or beforeAll) failed, so nothing is left listening.
    const results = await Promise.allSettled([
      browser?.close(),
      new Promise<void>((resolve) =>
        callback ? callback.server.close(() => resolve()) : resolve(),
      ),
      sut?.close(),
    ]);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
  }, LIMIT);

  /** Full-page screenshots at desktop and phone width, for a person to look at. */
  async function screenshot(name: string): Promise<void> {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    await page.setViewportSize(MOBILE);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-390.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

  /** Waits for the page to reach a URL; on failure, says what the browser console reported. */
  async function arriveAt(description: string, match: (url: URL) => boolean): Promise<void> {
    try {
      await page.waitForURL(match);
    } catch (error) {
      const seen = consoleErrors.length > 0 ? consoleErrors.join('\n') : '(none)';
      throw new Error(
        `the browser did not reach ${description}; it is at ${page.url()}\n` +
          `browser console errors:\n${seen}`,
        { cause: error },
      );
    }
  }

  async function createConfidentialClient(redirectUri: string): Promise<TestClient> {
    return sut.createClient({
      client_name: 'Acme Reports',
      client_type: 'confidential',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [redirectUri],
    });
  }

  it(
    'enrolls a passkey, signs in with it, consents and redeems the code',
    async () => {
      const redirectUri = callback.url;
      const user = await createUser(sut, { displayName: 'Ada Browser' });

      // 1. The setup link: one click creates a passkey in the virtual authenticator.
      await page.goto(`${sut.baseUrl}/setup/${await setupTokenFor(sut, user.id)}`);
      await page.getByRole('heading', { name: 'Set up your passkey' }).waitFor();
      await page.getByRole('button', { name: 'Create a passkey' }).click();
      await arriveAt(
        'the sign-in page after enrollment',
        (url) => url.pathname === '/login' && url.searchParams.has('enrolled'),
      );
      await page.getByText('Your passkey is ready. Sign in with it now.').waitFor();

      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).toHaveLength(1);
      expect(credentials[0]).toMatchObject({ rpId: 'localhost', isResidentCredential: true });

      // 2. Signed out (the authenticator stays attached to this page), an authorization request.
      await context.clearCookies();
      const client = await createConfidentialClient(redirectUri);
      const { verifier, challenge } = pkcePair();
      const state = randomBytes(16).toString('base64url');
      const nonce = randomBytes(16).toString('base64url');
      const authorize = new URL(`${sut.baseUrl}/oauth/authorize`);
      authorize.search = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: redirectUri,
        scope: 'openid profile email',
        state,
        nonce,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }).toString();
      await page.goto(authorize.href);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await screenshot('login');

      // 3. The passkey button: usernameless sign-in, back to the request, which asks for consent.
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await arriveAt('the consent page', (url) => url.pathname === '/oauth/authorize');
      await page
        .getByRole('heading', { name: 'Acme Reports wants to access your account' })
        .waitFor();
      await expect(page.locator('main').textContent()).resolves.toContain(user.email);
      await screenshot('consent');

      // 4. Allow: back to the client with the code, the state and the issuer (RFC 9207).
      await page.getByRole('button', { name: 'Allow' }).click();
      await arriveAt('the redirect URI', (url) => url.href.startsWith(`${redirectUri}?`));
      await expect(page.locator('body').textContent()).resolves.toBe('ok');
      expect(callback.hits).toHaveLength(1);
      const params = new URL(callback.hits[0], redirectUri).searchParams;
      expect(params.get('state')).toBe(state);
      expect(params.get('iss')).toBe(sut.baseUrl);
      expect(params.get('error')).toBeNull();
      const code = params.get('code');
      expect(code).toMatch(/^lk_ac_/);

      // 5. The client redeems the code with its PKCE verifier.
      const response = await tokenRequest(sut.baseUrl, client, {
        grant_type: 'authorization_code',
        code: code ?? '',
        redirect_uri: redirectUri,
        code_verifier: verifier,
      });
      const tokens = (await response.json()) as UserTokenBody;
      expect(response.status).toBe(200);
      expect(tokens).toMatchObject({
        token_type: 'Bearer',
        access_token: expect.any(String) as string,
        id_token: expect.any(String) as string,
      });
      const { payload } = await verifyWithJwks(sut, tokens.id_token ?? '', {
        audience: client.client_id,
      });
      expect(payload).toMatchObject({ sub: user.id, nonce, iss: sut.baseUrl });

      // 6. The account page lists the passkey.
      await page.goto(`${sut.baseUrl}/account`);
      await page.getByRole('heading', { name: 'Your account' }).waitFor();
      const passkeys = page.locator('li.passkey');
      await expect(passkeys.count()).resolves.toBe(1);
      await expect(passkeys.locator('.passkey-name').textContent()).resolves.toMatch(
        /^Passkey \(\d{4}-\d{2}-\d{2}\)$/,
      );
      await screenshot('account');

      // The pages' CSP blocked nothing they need: no script, style, fetch or form redirect.
      expect(consoleErrors.filter((text) => /Content Security Policy/i.test(text))).toEqual([]);
    },
    LIMIT,
  );
});
