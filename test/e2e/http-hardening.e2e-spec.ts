import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { pino } from 'pino';
import { setLogger } from '../../src/common/logger.js';
import {
  CookieJar,
  SoftAuthenticator,
  authenticate,
  createUser,
  enrollAndSignIn,
  register,
  setupTokenFor,
  type SignedInUser,
} from '../utils/soft-authenticator.js';
import {
  postForm,
  startTestApp,
  eventually,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';
import { REDIRECT_URI, pkcePair } from '../utils/user-grants.js';
import { consentForm } from '../utils/consent-form.js';

const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const HSTS = 'max-age=31536000; includeSubDomains';

/** helmet's headers as every response must carry them, whatever served it. */
const HELMET = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};
const HEADER_NAMES = [
  ...Object.keys(HELMET),
  'content-security-policy',
  'strict-transport-security',
  'x-powered-by',
  'cache-control',
  'pragma',
];

/** The security and caching headers of a response, absent ones as null. */
function securityHeaders(response: Response): Record<string, string | null> {
  return Object.fromEntries(HEADER_NAMES.map((name) => [name, response.headers.get(name)]));
}

function expected(
  csp: string,
  caching: { cache: string | null; pragma: string | null },
  hsts: string | null = null,
): Record<string, string | null> {
  return {
    ...HELMET,
    'content-security-policy': csp,
    'strict-transport-security': hsts,
    'x-powered-by': null,
    'cache-control': caching.cache,
    pragma: caching.pragma,
  };
}

const NO_STORE = { cache: 'no-store', pragma: 'no-cache' };

function expectNoStore(response: Response): void {
  expect({
    cache: response.headers.get('cache-control'),
    pragma: response.headers.get('pragma'),
  }).toEqual(NO_STORE);
}

interface RawAnswer {
  head: string;
  body: string;
}

/**
 * Sends a request whose body never completes: the declared length is never reached. Resolves
 * with what the server answered once it closed the connection.
 */
