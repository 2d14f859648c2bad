import fc from 'fast-check';
import {
  CONTENT_TYPES,
  encode,
  expectDatabaseUnchanged,
  expectNoLeak,
  expectOAuthError,
  failWith,
  forgedJwt,
  formBody,
  formPairs,
  fuzzOptions,
  fuzzString,
  fuzzTimeout,
  headerText,
  jwtMaterial,
  send,
  startFuzzApp,
  type FuzzApp,
  type Generated,
  type JwtMaterial,
  type Received,
} from '../utils/fuzz.js';
import { basicAuth, type TestClient } from '../utils/test-app.js';
import { REDIRECT_URI } from '../utils/user-grants.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const GRANT_TYPES = [
  'client_credentials',
  'authorization_code',
  'refresh_token',
  TOKEN_EXCHANGE,
  'password',
  'implicit',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
  'urn:ietf:params:oauth:grant-type:device_code',
];
const TOKEN_PARAMS = [
  'grant_type',
  'scope',
  'resource',
  'audience',
  'code',
  'redirect_uri',
  'code_verifier',
  'refresh_token',
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'client_id',
  'client_secret',
  'client_assertion',
  'client_assertion_type',
];
const TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:access_token',
  'urn:ietf:params:oauth:token-type:id_token',
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:refresh_token',
];

interface Auth {
  headers: Record<string, string>;
  pairs: [string, string][];
}

