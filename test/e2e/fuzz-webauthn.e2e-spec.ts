import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import fc from 'fast-check';
import {
  CookieJar,
  SoftAuthenticator,
  authenticationOptions,
  createUser,
  enrollAndSignIn,
  postJson,
  register,
  registrationOptions,
  setupTokenFor,
} from '../utils/soft-authenticator.js';
import {
  encode,
  expectAdminError,
  expectDatabaseUnchanged,
  expectNoLeak,
  expectPageRejection,
  failWith,
  formBody,
  formPairs,
  fuzzOptions,
  fuzzString,
  fuzzTimeout,
  jsonValue,
  send,
  startFuzzApp,
  type FuzzApp,
  type Received,
} from '../utils/fuzz.js';

/**
 * Each options call stores one challenge row and each verify call consumes it, accepted or not
 * (single use by design, so a failed attempt cannot be retried against the same challenge).
 */
const CEREMONY_TABLES = ['webauthn_challenges'];

type Json = Record<string, unknown>;

/** One change to a credential's JSON: a member replaced (or, with `undefined`, removed). */
interface Mutation {
  path: string[];
  value: unknown;
}

const WRONG_TYPES: unknown[] = [42, true, null, [], {}, ['x'], { a: 1 }, -1.5];

function apply(credential: Json, mutation: Mutation): Json {
  const copy = structuredClone(credential);
  let target: Json = copy;
  for (const key of mutation.path.slice(0, -1)) target = target[key] as Json;
  const last = mutation.path[mutation.path.length - 1];
  if (mutation.value === undefined) delete target[last];
  else target[last] = mutation.value;
  return copy;
}

/** Base64url text broken in the ways a truncated or tampered payload is. */
function brokenBase64url(original: string): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.nat(Math.max(0, original.length - 4)).map((at) => original.slice(0, at)),
    fc.base64String({ minLength: 1, maxLength: 200 }).map((b) => b.replace(/=+$/, '')),
    fc.constantFrom('', '!!!!', '====', 'A', '%00', 'a b', '\u00e9\u00e9'),
    fc.constantFrom(...WRONG_TYPES),
    fc.constant(undefined),
    fc.integer({ min: 2000, max: 60_000 }).map((n) => 'A'.repeat(n)),
  );
}

/** Client data whose JSON is wrong in one place (RFC 8259 text, WebAuthn §5.8.1 members). */
function brokenClientData(original: string): fc.Arbitrary<unknown> {
  const decoded = JSON.parse(Buffer.from(original, 'base64url').toString('utf8')) as Json;
  const encodeJson = (value: unknown) =>
    Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  return fc.oneof(
    fc
      .tuple(fc.constantFrom('type', 'challenge', 'origin', 'crossOrigin'), jsonValue())
      .filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(decoded[name]))
      .filter(
        ([name, value]) => !(name === 'crossOrigin' && (value === false || value === undefined)),
      )
      .map(([name, value]) => encodeJson({ ...decoded, [name]: value })),
    fc
      .constantFrom('type', 'challenge', 'origin')
      .map((name) => encodeJson({ ...decoded, [name]: undefined })),
    fc.nat(40).map((cut) => encodeJson(JSON.stringify(decoded).slice(0, cut))),
    fc.constantFrom(encodeJson('null'), encodeJson('[]'), encodeJson('"x"'), encodeJson('{')),
    brokenBase64url(original),
  );
}

/** Authenticator data cut short or with the user-verified and user-present flags cleared. */
function brokenAuthData(original: string): fc.Arbitrary<unknown> {
  const bytes = Buffer.from(original, 'base64url');
  return fc.oneof(
    fc
      .nat(Math.max(0, bytes.length - 1))
      .map((cut) => bytes.subarray(0, cut).toString('base64url')),
    fc.constantFrom(0x00, 0x01, 0x04, 0xff).map((flags) => {
      const copy = Buffer.from(bytes);
      copy[32] = flags === 0xff ? copy[32] ^ 0x05 : flags;
      return copy.toString('base64url');
    }),
    fc.nat(31).map((at) => {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x01; // rpIdHash
      return copy.toString('base64url');
    }),
    brokenBase64url(original),
  );
}

