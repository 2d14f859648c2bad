import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { expectOAuthError } from '../utils/user-grants.js';
import { startTestApp, tokenRequest, type TestApp, type TestClient } from '../utils/test-app.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** RFC 8693 with a subject token from another identity provider that an admin trusts. */
describe('token exchange with a trusted issuer', () => {
  let sut: TestApp;
  let client: TestClient;
  let stranger: TestClient;
  let resource: string;
  let issuer: string;
  let privateKey: CryptoKey;
  const kid = 'partner-key-1';

  beforeAll(async () => {
    sut = await startTestApp();
    const adminToken = await sut.adminToken();
    const admin = (path: string, body: unknown) =>
      fetch(`${sut.baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    resource = `https://partner-api-${randomUUID()}.example.com/`;
    expect(
      (await admin('/admin/resources', { identifier: resource, name: 'API', scopes: ['api:read'] }))
        .status,
    ).toBe(201);
    const exchanger = () =>
      sut.createClient({
        grant_types: [TOKEN_EXCHANGE],
        allowed_scopes: ['api:read'],
        may_impersonate: true,
      });
    client = await exchanger();
    stranger = await exchanger();

    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    issuer = `https://idp-${randomUUID()}.example.com`;
    const created = await admin('/admin/trusted-issuers', {
      issuer,
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' }] },
      algorithms: ['ES256'],
      subject_mapping: 'external',
      allowed_client_ids: [client.client_id],
    });
    expect(created.status).toBe(201);
  });

  afterAll(async () => {
    await sut.close();
  });

  function partnerToken(
    overrides: { iss?: string; aud?: string; key?: CryptoKey } = {},
  ): Promise<string> {
    return new SignJWT({ scope: 'api:read' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(overrides.iss ?? issuer)
      .setSubject('partner-user-1')
      .setAudience(overrides.aud ?? sut.baseUrl)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(overrides.key ?? privateKey);
  }

  function exchange(subjectToken: string, as = client): Promise<Response> {
    return tokenRequest(sut.baseUrl, as, {
      grant_type: TOKEN_EXCHANGE,
      subject_token: subjectToken,
      subject_token_type: JWT_TYPE,
      resource,
      scope: 'api:read',
    });
  }

  async function refused(response: Response): Promise<void> {
    await expectOAuthError(response, 400, 'invalid_grant', 'subject_token is not valid');
  }

  it('issues a token for an external subject, qualified by its issuer', async () => {
    const response = await exchange(await partnerToken());
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string; issued_token_type: string };
    expect(body.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(decodeJwt(body.access_token)).toMatchObject({
      sub: `${issuer}#partner-user-1`,
      aud: resource,
      scope: 'api:read',
      client_id: client.client_id,
    });
  });

  it('refuses a token from an issuer nobody trusts', async () => {
    await refused(await exchange(await partnerToken({ iss: 'https://untrusted.example.com' })));
  });

  it('refuses a bad signature, a wrong audience, alg none and HS256 with the public key', async () => {
    const other = await generateKeyPair('ES256');
    await refused(await exchange(await partnerToken({ key: other.privateKey })));
    await refused(await exchange(await partnerToken({ aud: 'https://elsewhere.example.com' })));

    const payload = decodeJwt(await partnerToken());
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    await refused(await exchange(`${encode({ alg: 'none', kid })}.${encode(payload)}.`));

    const publicJwk = JSON.stringify(await exportJWK(other.publicKey));
    const hs256 = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid })
      .sign(new TextEncoder().encode(publicJwk));
    await refused(await exchange(hs256));
  });

  it('refuses a client the issuer is not open to', async () => {
    await refused(await exchange(await partnerToken(), stranger));
  });
});