function stalledBody(baseUrl: string, path: string, contentType: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const split = received.indexOf('\r\n\r\n');
      resolve({ head: received.slice(0, split), body: received.slice(split + 4) });
    });
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: ${contentType}\r\n` +
        'Content-Length: 1000\r\n\r\ngrant_type=',
    );
  });
}

/** A body sent in chunks, with no Content-Length: the size limit must hold while streaming. */
function streamed(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = new TextEncoder().encode('a'.repeat(Math.min(8192, total - sent)));
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
}

describe('HTTP hardening', () => {
  /** http issuer, TRUST_PROXY unset. */
  let sut: TestApp;
  /** https issuer (still served over http on loopback), one trusted proxy hop, short body wait. */
  let secure: TestApp;
  /** trusts the loopback and one subnet of proxies. */
  let behindProxies: TestApp;
  let person: SignedInUser;
  let codeClient: TestClient;
  let adminToken: string;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    sut = await startTestApp({ REGISTRATION_MODE: 'open' });
    secure = await startTestApp({
      ISSUER: 'https://id.example.test',
      TRUST_PROXY: '1',
      BODY_READ_TIMEOUT_MS: '200',
    });
    behindProxies = await startTestApp({ TRUST_PROXY: '127.0.0.0/8, 203.0.113.0/24' });
    // After the apps started (each one silences the logger): keep the access log lines.
    setLogger(
      pino(
        { level: 'info' },
        { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) },
      ),
    );
    person = await enrollAndSignIn(sut);
    codeClient = await sut.createClient({
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
      logo_uri: 'https://cdn.example.net/logo.png',
    });
    adminToken = await sut.adminToken();
  }, 30_000);

  afterAll(async () => {
    setLogger(pino({ level: 'silent' }));
    await Promise.all([sut?.close(), secure?.close(), behindProxies?.close()]);
  });

  function page(path: string, cookie?: string): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      redirect: 'manual',
      headers: cookie === undefined ? {} : { cookie },
    });
  }

  /** client_credentials for a fresh service client of `app` (scopes need an admin-made client). */
  async function serviceToken(app: TestApp): Promise<{ response: Response; client: TestClient }> {
    const client = await app.createAdminClient();
    const response = await tokenRequest(app.baseUrl, client, {
      grant_type: 'client_credentials',
      scope: 'admin',
      resource: app.config.audiences.admin,
    });
    return { response, client };
  }

  function consentUrl(): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: codeClient.client_id,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email',
      state: 'state-1',
      code_challenge: pkcePair().challenge,
      code_challenge_method: 'S256',
    });
    return `/oauth/authorize?${query.toString()}`;
  }

  function admin(app: TestApp, token: string, method: string, path: string, body?: unknown) {
    return fetch(`${app.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  describe('security headers', () => {
    it('gives the sign-in, setup and account pages the strict page policy', async () => {
      const user = await createUser(sut);
      for (const response of [
        await page('/login'),
        await page(`/setup/${await setupTokenFor(sut, user.id)}`),
        await page('/account', person.cookie),
      ]) {
        expect(response.status).toBe(200);
        expect(securityHeaders(response)).toEqual(expected(PAGE_CSP, NO_STORE));
      }
    });

    it("lets the consent page's form reach the client's redirect URI and show its logo", async () => {
      const response = await page(consentUrl(), person.cookie);

      expect(response.status).toBe(200);
      expect(securityHeaders(response)).toEqual(
        expected(
          "default-src 'none'; script-src 'self'; style-src 'self'; " +
            "img-src 'self' https://cdn.example.net; connect-src 'self'; " +
            "form-action 'self' https://app.example.com; frame-ancestors 'none'; base-uri 'none'",
          NO_STORE,
        ),
      );
    });

    it('accepts the consent post a browser sends under no-referrer, and refuses a cross-site one', async () => {
      const form = consentForm(await (await page(consentUrl(), person.cookie)).text());
      const decide = (headers: Record<string, string>) =>
        postForm(
          `${sut.baseUrl}/oauth/authorize/decision`,
          { ...form, decision: 'deny' },
          { cookie: person.cookie, ...headers },
        );

      // Referrer-Policy no-referrer makes browsers send `Origin: null` on a same-origin post.
      const crossSite = await decide({ origin: 'null', 'sec-fetch-site': 'cross-site' });
      expect(crossSite.status).toBe(403);
      const sameOrigin = await fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: person.cookie,
          origin: 'null',
          'sec-fetch-site': 'same-origin',
        },
        body: new URLSearchParams({ ...form, decision: 'deny' }),
      });
      expect(sameOrigin.status).toBe(303);
      const location = new URL(sameOrigin.headers.get('location') ?? '');
      expect(location.searchParams.get('error')).toBe('access_denied');
      expect(securityHeaders(sameOrigin)).toEqual(expected(API_CSP, NO_STORE));
    });

    it('gives a protocol JSON response the minimal policy and no-store', async () => {
      const { response } = await serviceToken(sut);

      expect(response.status).toBe(200);
      expect(securityHeaders(response)).toEqual(expected(API_CSP, NO_STORE));
    });

    it('gives protocol errors, 405s and unknown paths the same headers', async () => {
      const error = await postForm(`${sut.baseUrl}/oauth/token`, { grant_type: 'password' });
      const wrongMethod = await fetch(`${sut.baseUrl}/oauth/token`);
      const unknown = await fetch(`${sut.baseUrl}/no/such/path`);

      expect([error.status, wrongMethod.status, unknown.status]).toEqual([401, 405, 404]);
      for (const response of [error, wrongMethod, unknown]) {
        expect(securityHeaders(response)).toEqual(expected(API_CSP, NO_STORE));
      }
    });

    it('gives an admin response the minimal policy and no-store', async () => {
      const response = await admin(sut, adminToken, 'GET', '/admin/clients');

      expect(response.status).toBe(200);
      expect(securityHeaders(response)).toEqual(expected(API_CSP, NO_STORE));
    });

    it('keeps public caching on discovery, JWKS and assets', async () => {
      for (const path of [
        '/.well-known/openid-configuration',
        '/.well-known/jwks.json',
        '/.well-known/oauth-protected-resource',
      ]) {
        const response = await fetch(`${sut.baseUrl}${path}`);
        expect(response.status).toBe(200);
        expect(securityHeaders(response)).toEqual(
          expected(API_CSP, {
            cache: expect.stringMatching(/^public, max-age=\d+$/) as string,
            pragma: null,
          }),
        );
      }
      const asset = await fetch(`${sut.baseUrl}/assets/login.js`);
      expect(asset.status).toBe(200);
      expect(securityHeaders(asset)).toEqual(
        expected(API_CSP, { cache: 'public, max-age=300', pragma: null }),
      );
    });

    it('lets Swagger UI at /docs use inline styles, never inline scripts', async () => {
      const response = await fetch(`${sut.baseUrl}/docs`);

      expect(response.status).toBe(200);
      expect(securityHeaders(response)).toEqual(
        expected(
          "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; " +
            "frame-ancestors 'none'; base-uri 'none'",
          NO_STORE,
        ),
      );
    });

    it('adds HSTS only when the issuer is https, on every kind of response', async () => {
      const responses = [
        await fetch(`${secure.baseUrl}/login`),
        (await serviceToken(secure)).response,
        await fetch(`${secure.baseUrl}/.well-known/jwks.json`),
        await fetch(`${secure.baseUrl}/admin/clients`),
      ];
      for (const response of responses) {
        expect(response.headers.get('strict-transport-security')).toBe(HSTS);
      }
      expect(securityHeaders(responses[0])).toEqual(expected(PAGE_CSP, NO_STORE, HSTS));
      expect(securityHeaders(responses[1])).toEqual(expected(API_CSP, NO_STORE, HSTS));

      const plain = await fetch(`${sut.baseUrl}/.well-known/jwks.json`);
      expect(plain.headers.get('strict-transport-security')).toBeNull();
    });
  });

  describe('no-store on everything that carries a token, a code, a secret or personal data', () => {
    it('on the token, introspection, revocation, UserInfo and anonymous endpoints', async () => {
      const { response: issued, client } = await serviceToken(sut);
      expect(issued.status).toBe(200);
      expectNoStore(issued);
      const { access_token } = (await issued.json()) as { access_token: string };

      expectNoStore(
        await tokenRequest(sut.baseUrl, client, { token: access_token }, '/oauth/introspect'),
      );
      expectNoStore(
        await tokenRequest(sut.baseUrl, client, { token: access_token }, '/oauth/revoke'),
      );
      const anonymous = await fetch(`${sut.baseUrl}/oauth/anonymous`, { method: 'POST' });
      expect(anonymous.status).toBe(200);
      expectNoStore(anonymous);
      const anonymousToken = ((await anonymous.json()) as { access_token: string }).access_token;
      const userinfo = await fetch(`${sut.baseUrl}/oauth/userinfo`, {
        headers: { authorization: `Bearer ${anonymousToken}` },
      });
      expectNoStore(userinfo);
    });

    it('on dynamic registration and client configuration responses', async () => {
      const registered = await fetch(`${sut.baseUrl}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: `nostore ${randomUUID()}`,
          redirect_uris: [REDIRECT_URI],
        }),
      });
      expect(registered.status).toBe(201);
      expectNoStore(registered);
      const client = (await registered.json()) as {
        registration_client_uri: string;
        registration_access_token: string;
      };
      const auth = { authorization: `Bearer ${client.registration_access_token}` };

      const read = await fetch(client.registration_client_uri, { headers: auth });
      expect(read.status).toBe(200);
      expectNoStore(read);
      const removed = await fetch(client.registration_client_uri, {
        method: 'DELETE',
        headers: auth,
      });
      expect(removed.status).toBe(204);
      expectNoStore(removed);
    });

    it('on admin responses carrying a secret or a setup link, and admin errors', async () => {
      const created = await admin(sut, adminToken, 'POST', '/admin/clients', {
        client_name: `nostore ${randomUUID()}`,
      });
      expect(created.status).toBe(201);
      expectNoStore(created);
      const user = await createUser(sut);
      const link = await admin(sut, adminToken, 'POST', `/admin/users/${user.id}/setup-link`);
      expect(link.status).toBe(200);
      expectNoStore(link);
      const denied = await fetch(`${sut.baseUrl}/admin/users`);
      expect(denied.status).toBe(401);
      expectNoStore(denied);
    });

    it('on the passkey ceremony options', async () => {
      const user = await createUser(sut);
      const setupToken = await setupTokenFor(sut, user.id);
      const ceremony = (path: string, body: unknown) =>
        fetch(`${sut.baseUrl}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const enrolling = await ceremony('/webauthn/register/options', { setup_token: setupToken });
      const signingIn = await ceremony('/webauthn/authenticate/options', {});

      expect([enrolling.status, signingIn.status]).toEqual([200, 200]);
      expectNoStore(enrolling);
      expectNoStore(signingIn);
    });
  });

  describe('cookies', () => {
    /** Enrolls and signs in; returns the Set-Cookie lines of the ceremony and of the sign-in. */
    async function signIn(app: TestApp): Promise<{ ceremony: string[]; session: string[] }> {
      const user = await createUser(app);
      const jar = new CookieJar();
      const authenticator = SoftAuthenticator.for(app);
      const enrolled = await register(app, jar, authenticator, await setupTokenFor(app, user.id));
      expect(enrolled.status).toBe(200);
      const options = await fetch(`${app.baseUrl}/webauthn/authenticate/options`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      jar.store(options);
      const signedIn = await authenticate(app, jar, authenticator);
      expect(signedIn.status).toBe(200);
      return {
        ceremony: options.headers.getSetCookie(),
        session: signedIn.headers.getSetCookie().filter((line) => line.includes('lk_session=')),
      };
    }

    it('are HttpOnly, SameSite and scoped, without Secure on an http issuer', async () => {
      const { ceremony, session } = await signIn(sut);

      expect(ceremony).toEqual([
        expect.stringMatching(
          /^lk_webauthn=[^;]+; Path=\/webauthn; Max-Age=\d+; HttpOnly; SameSite=Strict$/,
        ),
      ]);
      expect(session).toEqual([
        expect.stringMatching(
          /^lk_session=lk_sid_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/,
        ),
      ]);
    });

    it('are Secure, the session one with the __Host- prefix, on an https issuer', async () => {
      const { ceremony, session } = await signIn(secure);

      expect(ceremony).toEqual([
        expect.stringMatching(
          /^__Secure-lk_webauthn=[^;]+; Path=\/webauthn; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/,
        ),
      ]);
      expect(session).toEqual([
        expect.stringMatching(
          /^__Host-lk_session=lk_sid_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax; Secure$/,
        ),
      ]);
    });
  });

  describe('request bodies', () => {
    const tooLarge = () => 'x'.repeat(sut.config.http.bodyLimitBytes + 1);

    it('answers 413 in OAuth format on the protocol endpoints, declared or streamed', async () => {
      const declared = await postForm(`${sut.baseUrl}/oauth/token`, `padding=${tooLarge()}`);
      expect(declared.status).toBe(413);
      expect(await declared.json()).toEqual({
        error: 'invalid_request',
        error_description: 'request body is too large',
      });
      expectNoStore(declared);

      const chunked = await fetch(`${sut.baseUrl}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: streamed(sut.config.http.bodyLimitBytes + 10_000),
        duplex: 'half',
      });
      expect(chunked.status).toBe(413);
      expect(await chunked.json()).toEqual({
        error: 'invalid_request',
        error_description: 'request body is too large',
      });
    });

    it('answers 413 in admin format on the admin API and the passkey ceremonies', async () => {
      for (const path of ['/admin/clients', '/webauthn/authenticate/options']) {
        const response = await fetch(`${sut.baseUrl}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ padding: tooLarge() }),
        });
        expect(response.status).toBe(413);
        expect(await response.json()).toMatchObject({
          statusCode: 413,
          code: 'payload_too_large',
          message: 'request body is too large',
        });
        expectNoStore(response);
      }
    });

    it('answers 413 on the browser form posts', async () => {
      const response = await postForm(`${sut.baseUrl}/logout`, `csrf=${tooLarge()}`, {
        cookie: person.cookie,
      });
      expect(response.status).toBe(413);
    });

    it('gives up on a body that never arrives: 408 and the connection is closed', async () => {
      const protocol = await stalledBody(
        secure.baseUrl,
        '/oauth/token',
        'application/x-www-form-urlencoded',
      );
      expect(protocol.head).toMatch(/^HTTP\/1\.1 408 /);
      expect(protocol.head.toLowerCase()).toContain('connection: close');
      expect(JSON.parse(protocol.body)).toEqual({
        error: 'invalid_request',
        error_description: 'request body was not received in time',
      });

      const adminApi = await stalledBody(secure.baseUrl, '/admin/clients', 'application/json');
      expect(adminApi.head).toMatch(/^HTTP\/1\.1 408 /);
      expect(JSON.parse(adminApi.body)).toMatchObject({
        statusCode: 408,
        code: 'request_timeout',
      });
    });
  });

  describe('trust proxy', () => {
    const CHAIN = '198.51.100.9, 203.0.113.7';

    /** The `ip` the access log recorded for one request through `app`. */
    async function loggedIp(app: TestApp): Promise<unknown> {
      const requestId = randomUUID();
      const response = await fetch(`${app.baseUrl}/health/live`, {
        headers: { 'x-forwarded-for': CHAIN, 'x-request-id': requestId },
      });
      expect(response.status).toBe(200);
      const line = () =>
        logLines.find((entry) => entry.reqId === requestId && entry.msg === 'request');
      expect(await eventually(() => Promise.resolve(line() !== undefined))).toBe(true);
      return line()?.ip;
    }

    it('ignores X-Forwarded-For when off', async () => {
      expect(await loggedIp(sut)).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    });

    it('takes the address one hop back with a hop count of 1', async () => {
      expect(await loggedIp(secure)).toBe('203.0.113.7');
    });

    it('walks past every trusted proxy of a CIDR list', async () => {
      expect(await loggedIp(behindProxies)).toBe('198.51.100.9');
    });
  });
});