function registrationMutation(credential: RegistrationResponseJSON): fc.Arbitrary<Mutation> {
  const at = (path: string[]) => (value: unknown) => ({ path, value });
  return fc.oneof(
    fc
      .oneof(fuzzString({ huge: false }), fc.constantFrom(...WRONG_TYPES, undefined))
      .map(at(['id'])),
    fc
      .oneof(fuzzString({ huge: false }), fc.constantFrom(...WRONG_TYPES, undefined))
      .map(at(['rawId'])),
    fc
      .oneof(fuzzString({ huge: false }), fc.constantFrom(...WRONG_TYPES, undefined))
      .filter((v) => v !== 'public-key')
      .map(at(['type'])),
    fc.constantFrom('usb', 'PLATFORM', '', 42, [], {}).map(at(['authenticatorAttachment'])),
    fc.constantFrom('x', 42, [], null, true, undefined).map(at(['clientExtensionResults'])),
    fc.constantFrom('x', 42, [], null, {}, undefined).map(at(['response'])),
    brokenClientData(credential.response.clientDataJSON).map(at(['response', 'clientDataJSON'])),
    brokenBase64url(credential.response.attestationObject).map(
      at(['response', 'attestationObject']),
    ),
    // Not an array of strings: a browser never sends these.
    fc
      .constantFrom('usb', 42, { usb: true }, true, [1, 2], [null], [['usb']])
      .map(at(['response', 'transports'])),
  );
}

function authenticationMutation(credential: AuthenticationResponseJSON): fc.Arbitrary<Mutation> {
  const at = (path: string[]) => (value: unknown) => ({ path, value });
  return fc.oneof(
    fc
      .oneof(fuzzString({ huge: false }), fc.constantFrom(...WRONG_TYPES, undefined))
      .map(at(['id'])),
    fc
      .oneof(fuzzString({ huge: false }), fc.constantFrom(...WRONG_TYPES, undefined))
      .filter((v) => v !== 'public-key')
      .map(at(['type'])),
    fc.constantFrom('x', 42, [], null, {}, undefined).map(at(['response'])),
    fc.constantFrom('x', 42, [], null, true, undefined).map(at(['clientExtensionResults'])),
    brokenClientData(credential.response.clientDataJSON).map(at(['response', 'clientDataJSON'])),
    brokenAuthData(credential.response.authenticatorData).map(
      at(['response', 'authenticatorData']),
    ),
    brokenBase64url(credential.response.signature).map(at(['response', 'signature'])),
    fc
      .oneof(
        fc.uuid().map((id) => Buffer.from(id).toString('base64url')),
        fc.constantFrom(42, null, [], {}, 'not-base64url!'),
      )
      .map(at(['response', 'userHandle'])),
  );
}

