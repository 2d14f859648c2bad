import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import {
  TrustedIssuerRejected,
  TrustedIssuersService,
  type TrustedIssuerRejectionReason,
} from '../../src/trusted-issuers/trusted-issuers.service.js';
import { DocumentServer } from '../utils/document-server.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { createUser } from '../utils/user-grants.js';

interface TrustedIssuerBody {
  id: string;
  issuer: string;
  jwks_uri: string | null;
  jwks: { keys: JWK[] } | null;
  algorithms: string[];
  subject_mapping: string;
  allowed_client_ids: string[];
  audience: string | null;
  created_at: string;
  updated_at: string;
}

interface Signer {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

const CLIENT_ID = 'exchanger';

async function signer(kid: string = randomUUID()): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' } };
}

/** Trusted issuers: the admin API and verification of their tokens. */
describe('trusted issuers', () => {
  const docs = new DocumentServer();
  let sut: TestApp;
  let adminToken: string;
  let service: TrustedIssuersService;

  beforeAll(async () => {
    await docs.start();
    sut = await startTestApp({ FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port}` });
    adminToken = await sut.adminToken();
    service = sut.app.get(TrustedIssuersService);
  });

  afterAll(async () => {
    await sut.close();
    await docs.stop();
  });

  function api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${sut.baseUrl}/admin/trusted-issuers${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function uniqueIssuer(): string {
    return `https://idp-${randomUUID()}.example.com`;
  }

  async function register(body: Record<string, unknown>): Promise<TrustedIssuerBody> {
    const response = await api('POST', '', {
      issuer: uniqueIssuer(),
      algorithms: ['ES256'],
      subject_mapping: 'external',
      allowed_client_ids: [CLIENT_ID],
      ...body,
    });
    expect(response.status).toBe(201);
    return (await response.json()) as TrustedIssuerBody;
  }

  async function expectAdminError(
    response: Response,
    statusCode: number,
    code: string,
    message: string,
  ): Promise<void> {
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: statusCode,
      body: { statusCode, code, message },
    });
  }

  function sign(
    key: Signer,
    issuer: string,
    claims: JWTPayload = {},
    options: { aud?: string; exp?: number | string; kid?: string } = {},
  ): Promise<string> {
    return new SignJWT({ scope: 'read write', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? key.publicJwk.kid })
      .setIssuer(issuer)
      .setSubject(typeof claims.sub === 'string' ? claims.sub : 'ext-subject')
      .setAudience(options.aud ?? sut.config.issuer)
      .setIssuedAt()
      .setExpirationTime(options.exp ?? '5m')
      .sign(key.privateKey);
  }

  async function expectRejected(
    promise: Promise<unknown>,
    reason: TrustedIssuerRejectionReason,
  ): Promise<void> {
    const err = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TrustedIssuerRejected);
    expect((err as TrustedIssuerRejected).reason).toBe(reason);
  }

  describe('admin API', () => {
    it('creates, gets, lists, updates and deletes a trusted issuer', async () => {
      const key = await signer();
      const issuer = uniqueIssuer();
      const created = await register({ issuer, jwks: { keys: [key.publicJwk] } });
      expect(created).toEqual({
        id: expect.any(String) as unknown,
        issuer,
        jwks_uri: null,
        jwks: { keys: [key.publicJwk] },
        algorithms: ['ES256'],
        subject_mapping: 'external',
        allowed_client_ids: [CLIENT_ID],
        audience: null,
        created_at: expect.any(String) as unknown,
        updated_at: expect.any(String) as unknown,
      });

      const got = await api('GET', `/${created.id}`);
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual(created);

      const listed = await api('GET', '?limit=200');
      expect(listed.status).toBe(200);
      const page = (await listed.json()) as { data: TrustedIssuerBody[] };
      expect(page.data.map((row) => row.id)).toContain(created.id);

      const patched = await api('PATCH', `/${created.id}`, {
        jwks_uri: 'https://idp.example.com/jwks.json',
        algorithms: ['ES256', 'RS256'],
        subject_mapping: 'sub_link',
        audience: 'https://api.example.com',
      });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({
        id: created.id,
        issuer,
        jwks_uri: 'https://idp.example.com/jwks.json',
        jwks: null,
        algorithms: ['ES256', 'RS256'],
        subject_mapping: 'sub_link',
        audience: 'https://api.example.com',
      });

      expect((await api('DELETE', `/${created.id}`)).status).toBe(204);
      await expectAdminError(
        await api('GET', `/${created.id}`),
        404,
        'trusted_issuer_not_found',
        'trusted issuer not found',
      );
      await expectAdminError(
        await api('GET', '?cursor=bogus'),
        400,
        'invalid_trusted_issuer_cursor',
        'cursor is not valid',
      );
    });

    it('refuses a second registration of the same issuer', async () => {
      const key = await signer();
      const first = await register({ jwks: { keys: [key.publicJwk] } });
      await expectAdminError(
        await api('POST', '', {
          issuer: first.issuer,
          jwks: { keys: [key.publicJwk] },
          algorithms: ['ES256'],
          subject_mapping: 'external',
        }),
        409,
        'trusted_issuer_taken',
        'a trusted issuer with this issuer already exists',
      );
    });

    it.each<[string, (jwk: JWK, privateJwk: JWK) => Record<string, unknown>, string]>([
      [
        'HS256 among the algorithms',
        (jwk) => ({ jwks: { keys: [jwk] }, algorithms: ['ES256', 'HS256'] }),
        'algorithms must be a non-empty subset of ES256, ES384, EdDSA, RS256, PS256',
      ],
      [
        'alg none',
        (jwk) => ({ jwks: { keys: [jwk] }, algorithms: ['none'] }),
        'algorithms must be a non-empty subset of ES256, ES384, EdDSA, RS256, PS256',
      ],
      [
        'no algorithm',
        (jwk) => ({ jwks: { keys: [jwk] }, algorithms: [] }),
        'algorithms must be a non-empty subset of ES256, ES384, EdDSA, RS256, PS256',
      ],
      [
        'a private JWK',
        (_jwk, privateJwk) => ({ jwks: { keys: [privateJwk] } }),
        'jwks must be a JWK set of 1 to 20 asymmetric public keys (EC, RSA, OKP)',
      ],
      [
        'a symmetric JWK',
        () => ({ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }),
        'jwks must be a JWK set of 1 to 20 asymmetric public keys (EC, RSA, OKP)',
      ],
      [
        'both jwks and jwks_uri',
        (jwk) => ({ jwks: { keys: [jwk] }, jwks_uri: 'https://idp.example.com/jwks' }),
        'exactly one of jwks_uri and jwks is required',
      ],
      ['neither jwks nor jwks_uri', () => ({}), 'exactly one of jwks_uri and jwks is required'],
      [
        'an http jwks_uri',
        () => ({ jwks_uri: 'http://idp.example.com/jwks' }),
        'jwks_uri must be an https URL without credentials or fragment',
      ],
      [
        'an http issuer',
        (jwk) => ({ issuer: 'http://idp.example.com', jwks: { keys: [jwk] } }),
        'issuer must use https (http only on a loopback host)',
      ],
      [
        'an issuer with a query',
        (jwk) => ({ issuer: 'https://idp.example.com/?tenant=1', jwks: { keys: [jwk] } }),
        'issuer must not have a query or fragment',
      ],
      [
        'an issuer with a fragment',
        (jwk) => ({ issuer: 'https://idp.example.com/#x', jwks: { keys: [jwk] } }),
        'issuer must not have a query or fragment',
      ],
    ])('refuses %s', async (_name, body, message) => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const jwk = await exportJWK(publicKey);
      const privateJwk = await exportJWK(privateKey);
      await expectAdminError(
        await api('POST', '', {
          issuer: uniqueIssuer(),
          algorithms: ['ES256'],
          subject_mapping: 'external',
          ...body(jwk, privateJwk),
        }),
        400,
        'invalid_trusted_issuer',
        message,
      );
    });

    it('refuses an unknown subject mapping', async () => {
      const response = await api('POST', '', {
        issuer: uniqueIssuer(),
        jwks_uri: 'https://idp.example.com/jwks',
        algorithms: ['ES256'],
        subject_mapping: 'anyone',
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ code: 'validation_failed' });
    });

    it('links and unlinks subjects', async () => {
      const key = await signer();
      const created = await register({
        jwks: { keys: [key.publicJwk] },
        subject_mapping: 'sub_link',
      });
      const user = await createUser(sut);
      const linked = await api('PUT', `/${created.id}/links/ext-1`, { user_id: user.id });
      expect(linked.status).toBe(200);
      expect(await linked.json()).toEqual({
        issuer: created.issuer,
        subject: 'ext-1',
        user_id: user.id,
      });
      await expectAdminError(
        await api('PUT', `/${created.id}/links/ext-2`, { user_id: randomUUID() }),
        404,
        'link_user_not_found',
        'user not found',
      );
      expect((await api('DELETE', `/${created.id}/links/ext-1`)).status).toBe(204);
      await expectAdminError(
        await api('DELETE', `/${created.id}/links/ext-1`),
        404,
        'subject_link_not_found',
        'subject link not found',
      );
    });
  });

  describe('verify', () => {
    it('maps a linked subject to its local user', async () => {
      const key = await signer();
      const created = await register({
        jwks: { keys: [key.publicJwk] },
        subject_mapping: 'sub_link',
      });
      const user = await createUser(sut);
      const token = await sign(key, created.issuer, { sub: 'linked-sub' });

      await expectRejected(service.verify(token, CLIENT_ID), 'unmapped_subject');
      expect(
        (await api('PUT', `/${created.id}/links/linked-sub`, { user_id: user.id })).status,
      ).toBe(200);

      const subject = await service.verify(token, CLIENT_ID);
      expect(subject).toEqual({
        issuer: created.issuer,
        subject: 'linked-sub',
        userId: user.id,
        scope: ['read', 'write'],
        exp: expect.any(Number) as unknown,
        claims: expect.objectContaining({ iss: created.issuer, sub: 'linked-sub' }) as unknown,
      });
    });

    it('maps a verified email to the local user with that email, and refuses an unverified one', async () => {
      const key = await signer();
      const created = await register({
        jwks: { keys: [key.publicJwk] },
        subject_mapping: 'verified_email',
      });
      const user = await createUser(sut);

      const verified = await sign(key, created.issuer, { email: user.email, email_verified: true });
      expect(await service.verify(verified, CLIENT_ID)).toMatchObject({
        subject: 'ext-subject',
        userId: user.id,
      });

      const unverified = await sign(key, created.issuer, {
        email: user.email,
        email_verified: false,
      });
      await expectRejected(service.verify(unverified, CLIENT_ID), 'unmapped_subject');
      const stranger = await sign(key, created.issuer, {
        email: `nobody-${randomUUID()}@example.com`,
        email_verified: true,
      });
      await expectRejected(service.verify(stranger, CLIENT_ID), 'unmapped_subject');
    });

    it('returns no local user for an external subject; scope defaults to none', async () => {
      const key = await signer();
      const created = await register({ jwks: { keys: [key.publicJwk] } });
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: key.publicJwk.kid })
        .setIssuer(created.issuer)
        .setSubject('svc')
        .setAudience(sut.config.issuer)
        .setExpirationTime('5m')
        .sign(key.privateKey);
      expect(await service.verify(token, CLIENT_ID)).toMatchObject({
        issuer: created.issuer,
        subject: 'svc',
        userId: null,
        scope: [],
      });
    });

    it('honors a configured audience instead of the server issuer', async () => {
      const key = await signer();
      const created = await register({
        jwks: { keys: [key.publicJwk] },
        audience: 'https://gateway.example.com',
      });
      const good = await sign(key, created.issuer, {}, { aud: 'https://gateway.example.com' });
      expect((await service.verify(good, CLIENT_ID)).subject).toBe('ext-subject');
      await expectRejected(
        service.verify(await sign(key, created.issuer), CLIENT_ID),
        'invalid_token',
      );
    });

    it('refuses an untrusted issuer and a client that is not allowed', async () => {
      const key = await signer();
      const created = await register({ jwks: { keys: [key.publicJwk] } });
      await expectRejected(
        service.verify(await sign(key, uniqueIssuer()), CLIENT_ID),
        'untrusted_issuer',
      );
      await expectRejected(
        service.verify(await sign(key, created.issuer), 'another-client'),
        'client_not_allowed',
      );
      await expectRejected(service.verify('not-a-jwt', CLIENT_ID), 'malformed_token');
    });

    it('refuses bad signatures, wrong audience, alg none, HS256 with the public key, and expired tokens', async () => {
      const key = await signer();
      const created = await register({ jwks: { keys: [key.publicJwk] } });

      const other = await signer(key.publicJwk.kid);
      await expectRejected(
        service.verify(await sign(other, created.issuer), CLIENT_ID),
        'invalid_token',
      );

      await expectRejected(
        service.verify(
          await sign(key, created.issuer, {}, { aud: 'https://elsewhere.example.com' }),
          CLIENT_ID,
        ),
        'invalid_token',
      );

      const unsecured = new UnsecuredJWT({ scope: 'read' })
        .setIssuer(created.issuer)
        .setSubject('ext-subject')
        .setAudience(sut.config.issuer)
        .setExpirationTime('5m')
        .encode();
      await expectRejected(service.verify(unsecured, CLIENT_ID), 'invalid_token');

      const hmacSecret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
      const hs256 = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', kid: key.publicJwk.kid })
        .setIssuer(created.issuer)
        .setSubject('ext-subject')
        .setAudience(sut.config.issuer)
        .setExpirationTime('5m')
        .sign(hmacSecret);
      await expectRejected(service.verify(hs256, CLIENT_ID), 'invalid_token');

      const expired = await sign(
        key,
        created.issuer,
        {},
        { exp: Math.floor(Date.now() / 1000) - 120 },
      );
      await expectRejected(service.verify(expired, CLIENT_ID), 'invalid_token');

      const noExp = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: key.publicJwk.kid })
        .setIssuer(created.issuer)
        .setSubject('ext-subject')
        .setAudience(sut.config.issuer)
        .sign(key.privateKey);
      await expectRejected(service.verify(noExp, CLIENT_ID), 'invalid_token');
    });

    it('fetches the keys from a jwks_uri and looks again for a new kid', async () => {
      const first = await signer();
      const path = `/jwks-${randomUUID()}.json`;
      const jwksUri = docs.serve(path, { body: { keys: [first.publicJwk] } });
      const created = await register({ jwks_uri: jwksUri });
      expect(created.jwks_uri).toBe(jwksUri);

      expect((await service.verify(await sign(first, created.issuer), CLIENT_ID)).subject).toBe(
        'ext-subject',
      );
      expect(docs.requests(path)).toBe(1);
      await service.verify(await sign(first, created.issuer), CLIENT_ID);
      expect(docs.requests(path)).toBe(1);

      const rotated = await signer();
      docs.serve(path, { body: { keys: [first.publicJwk, rotated.publicJwk] } });
      expect((await service.verify(await sign(rotated, created.issuer), CLIENT_ID)).subject).toBe(
        'ext-subject',
      );
      expect(docs.requests(path)).toBe(2);
    });

    it('stops trusting an issuer once it is deleted', async () => {
      const key = await signer();
      const created = await register({ jwks: { keys: [key.publicJwk] } });
      const token = await sign(key, created.issuer);
      expect((await service.verify(token, CLIENT_ID)).userId).toBeNull();
      expect((await api('DELETE', `/${created.id}`)).status).toBe(204);
      await expectRejected(service.verify(token, CLIENT_ID), 'untrusted_issuer');
    });
  });
});
