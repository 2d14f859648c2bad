import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { startTestApp, type TestApp, type TestClient } from '../utils/test-app.js';

/**
 * openid-client (v6) as a real peer: a client written by someone else, with its own checks of
 * metadata, responses and error formats.
 */
describe('openid-client as a real client', () => {
  let sut: TestApp;
  let issuer: URL;

  beforeAll(async () => {
    sut = await startTestApp();
    issuer = new URL(sut.baseUrl);
  });

  afterAll(async () => {
    await sut.close();
  });

  /** Discovery over http needs allowInsecureRequests; the issuer is a loopback test server. */
  function discover(
    client: TestClient,
    auth: (secret: string) => oidc.ClientAuth,
    algorithm: 'oidc' | 'oauth2' = 'oidc',
  ): Promise<oidc.Configuration> {
    return oidc.discovery(issuer, client.client_id, undefined, auth(client.client_secret), {
      algorithm,
      execute: [oidc.allowInsecureRequests],
    });
  }

  describe('discovery', () => {
    it.each(['oidc', 'oauth2'] as const)(
      'finds the endpoints through the %s well-known path',
      async (algorithm) => {
        const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
        const config = await discover(client, oidc.ClientSecretBasic, algorithm);
        const metadata = config.serverMetadata();
        expect(metadata.issuer).toBe(sut.baseUrl);
        expect(metadata.token_endpoint).toBe(`${sut.baseUrl}/oauth/token`);
        expect(metadata.introspection_endpoint).toBe(`${sut.baseUrl}/oauth/introspect`);
        expect(metadata.revocation_endpoint).toBe(`${sut.baseUrl}/oauth/revoke`);
        expect(metadata.jwks_uri).toBe(`${sut.baseUrl}/.well-known/jwks.json`);
        expect(metadata.grant_types_supported).toContain('client_credentials');
        expect(metadata.token_endpoint_auth_methods_supported).toEqual(
          expect.arrayContaining(['client_secret_basic', 'client_secret_post']),
        );
      },
    );
  });

  describe.each([
    ['client_secret_basic', oidc.ClientSecretBasic],
    ['client_secret_post', oidc.ClientSecretPost],
  ] as const)('with %s', (method, auth) => {
    let client: TestClient;
    let config: oidc.Configuration;

    beforeAll(async () => {
      client = await sut.createClient({
        allowed_scopes: ['reports:read', 'reports:write'],
        token_endpoint_auth_method: method,
      });
      config = await discover(client, auth);
    });

    it('gets a token, introspects it, revokes it, and sees it inactive', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' });
      expect(tokens.token_type).toBe('bearer');
      expect(tokens.scope).toBe('reports:read');
      expect(tokens.expires_in).toBe(900);
      expect(tokens.expiresIn()).toBeGreaterThan(0);
      expect(tokens.refresh_token).toBeUndefined();

      const active = await oidc.tokenIntrospection(config, tokens.access_token);
      const claims = decodeJwt(tokens.access_token);
      expect(active).toMatchObject({
        active: true,
        client_id: client.client_id,
        sub: client.client_id,
        scope: 'reports:read',
        iss: sut.baseUrl,
        jti: claims.jti,
        exp: claims.exp,
      });

      await expect(oidc.tokenRevocation(config, tokens.access_token)).resolves.toBeUndefined();

      const inactive = await oidc.tokenIntrospection(config, tokens.access_token);
      expect(inactive.active).toBe(false);
      expect(Object.keys(inactive)).toEqual(['active']);
    });

    it('gets the default scope when it asks for none', async () => {
      const tokens = await oidc.clientCredentialsGrant(config);
      expect(tokens.scope).toBe('reports:read reports:write');
    });

    it('sees an OAuth error for a scope it may not have', async () => {
      const failure = await oidc.clientCredentialsGrant(config, { scope: 'admin' }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(oidc.ResponseBodyError);
      expect(failure).toMatchObject({
        status: 400,
        error: 'invalid_scope',
        error_description: 'the client may not request: admin',
      });
    });

    it('treats revocation of an unknown token as success', async () => {
      await expect(oidc.tokenRevocation(config, 'not-a-token')).resolves.toBeUndefined();
      const inactive = await oidc.tokenIntrospection(config, 'not-a-token');
      expect(inactive.active).toBe(false);
    });
  });

  it('is refused with a wrong secret', async () => {
    const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
    const config = await discover(
      { ...client, client_secret: 'lk_cs_wrong' },
      oidc.ClientSecretBasic,
    );
    const failure = await oidc.clientCredentialsGrant(config).then(
      () => null,
      (err: unknown) => err,
    );
    // The 401 carries a WWW-Authenticate challenge, which openid-client reports as such.
    expect(failure).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    expect(failure).toMatchObject({ status: 401 });
    const challenge = (failure as oidc.WWWAuthenticateChallengeError).cause[0];
    expect(challenge.scheme).toBe('basic');
    expect(challenge.parameters.realm).toBe('latchkey');
  });

  it('calls the admin API with a token bound to it (RFC 8707)', async () => {
    const admin = await sut.createAdminClient();
    const config = await discover(admin, oidc.ClientSecretBasic);
    const tokens = await oidc.clientCredentialsGrant(config, {
      scope: 'admin',
      resource: sut.config.audiences.admin,
    });
    expect(decodeJwt(tokens.access_token).aud).toBe(sut.config.audiences.admin);

    const url = new URL(`${sut.baseUrl}/admin/clients/${admin.client_id}`);
    const response = await oidc.fetchProtectedResource(config, tokens.access_token, url, 'GET');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ client_id: admin.client_id });

    await oidc.tokenRevocation(config, tokens.access_token);
    const failure = await oidc.fetchProtectedResource(config, tokens.access_token, url, 'GET').then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
    const challenge = (failure as oidc.WWWAuthenticateChallengeError).cause[0];
    expect(challenge.scheme).toBe('bearer');
    expect(challenge.parameters.error).toBe('invalid_token');
    expect(challenge.parameters.error_description).toBe('the access token has been revoked');
  });
});
