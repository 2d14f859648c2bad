import { createHmac, createPublicKey, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { DocumentServer } from '../utils/document-server.js';
import { postForm, startTestApp, type TestApp } from '../utils/test-app.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const INVALID_CLIENT = {
  error: 'invalid_client',
  error_description: 'client authentication failed',
};
const REDIRECT_URI = 'https://app.example.com/callback';

interface KeyPair {
  privateKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
}

async function keyPair(alg = 'ES256'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg }, kid };
}

interface AssertionOptions {
  key: KeyPair;
  alg?: string;
  kid?: string;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  /** Seconds from now. */
  exp?: number | null;
  iat?: number | null;
  jti?: string | null;
}

describe('private_key_jwt client authentication (RFC 7523)', () => {
  const docs = new DocumentServer();
  let sut: TestApp;

  beforeAll(async () => {
    await docs.start();
    sut = await startTestApp({
      FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port}`,
      FETCH_RATE_PER_SECOND: '1000',
      FETCH_HOST_RATE_PER_SECOND: '1000',
    });
  });

  afterAll(async () => {
    await sut.close();
    await docs.stop();
  });

  async function assertion(clientId: string, o: AssertionOptions): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {};
    if (o.jti !== null) claims.jti = o.jti ?? randomUUID();
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: o.alg ?? o.key.publicJwk.alg ?? 'ES256', kid: o.kid ?? o.key.kid })
      .setIssuer(o.iss ?? clientId)
      .setSubject(o.sub ?? clientId)
      .setAudience(o.aud ?? sut.baseUrl);
    if (o.iat !== null) jwt.setIssuedAt(now + (o.iat ?? 0));
    if (o.exp !== null) jwt.setExpirationTime(now + (o.exp ?? 60));
    return jwt.sign(o.key.privateKey);
  }

  function token(params: Record<string, string>, path = '/oauth/token'): Promise<Response> {
    return postForm(`${sut.baseUrl}${path}`, params);
  }

  function clientCredentials(clientId: string, jwt: string, extra: Record<string, string> = {}) {
    return token({
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: jwt,
      ...extra,
    });
  }

  async function expectInvalidClient(response: Response): Promise<void> {
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 401,
      body: INVALID_CLIENT,
    });
  }

  async function adminClient(keys: { jwks?: JWK[]; jwksUri?: string }): Promise<string> {
    const created = await sut.createClient({
      token_endpoint_auth_method: 'private_key_jwt',
      allowed_scopes: ['reports:read'],
      ...(keys.jwks ? { jwks: { keys: keys.jwks } } : {}),
      ...(keys.jwksUri ? { jwks_uri: keys.jwksUri } : {}),
    });
    expect(created.client_secret).toBe('');
    return created.client_id;
  }

  describe('an admin-created client with inline jwks', () => {
    let key: KeyPair;
    let clientId: string;

    beforeAll(async () => {
      key = await keyPair();
      clientId = await adminClient({ jwks: [key.publicJwk] });
    });

    it('gets a client_credentials token, with aud the issuer or the token endpoint', async () => {
      for (const aud of [sut.baseUrl, `${sut.baseUrl}/oauth/token`, ['x', sut.baseUrl]]) {
        const response = await clientCredentials(clientId, await assertion(clientId, { key, aud }));
        const body = (await response.json()) as Record<string, unknown>;
        expect({ status: response.status, client: typeof body.access_token }).toEqual({
          status: 200,
          client: 'string',
        });
      }
    });

    it('accepts a matching client_id parameter and introspects', async () => {
      const response = await token(
        {
          token: 'not-a-token',
          client_id: clientId,
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await assertion(clientId, { key }),
        },
        '/oauth/introspect',
      );
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 200,
        body: { active: false },
      });
    });

    it('refuses a replayed jti', async () => {
      const jwt = await assertion(clientId, { key });
      expect((await clientCredentials(clientId, jwt)).status).toBe(200);
      await expectInvalidClient(await clientCredentials(clientId, jwt));
      const rows = await sut.dataSource.query<{ n: string }[]>(
        `SELECT count(*) AS n FROM client_assertion_jtis WHERE client_id = $1`,
        [clientId],
      );
      expect(Number(rows[0].n)).toBeGreaterThan(0);
    });

    it.each<[string, (id: string, key: KeyPair) => Promise<string>]>([
      ['expired', (id, k) => assertion(id, { key: k, iat: -600, exp: -300 })],
      ['a lifetime over 300 s', (id, k) => assertion(id, { key: k, exp: 600 })],
      [
        'a lifetime over 300 s without iat',
        (id, k) => assertion(id, { key: k, iat: null, exp: 600 }),
      ],
      ['no exp', (id, k) => assertion(id, { key: k, exp: null })],
      ['no jti', (id, k) => assertion(id, { key: k, jti: null })],
      ['iat in the future', (id, k) => assertion(id, { key: k, iat: 120, exp: 200 })],
      ['a wrong aud', (id, k) => assertion(id, { key: k, aud: 'https://elsewhere.example.com' })],
      [
        'the introspection endpoint as aud',
        (id, k) => assertion(id, { key: k, aud: `${sut.baseUrl}/oauth/introspect` }),
      ],
      ['a sub other than iss', (id, k) => assertion(id, { key: k, sub: randomUUID() })],
      ['an unknown kid', (id, k) => assertion(id, { key: k, kid: 'unknown-kid' })],
      [
        'a signature by another key with the same kid',
        async (id, k) => assertion(id, { key: { ...(await keyPair()), kid: k.kid } }),
      ],
      [
        'alg none',
        (id) => {
          const encode = (value: object) =>
            Buffer.from(JSON.stringify(value)).toString('base64url');
          const now = Math.floor(Date.now() / 1000);
          const payload = {
            iss: id,
            sub: id,
            aud: sut.baseUrl,
            exp: now + 60,
            iat: now,
            jti: randomUUID(),
          };
          return Promise.resolve(`${encode({ alg: 'none' })}.${encode(payload)}.`);
        },
      ],
      [
        'HS256 keyed with the public key',
        (id, k) => {
          const encode = (value: object) =>
            Buffer.from(JSON.stringify(value)).toString('base64url');
          const now = Math.floor(Date.now() / 1000);
          const header = encode({ alg: 'HS256', kid: k.kid });
          const payload = encode({
            iss: id,
            sub: id,
            aud: sut.baseUrl,
            exp: now + 60,
            iat: now,
            jti: randomUUID(),
          });
          const pem = createPublicKey({ key: k.publicJwk as never, format: 'jwk' })
            .export({ type: 'spki', format: 'pem' })
            .toString();
          const mac = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
          return Promise.resolve(`${header}.${payload}.${mac}`);
        },
      ],
      ['not a JWT', () => Promise.resolve('not-a-jwt')],
    ])('refuses an assertion with %s', async (_case, make) => {
      await expectInvalidClient(await clientCredentials(clientId, await make(clientId, key)));
    });

    it('refuses an assertion whose iss names another client', async () => {
      const other = await adminClient({ jwks: [(await keyPair()).publicJwk] });
      await expectInvalidClient(
        await clientCredentials(
          clientId,
          await assertion(clientId, { key, iss: other, sub: other }),
        ),
      );
    });

    it('refuses a client_id parameter that differs from iss', async () => {
      await expectInvalidClient(
        await clientCredentials(clientId, await assertion(clientId, { key }), {
          client_id: randomUUID(),
        }),
      );
    });

    it('refuses a wrong client_assertion_type', async () => {
      await expectInvalidClient(
        await token({
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer',
          client_assertion: await assertion(clientId, { key }),
        }),
      );
    });

    it('refuses an assertion together with a client secret', async () => {
      const response = await clientCredentials(clientId, await assertion(clientId, { key }), {
        client_secret: 'x',
      });
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 400,
        body: {
          error: 'invalid_request',
          error_description: 'use only one client authentication method',
        },
      });
    });

    it('refuses a client secret for a private_key_jwt client', async () => {
      await expectInvalidClient(
        await token({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: 'lk_cs_x',
        }),
      );
    });
  });

  describe('an admin-created client with jwks_uri', () => {
    it('fetches the keys, caches them, and looks again once for a new kid', async () => {
      const first = await keyPair('EdDSA');
      const path = `/jwks/${randomUUID()}`;
      docs.serve(path, { body: { keys: [first.publicJwk] } });
      const clientId = await adminClient({ jwksUri: docs.url(path) });

      const ok = await clientCredentials(clientId, await assertion(clientId, { key: first }));
      expect(ok.status).toBe(200);
      expect(
        (await clientCredentials(clientId, await assertion(clientId, { key: first }))).status,
      ).toBe(200);
      expect(docs.requests(path)).toBe(1);

      // Rotation: the client publishes a new key and signs with it.
      const second = await keyPair('PS256');
      docs.serve(path, { body: { keys: [first.publicJwk, second.publicJwk] } });
      const rotated = await clientCredentials(clientId, await assertion(clientId, { key: second }));
      expect(rotated.status).toBe(200);
      expect(docs.requests(path)).toBe(2);

      // Another unknown kid right after: no further fetch (rate-limited), refused.
      const stranger = await keyPair();
      await expectInvalidClient(
        await clientCredentials(clientId, await assertion(clientId, { key: stranger })),
      );
      expect(docs.requests(path)).toBe(2);
    });

    it('refuses when the jwks_uri does not answer a key set', async () => {
      const key = await keyPair();
      const path = `/jwks/${randomUUID()}`;
      docs.serve(path, { status: 500, body: {} });
      const clientId = await adminClient({ jwksUri: docs.url(path) });
      await expectInvalidClient(
        await clientCredentials(clientId, await assertion(clientId, { key })),
      );
    });
  });

  describe('a metadata-document client', () => {
    function documentClient(keys: { jwks?: JWK[]; jwksUri?: string }): string {
      const path = `/clients/${randomUUID()}`;
      const clientId = docs.url(path);
      docs.serve(path, {
        body: {
          client_id: clientId,
          client_name: 'Keyed agent',
          redirect_uris: [REDIRECT_URI],
          token_endpoint_auth_method: 'private_key_jwt',
          ...(keys.jwks ? { jwks: { keys: keys.jwks } } : {}),
          ...(keys.jwksUri ? { jwks_uri: keys.jwksUri } : {}),
        },
      });
      return clientId;
    }

    it.each(['jwks', 'jwks_uri'])('authenticates with keys from %s', async (form) => {
      const key = await keyPair('RS256');
      const jwksPath = `/jwks/${randomUUID()}`;
      docs.serve(jwksPath, { body: { keys: [key.publicJwk] } });
      const clientId = documentClient(
        form === 'jwks' ? { jwks: [key.publicJwk] } : { jwksUri: docs.url(jwksPath) },
      );

      const introspected = await token(
        {
          token: 'not-a-token',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await assertion(clientId, { key }),
        },
        '/oauth/introspect',
      );
      expect({ status: introspected.status, body: await introspected.json() }).toEqual({
        status: 200,
        body: { active: false },
      });
      // At the token endpoint the client authenticates; the made-up code is then refused.
      const redeemed = await token({
        grant_type: 'authorization_code',
        code: 'lk_ac_unknown',
        redirect_uri: REDIRECT_URI,
        code_verifier: 'v'.repeat(43),
        client_id: clientId,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await assertion(clientId, { key, aud: `${sut.baseUrl}/oauth/token` }),
      });
      expect({
        status: redeemed.status,
        error: ((await redeemed.json()) as { error: string }).error,
      }).toEqual({
        status: 400,
        error: 'invalid_grant',
      });
      const rows = await sut.dataSource.query<{ type: string; source: string }[]>(
        `SELECT type, source, token_endpoint_auth_method AS method FROM clients WHERE id = $1`,
        [clientId],
      );
      expect(rows).toEqual([{ type: 'confidential', source: 'cimd', method: 'private_key_jwt' }]);
    });

    it('refuses an assertion signed by a key the document does not list', async () => {
      const key = await keyPair();
      const clientId = documentClient({ jwks: [key.publicJwk] });
      const stranger = await keyPair();
      await expectInvalidClient(
        await token(
          {
            token: 'x',
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: await assertion(clientId, { key: stranger }),
          },
          '/oauth/introspect',
        ),
      );
    });
  });
});