describe('fuzzed passkey ceremonies and pages', () => {
  let fuzz: FuzzApp;
  let baseUrl: string;

  beforeAll(async () => {
    fuzz = await startFuzzApp();
    baseUrl = fuzz.sut.baseUrl;
  });

  afterAll(async () => {
    await fuzz.close();
  });

  function expectRejected(received: Received): void {
    expectAdminError(received);
    if (
      received.headers.getSetCookie().some((cookie) => /lk_sid|session/i.test(cookie.split('=')[0]))
    )
      failWith(received, 'a rejected ceremony set a session cookie');
  }

  it(
    'register/verify: truncated, garbage and wrong-type fields of a real credential are refused',
    async () => {
      const user = await createUser(fuzz.sut);
      const setupToken = await setupTokenFor(fuzz.sut, user.id);
      const authenticator = SoftAuthenticator.for(fuzz.sut);
      const sample = authenticator.createCredential(
        await registrationOptions(fuzz.sut, new CookieJar(), setupToken),
      );
      const property = fc.asyncProperty(registrationMutation(sample), async (mutation) => {
        const jar = new CookieJar();
        const options = await registrationOptions(fuzz.sut, jar, setupToken);
        const credential = apply(
          authenticator.createCredential(options) as unknown as Json,
          mutation,
        );
        const response = await postJson(fuzz.sut, '/webauthn/register/verify', credential, jar);
        expectRejected(await toReceived(response, mutation));
      });
      await expectDatabaseUnchanged(
        fuzz.db,
        async () => {
          await fc.assert(
            property,
            fuzzOptions<[Mutation]>(1.5, [
              // A string where the array of transports belongs: once a 500 after the setup
              // link was already spent.
              [{ path: ['response', 'transports'], value: 'usb' }],
              [{ path: ['response', 'transports'], value: [1, 2] }],
            ]),
          );
        },
        CEREMONY_TABLES,
      );
      // The setup link was never spent: it still enrolls.
      const enrolled = await register(fuzz.sut, new CookieJar(), authenticator, setupToken);
      expect(enrolled.status).toBe(200);
    },
    fuzzTimeout(3),
  );

  it('register/verify: an attestation cut inside the public key does not enroll a broken passkey', async () => {
    // "none" attestation signs nothing, so a key cut short still verified: the setup link was
    // spent and a passkey that can never sign in was stored.
    const user = await createUser(fuzz.sut);
    const setupToken = await setupTokenFor(fuzz.sut, user.id);
    const authenticator = SoftAuthenticator.for(fuzz.sut);
    await expectDatabaseUnchanged(
      fuzz.db,
      async () => {
        for (const cut of [2, 5, 10, 20, 40]) {
          const jar = new CookieJar();
          const credential = authenticator.createCredential(
            await registrationOptions(fuzz.sut, jar, setupToken),
          );
          const attestation = credential.response.attestationObject;
          const mutation = {
            path: ['response', 'attestationObject'],
            value: attestation.slice(0, -cut),
          };
          const response = await postJson(
            fuzz.sut,
            '/webauthn/register/verify',
            apply(credential as unknown as Json, mutation),
            jar,
          );
          expectRejected(await toReceived(response, mutation));
        }
      },
      CEREMONY_TABLES,
    );
  });

  it(
    'authenticate/verify: tampered assertions never sign anyone in',
    async () => {
      const signedUp = await createUser(fuzz.sut);
      const authenticator = SoftAuthenticator.for(fuzz.sut);
      const enrolled = await register(
        fuzz.sut,
        new CookieJar(),
        authenticator,
        await setupTokenFor(fuzz.sut, signedUp.id),
      );
      expect(enrolled.status).toBe(200);
      const sample = authenticator.getAssertion(
        await authenticationOptions(fuzz.sut, new CookieJar()),
      );
      const property = fc.asyncProperty(
        authenticationMutation(sample),
        fc.constantFrom(
          '',
          '?return_to=%2Foauth%2Fauthorize',
          `?return_to=${encode('https://evil.example.com')}`,
        ),
        async (mutation, query) => {
          const jar = new CookieJar();
          const options = await authenticationOptions(fuzz.sut, jar);
          const assertion = apply(authenticator.getAssertion(options) as unknown as Json, mutation);
          const response = await postJson(
            fuzz.sut,
            `/webauthn/authenticate/verify${query}`,
            assertion,
            jar,
          );
          expectRejected(await toReceived(response, mutation));
        },
      );
      await expectDatabaseUnchanged(
        fuzz.db,
        async () => {
          await fc.assert(
            property,
            fuzzOptions<[Mutation, string]>(1.5, [
              // The library's TypeError text reached the client as the error message.
              [{ path: ['response', 'signature'], value: undefined }, ''],
              [{ path: ['response', 'authenticatorData'], value: 42 }, ''],
            ]),
          );
        },
        CEREMONY_TABLES,
      );
    },
    fuzzTimeout(3),
  );

  it(
    'ceremony endpoints: random JSON, random cookies and wrong content types get a 4xx',
    async () => {
      const request = fc.record({
        path: fc.constantFrom(
          '/webauthn/register/options',
          '/webauthn/register/verify',
          '/webauthn/authenticate/verify',
        ),
        body: fc.oneof(
          fc
            .dictionary(
              fc.oneof(
                fc.constantFrom(
                  'setup_token',
                  'id',
                  'rawId',
                  'type',
                  'response',
                  'clientExtensionResults',
                ),
                fc.string({ maxLength: 8 }),
              ),
              jsonValue(),
              { maxKeys: 6 },
            )
            .map((value) => JSON.stringify(value)),
          fc.constantFrom('{', 'null', '[]', '"x"', '{"setup_token":"\\u0000"}'),
          fuzzString(),
        ),
        contentType: fc.constantFrom(
          'application/json',
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
        ),
        cookie: fc.option(
          fc.string({ maxLength: 40 }).map((value) => `lk_webauthn=${encode(value)}`),
          { nil: undefined },
        ),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ path, body, contentType, cookie }) => {
            const received = await send(baseUrl, {
              method: 'POST',
              path,
              headers: { 'content-type': contentType, ...(cookie ? { cookie } : {}) },
              body,
            });
            expectRejected(received);
          }),
          fuzzOptions(2),
        );
      });
    },
    fuzzTimeout(2),
  );

  it(
    'pages and their forms: random input gets an error page or a same-origin redirect',
    async () => {
      const signedIn = await enrollAndSignIn(fuzz.sut);
      const passkeyId = signedIn.authenticator.id;
      const request = fc.record({
        target: fc.constantFrom(
          ['GET', '/login'],
          ['GET', '/setup/:token'],
          ['GET', '/account'],
          ['POST', '/account/passkeys/:id/rename'],
          ['POST', '/account/passkeys/:id/delete'],
          ['POST', '/logout'],
        ),
        id: fc.oneof(
          fc.constant(passkeyId),
          fuzzString({ huge: false })
            .filter((s) => s !== '')
            .map(encode),
        ),
        pairs: formPairs(
          ['csrf', 'name', 'return_to', 'signed_out', 'enrolled', 'done'],
          fuzzString(),
        ),
        raw: fc.boolean(),
        contentType: fc.constantFrom(
          'application/x-www-form-urlencoded',
          'application/x-www-form-urlencoded',
          'application/json',
          'text/plain',
        ),
        withSession: fc.boolean(),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(
            request,
            async ({ target: [method, template], id, pairs, raw, contentType, withSession }) => {
              const path = template.replace(':token', id).replace(':id', id);
              const encoded = formBody(pairs, raw);
              const headers: Record<string, string> = withSession
                ? { cookie: signedIn.cookie }
                : {};
              const received =
                method === 'GET'
                  ? await send(baseUrl, { method, path: `${path}?${encoded}`, headers })
                  : await send(baseUrl, {
                      method,
                      path,
                      headers: { ...headers, 'content-type': contentType },
                      body: encoded,
                    });
              expectNoLeak(received);
              // The sign-in and account pages render for any harmless query.
              if (received.status === 200 && method === 'GET' && template !== '/setup/:token')
                return;
              expectPageRejection(received, baseUrl);
            },
          ),
          fuzzOptions(3),
        );
      });
    },
    fuzzTimeout(3),
  );
});

async function toReceived(response: Response, mutation: Mutation): Promise<Received> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const value = JSON.stringify(mutation.value) ?? 'undefined';
  return {
    request: `${response.url} with ${mutation.path.join('.')} = ${value.slice(0, 200)}`,
    status: response.status,
    headers: response.headers,
    text,
    json,
  };
}