describe('fuzzed protocol requests', () => {
  let fuzz: FuzzApp;
  let baseUrl: string;
  let client: TestClient;
  let jwtClientId: string;
  let publicClientId: string;
  let material: JwtMaterial;
  let adminAudience: string;

  beforeAll(async () => {
    fuzz = await startFuzzApp();
    const { sut } = fuzz;
    baseUrl = sut.baseUrl;
    adminAudience = sut.config.audiences.admin;
    client = await sut.createClient({
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token', TOKEN_EXCHANGE],
      redirect_uris: [REDIRECT_URI],
      allowed_scopes: ['admin'],
      service_account_roles: ['admin'],
    });
    const jwtClient = await sut.createClient({
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: {
        keys: [
          {
            kty: 'EC',
            crv: 'P-256',
            x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
            y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
          },
        ],
      },
      grant_types: ['client_credentials'],
    });
    jwtClientId = jwtClient.client_id;
    const publicClient = await sut.createClient({
      client_type: 'public',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: [REDIRECT_URI],
    });
    publicClientId = publicClient.client_id;
    const genuine = await sut.adminToken();
    material = await jwtMaterial(
      { iss: baseUrl, aud: `${baseUrl}/oauth/token`, sub: client.client_id },
      [genuine],
    );
    material.forged.push(
      ...(
        await jwtMaterial({ iss: jwtClientId, aud: `${baseUrl}/oauth/token`, sub: jwtClientId }, [])
      ).forged,
    );
  });

  afterAll(async () => {
    await fuzz.close();
  });

  const value = () =>
    fc.oneof(
      { weight: 4, arbitrary: fuzzString() },
      { weight: 2, arbitrary: forgedJwt(material) },
      { weight: 1, arbitrary: fc.constantFrom(...GRANT_TYPES, ...TOKEN_TYPES, JWT_BEARER) },
      { weight: 1, arbitrary: fc.constantFrom('admin', 'openid', adminAudience, REDIRECT_URI) },
    );

  /** Every way a client can (fail to) authenticate. */
  const auth = (): fc.Arbitrary<Auth> =>
    fc.oneof(
      fc.constant<Auth>({ headers: {}, pairs: [] }),
      fc.constant<Auth>({ headers: { authorization: basicAuth(client) }, pairs: [] }),
      fuzzString({ huge: false }).map<Auth>((secret) => ({
        headers: {
          authorization: `Basic ${Buffer.from(`${client.client_id}:${encode(secret)}`).toString('base64')}`,
        },
        pairs: [],
      })),
      headerText().map<Auth>((header) => ({ headers: { authorization: header }, pairs: [] })),
      fuzzString({ huge: false }).map<Auth>((secret) => ({
        headers: {},
        pairs: [
          ['client_id', client.client_id],
          ['client_secret', secret],
        ],
      })),
      fc.constant<Auth>({
        headers: {},
        pairs: [
          ['client_id', client.client_id],
          ['client_secret', client.client_secret],
        ],
      }),
      fc
        .tuple(forgedJwt(material), fc.constantFrom(JWT_BEARER, 'urn:x', ''), fc.boolean())
        .map<Auth>(([assertion, type, withId]) => ({
          headers: {},
          pairs: [
            ['client_assertion', assertion],
            ['client_assertion_type', type],
            ...(withId ? ([['client_id', jwtClientId]] as [string, string][]) : []),
          ],
        })),
      fc.constant<Auth>({ headers: {}, pairs: [['client_id', publicClientId]] }),
    );

  interface FormCase {
    auth: Auth;
    pairs: [string, string][];
    raw: boolean;
    contentType: string;
  }

  const formCase = (names: readonly string[], extra: fc.Arbitrary<[string, string][]>) =>
    fc.record<FormCase>({
      auth: auth(),
      pairs: fc.tuple(extra, formPairs(names, value())).map(([first, rest]) => [...first, ...rest]),
      raw: fc.boolean(),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/x-www-form-urlencoded') },
        { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
      ),
    });

  function post(path: string, input: FormCase, method = 'POST'): Promise<Received> {
    const headers: Record<string, string> = { ...input.auth.headers };
    if (input.contentType !== '') headers['content-type'] = input.contentType;
    return send(baseUrl, {
      method,
      path,
      headers,
      body: formBody([...input.auth.pairs, ...input.pairs], input.raw),
    });
  }

  const grant = fc
    .oneof(fc.constantFrom(...GRANT_TYPES), fuzzString({ huge: false }))
    .map<[string, string][]>((type) => [['grant_type', type]]);

  it(
    'token: every grant type with random parameters answers a 4xx in OAuth format',
    async () => {
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(formCase(TOKEN_PARAMS, grant), async (input) => {
            const received = await post('/oauth/token', input);
            if (received.status === 200) {
              // Legitimate only for client_credentials with the real secret; then a real token.
              expectNoLeak(received);
              const body = received.json as Record<string, unknown>;
              if (
                typeof body.access_token !== 'string' ||
                body.token_type !== 'Bearer' ||
                typeof body.expires_in !== 'number' ||
                !/client_credentials/.test(received.request)
              )
                failWith(received, 'a 200 that is not a client_credentials token response');
              return;
            }
            expectOAuthError(received);
          }),
          fuzzOptions<[FormCase]>(4, [
            // The unknown grant type was quoted into error_description as is: NUL, unicode
            // and 80 KiB, outside the RFC 6749 §5.2 character set.
            ...['\u0000', 'gr\u00e4nt "x"', 'A'.repeat(80_000)].map((type): [FormCase] => [
              {
                auth: { headers: { authorization: basicAuth(client) }, pairs: [] },
                pairs: [['grant_type', type]],
                raw: false,
                contentType: 'application/x-www-form-urlencoded',
              },
            ]),
          ]),
        );
      });
    },
    fuzzTimeout(4),
  );

  it(
    'token: forged JWTs as client_assertion, subject_token and actor_token are refused',
    async () => {
      const exchange = fc
        .record({
          subject: forgedJwt(material),
          subjectType: fc.constantFrom(...TOKEN_TYPES),
          actor: fc.option(forgedJwt(material), { nil: undefined }),
          actorType: fc.constantFrom(...TOKEN_TYPES),
          resource: fc.constantFrom(adminAudience, baseUrl, 'https://elsewhere.example.com'),
        })
        .map<[string, string][]>((e) => [
          ['grant_type', TOKEN_EXCHANGE],
          ['subject_token', e.subject],
          ['subject_token_type', e.subjectType],
          ...(e.actor === undefined
            ? []
            : ([
                ['actor_token', e.actor],
                ['actor_token_type', e.actorType],
              ] as [string, string][])),
          ['resource', e.resource],
        ]);
      const assertion = fc
        .tuple(forgedJwt(material), fc.boolean())
        .map<[string, string][]>(([jwt, withId]) => [
          ['grant_type', 'client_credentials'],
          ['client_assertion_type', JWT_BEARER],
          ['client_assertion', jwt],
          ...(withId ? ([['client_id', jwtClientId]] as [string, string][]) : []),
        ]);
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              exchange.map((pairs) => ({ pairs, headers: { authorization: basicAuth(client) } })),
              assertion.map((pairs) => ({ pairs, headers: {} })),
            ),
            async ({ pairs, headers }) => {
              const received = await send(baseUrl, {
                method: 'POST',
                path: '/oauth/token',
                headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
                body: formBody(pairs, false),
              });
              expectOAuthError(received);
            },
          ),
          fuzzOptions(3),
        );
      });
    },
    fuzzTimeout(3),
  );

  it(
    'introspect and revoke: random forms and tokens never fail or change anything',
    async () => {
      const token = fc
        .oneof(forgedJwt(material), fuzzString(), fc.constantFrom('lk_rt_', 'lk_rt_x'))
        .map<[string, string][]>((t) => [['token', t]]);
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom('/oauth/introspect', '/oauth/revoke'),
            formCase(['token', 'token_type_hint', 'client_id', 'client_secret'], token),
            async (path, input) => {
              const received = await post(path, input);
              if (received.status === 200) {
                expectNoLeak(received);
                // RFC 7662 §2.2 inactive answer; RFC 7009 §2.2 empty 200 for unknown tokens.
                const ok =
                  path === '/oauth/introspect'
                    ? JSON.stringify(received.json) === '{"active":false}'
                    : received.text === '' || received.text === '{}';
                if (!ok) failWith(received, 'a 200 that is not an inactive/unknown answer');
                return;
              }
              expectOAuthError(received);
            },
          ),
          fuzzOptions(3),
        );
      });
    },
    fuzzTimeout(3),
  );

  it(
    'userinfo: bad bearer tokens (alg none, foreign keys, garbage) get an RFC 6750 challenge',
    async () => {
      const request = fc.record({
        method: fc.constantFrom('GET', 'POST'),
        header: fc.option(
          fc.oneof(
            headerText(),
            forgedJwt(material).map((jwt) => `Bearer ${jwt}`),
            forgedJwt(material).map((jwt) => `bearer  ${jwt}`),
          ),
          { nil: undefined },
        ),
        body: fc.option(
          fc.tuple(
            fc.constantFrom(...CONTENT_TYPES),
            formPairs(['access_token', 'scope'], fc.oneof(forgedJwt(material), fuzzString())),
            fc.boolean(),
          ),
          { nil: undefined },
        ),
        query: fc.option(forgedJwt(material), { nil: undefined }),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async (r) => {
            const headers: Record<string, string> = {};
            if (r.header !== undefined) headers.authorization = r.header;
            let body: string | undefined;
            if (r.method === 'POST' && r.body !== undefined) {
              if (r.body[0] !== '') headers['content-type'] = r.body[0];
              body = formBody(r.body[1], r.body[2]);
            }
            const query = r.query === undefined ? '' : `?access_token=${encode(r.query)}`;
            const received = await send(baseUrl, {
              method: r.method,
              path: `/oauth/userinfo${query}`,
              headers,
              body,
            });
            expectOAuthError(received, { bearer: 'resource' });
          }),
          fuzzOptions<[Generated<typeof request>]>(2, [
            // A malformed Authorization header was a 400 without the RFC 6750 §3 challenge.
            [{ method: 'GET', header: 'bearer  ', body: undefined, query: undefined }],
          ]),
        );
      });
    },
    fuzzTimeout(2),
  );

  it(
    'register: random metadata with a poisoned field is refused with RFC 7591 errors',
    async () => {
      const poison = fc.constantFrom<[string, unknown]>(
        ['redirect_uris', 'https://not-an-array.example.com'],
        ['redirect_uris', ['not a url']],
        ['redirect_uris', [42]],
        ['redirect_uris', ['http://evil.example.com/cb']],
        ['redirect_uris', ['https://app.example.com/cb#fragment']],
        ['grant_types', 'client_credentials'],
        ['grant_types', ['password']],
        ['grant_types', [null]],
        ['token_endpoint_auth_method', 'magic'],
        ['token_endpoint_auth_method', 7],
        ['response_types', ['token']],
        ['jwks', 'not a jwks'],
        ['jwks', { keys: 'nope' }],
        ['jwks_uri', 'ftp://127.0.0.1/keys'],
        ['client_name', { nested: true }],
        ['client_name', 'x'.repeat(70_000)],
        ['scope', 42],
        ['contacts', 'someone@example.com'],
        ['logo_uri', 'javascript:alert(1)'],
        ['software_statement', 'eyJhbGciOiJub25lIn0.e30.'],
        ['client_secret_expires_at', 'soon'],
        ['post_logout_redirect_uris', [{}]],
      );
      const metadata = fc
        .tuple(
          fc.dictionary(
            fc.oneof(
              fc.constantFrom(
                'client_name',
                'redirect_uris',
                'grant_types',
                'response_types',
                'token_endpoint_auth_method',
                'scope',
                'contacts',
                'jwks',
                'jwks_uri',
                'client_uri',
                'software_id',
                '__proto__',
                'constructor',
              ),
              fc.string({ maxLength: 12 }),
            ),
            fc.oneof(fc.jsonValue({ maxDepth: 2 }), fuzzString({ huge: false })),
            { maxKeys: 6 },
          ),
          poison,
        )
        .map(([random, [name, bad]]) => JSON.stringify({ ...random, [name]: bad }));
      const body = fc.oneof(
        { weight: 5, arbitrary: metadata },
        {
          weight: 1,
          arbitrary: fc.constantFrom('', 'null', '[]', '"x"', '{', '{"a":1}}', '{"a":"\\u0000"}'),
        },
      );
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            body,
            fc.oneof(
              { weight: 5, arbitrary: fc.constant('application/json') },
              { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
            ),
            fc.option(headerText(), { nil: undefined }),
            async (json, contentType, authorization) => {
              const headers: Record<string, string> = {};
              if (contentType !== '') headers['content-type'] = contentType;
              if (authorization !== undefined) headers.authorization = authorization;
              const received = await send(baseUrl, {
                method: 'POST',
                path: '/oauth/register',
                headers,
                body: json,
              });
              expectOAuthError(received);
            },
          ),
          fuzzOptions(3),
        );
      });
    },
    fuzzTimeout(3),
  );

  it(
    'register/:client_id: bad registration access tokens and ids never reach the client',
    async () => {
      const registered = await send(baseUrl, {
        method: 'POST',
        path: '/oauth/register',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: 'fuzz target', redirect_uris: [REDIRECT_URI] }),
      });
      expect(`${registered.status} ${registered.text}`).toMatch(/^201 /);
      const target = registered.json as { client_id: string; registration_access_token: string };
      const id = fc.oneof(
        { weight: 3, arbitrary: fc.constant(target.client_id) },
        { weight: 2, arbitrary: fuzzString({ huge: false }).map(encode) },
        { weight: 1, arbitrary: fc.constantFrom('', '%', '%zz', '..%2F..', 'a/b', '%00') },
      );
      const token = fc.oneof(
        headerText(),
        fuzzString({ huge: false }).map((t) => `Bearer ${t.replace(/[^\x20-\x7e]/g, '')}`),
        fc.constantFrom(
          `Bearer ${target.registration_access_token.slice(0, -3)}`,
          `Bearer ${target.registration_access_token}x`,
          `Bearer lk_rat_${'A'.repeat(43)}`,
          `bearer ${target.registration_access_token.toUpperCase()}`,
        ),
      );
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom('GET', 'PUT', 'DELETE', 'POST', 'PATCH'),
            id,
            fc.option(token, { nil: undefined }),
            fc.option(fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })), {
              nil: undefined,
            }),
            async (method, clientId, authorization, metadata) => {
              const headers: Record<string, string> = { 'content-type': 'application/json' };
              if (authorization !== undefined) headers.authorization = authorization;
              const received = await send(baseUrl, {
                method,
                path: `/oauth/register/${clientId}`,
                headers,
                body:
                  method === 'GET' || method === 'DELETE' || metadata === undefined
                    ? undefined
                    : JSON.stringify(metadata),
              });
              expectOAuthError(received, { bearer: true });
            },
          ),
          fuzzOptions(3),
        );
        // The real token with poisoned metadata: a 400, and the registration stays as it was.
        await fc.assert(
          fc.asyncProperty(
            fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 })),
            fc.constantFrom<[string, unknown]>(
              ['redirect_uris', 'nope'],
              ['grant_types', ['password']],
              ['token_endpoint_auth_method', 'magic'],
              ['client_id', 'someone-else'],
              ['jwks', 'x'],
              ['client_name', 12],
            ),
            async (random, [name, bad]) => {
              const received = await send(baseUrl, {
                method: 'PUT',
                path: `/oauth/register/${target.client_id}`,
                headers: {
                  'content-type': 'application/json',
                  authorization: `Bearer ${target.registration_access_token}`,
                },
                body: JSON.stringify({
                  ...random,
                  client_id: target.client_id,
                  redirect_uris: [REDIRECT_URI],
                  [name]: bad,
                }),
              });
              expectOAuthError(received, { bearer: true });
            },
          ),
          fuzzOptions(1),
        );
      });
    },
    fuzzTimeout(4),
  );

  it(
    'authorize, consent decision and logout: an error page, or a redirect only to a registered URI',
    async () => {
      const names = [
        'client_id',
        'redirect_uri',
        'response_type',
        'scope',
        'state',
        'nonce',
        'code_challenge',
        'code_challenge_method',
        'prompt',
        'max_age',
        'resource',
        'request',
        'request_uri',
        'response_mode',
        'csrf',
        'decision',
        'id_token_hint',
        'post_logout_redirect_uri',
      ];
      const param = fc.oneof(
        { weight: 3, arbitrary: fuzzString() },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            client.client_id,
            publicClientId,
            REDIRECT_URI,
            `${REDIRECT_URI}/x`,
            'https://evil.example.com/cb',
            'code',
            'openid',
            'S256',
            'plain',
            'none',
            'login',
            'allow',
          ),
        },
        { weight: 1, arbitrary: forgedJwt(material) },
      );
      const request = fc.record({
        target: fc.constantFrom(
          ['GET', '/oauth/authorize'],
          ['POST', '/oauth/authorize'],
          ['POST', '/oauth/authorize/decision'],
          ['GET', '/oauth/logout'],
          ['POST', '/oauth/logout'],
        ),
        pairs: formPairs(names, param, 10),
        raw: fc.boolean(),
        contentType: fc.oneof(
          { weight: 5, arbitrary: fc.constant('application/x-www-form-urlencoded') },
          { weight: 1, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        ),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ target: [method, path], pairs, raw, contentType }) => {
            const encoded = formBody(pairs, raw);
            const received =
              method === 'GET'
                ? await send(baseUrl, { method, path: `${path}?${encoded}` })
                : await send(baseUrl, {
                    method,
                    path,
                    headers: contentType === '' ? {} : { 'content-type': contentType },
                    body: encoded,
                  });
            expectNoLeak(received);
            if (received.status >= 300 && received.status < 400) {
              const location = new URL(received.headers.get('location') ?? '', baseUrl);
              const here = `${location.origin}${location.pathname}`;
              // To the sign-in page (no session), or to the client's own registered URI.
              if (here === `${baseUrl}/login` || here === REDIRECT_URI) return;
              failWith(received, `redirect to ${location.href}`);
            }
            // The logout endpoint legitimately shows its confirmation page.
            if (received.status === 200 && path === '/oauth/logout') return;
            if (received.status < 400 || received.status > 499)
              failWith(received, 'expected an error page or a redirect');
          }),
          fuzzOptions(3),
        );
      });
    },
    fuzzTimeout(3),
  );

  it(
    'discovery, JWKS, protected-resource metadata and health ignore junk query parameters',
    async () => {
      const paths = [
        '/.well-known/openid-configuration',
        '/.well-known/oauth-authorization-server',
        '/.well-known/jwks.json',
        '/.well-known/oauth-protected-resource',
        '/health/live',
      ];
      const clean = new Map<string, string>();
      for (const path of paths) {
        const received = await send(baseUrl, { method: 'GET', path });
        expect(received.status).toBe(200);
        clean.set(path, JSON.stringify(received.json));
      }
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...paths),
            formPairs(['callback', 'format', 'v', 'kid', 'resource'], fuzzString({ huge: false })),
            fc.boolean(),
            async (path, pairs, raw) => {
              const received = await send(baseUrl, {
                method: 'GET',
                path: `${path}?${formBody(pairs, raw)}`,
              });
              expectNoLeak(received);
              if (received.status !== 200) failWith(received, 'expected the document');
              if (JSON.stringify(received.json) !== clean.get(path))
                failWith(received, 'the document changed with junk parameters');
            },
          ),
          fuzzOptions(1),
        );
      });
    },
    fuzzTimeout(1),
  );

  it(
    'every protocol endpoint refuses wrong methods and odd bodies in OAuth format',
    async () => {
      const endpoints: [string, string[]][] = [
        ['/oauth/token', ['POST']],
        ['/oauth/introspect', ['POST']],
        ['/oauth/revoke', ['POST']],
        ['/oauth/userinfo', ['GET', 'POST']],
        ['/oauth/anonymous', ['POST']],
        ['/oauth/register', ['POST']],
        ['/.well-known/openid-configuration', ['GET']],
        ['/.well-known/jwks.json', ['GET']],
      ];
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...endpoints),
            fc.constantFrom('PUT', 'PATCH', 'DELETE', 'POST', 'GET'),
            fuzzString(),
            async ([path, allowed], method, body) => {
              if (allowed.includes(method)) return;
              const received = await send(baseUrl, {
                method,
                path,
                headers: { 'content-type': 'application/x-www-form-urlencoded' },
                body: method === 'GET' ? undefined : body,
              });
              expectOAuthError(received);
              expect(received.status).toBe(405);
            },
          ),
          fuzzOptions(1),
        );
      });
    },
    fuzzTimeout(1),
  );

  it(
    'anonymous sessions: any request body gets a session token or a 429, nothing else',
    async () => {
      const before = await fuzz.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM sessions WHERE user_id IS NULL',
      );
      let issued = 0;
      // Only anonymous sessions may appear: one row per token handed out.
      await expectDatabaseUnchanged(
        fuzz.db,
        async () => {
          await fc.assert(
            fc.asyncProperty(
              fc.constantFrom(...CONTENT_TYPES),
              fuzzString(),
              headerText(),
              async (contentType, body, authorization) => {
                const headers: Record<string, string> = { authorization };
                if (contentType !== '') headers['content-type'] = contentType;
                const received = await send(baseUrl, {
                  method: 'POST',
                  path: '/oauth/anonymous',
                  headers,
                  body,
                });
                if (received.status === 200) {
                  expectNoLeak(received);
                  const token = received.json as Record<string, unknown>;
                  if (typeof token.access_token !== 'string' || token.token_type !== 'Bearer')
                    failWith(received, 'not an anonymous token response');
                  issued++;
                  return;
                }
                expectOAuthError(received);
                expect(received.status).toBe(429);
              },
            ),
            fuzzOptions(0.5),
          );
        },
        ['sessions'],
      );
      const after = await fuzz.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM sessions WHERE user_id IS NULL',
      );
      expect(after[0].n - before[0].n).toBe(issued);
    },
    fuzzTimeout(1),
  );
});
