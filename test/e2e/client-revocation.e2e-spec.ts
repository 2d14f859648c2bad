import { ConsentsService } from '../../src/oauth/authorize/consents.service.js';
import {
  eventually,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';
import {
  createCodeClient,
  createUser,
  expectOAuthError,
  introspect,
  issueCode,
  redeem,
  redeemOk,
  refresh,
  type CodeClient,
  type TestUser,
  type UserTokenBody,
} from '../utils/user-grants.js';

interface Revoked {
  client_id: string;
  revoked_before: string;
  revoked_grants: number;
  withdrawn_consents: number;
}

interface AdminError {
  statusCode: number;
  code: string;
  message: string;
}

/** A compromised client: POST /admin/clients/:id/revoke-tokens, and deleting a client. */
describe('revoking every token of a client', () => {
  let sut: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    sut = await startTestApp();
    adminToken = await sut.adminToken();
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  function admin(method: string, path: string, token = adminToken): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
  }

  async function revokeTokens(clientId: string): Promise<Revoked> {
    const response = await admin(
      'POST',
      `/admin/clients/${encodeURIComponent(clientId)}/revoke-tokens`,
    );
    expect(response.status).toBe(200);
    return (await response.json()) as Revoked;
  }

  async function clientCredentialsToken(client: TestClient, extra: Record<string, string> = {}) {
    const response = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'client_credentials',
      ...extra,
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  /** A user who allowed the client, with a redeemed grant and a code not redeemed yet. */
  async function userGrant(client: CodeClient): Promise<{
    user: TestUser;
    tokens: UserTokenBody;
    pendingCode: Awaited<ReturnType<typeof issueCode>>;
  }> {
    const user = await createUser(sut);
    await sut.app
      .get(ConsentsService)
      .grant(user.id, client.client_id, ['openid', 'offline_access']);
    const tokens = await redeemOk(sut, client, await issueCode(sut, client, { user }));
    const pendingCode = await issueCode(sut, client, { user });
    return { user, tokens, pendingCode };
  }

  async function consentsOf(userId: string): Promise<string[]> {
    const response = await admin('GET', `/admin/users/${userId}/consents`);
    expect(response.status).toBe(200);
    return ((await response.json()) as { data: { client_id: string }[] }).data.map(
      (consent) => consent.client_id,
    );
  }

  function userinfo(accessToken: string): Promise<Response> {
    return fetch(`${sut.baseUrl}/oauth/userinfo`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
  }

  it('revokes refresh tokens, codes, consents and every access token, of that client only', async () => {
    const client = await createCodeClient(sut);
    const bystander = await createCodeClient(sut);
    const first = await userGrant(client);
    const second = await userGrant(client);
    const other = await userGrant(bystander);
    const before = {
      userinfo: (await userinfo(first.tokens.access_token)).status,
      introspection: (await introspect(sut, first.tokens.access_token)).active,
    };
    expect(before).toEqual({ userinfo: 200, introspection: true });

    const revoked = await revokeTokens(client.client_id);

    expect(revoked).toEqual({
      client_id: client.client_id,
      revoked_before: revoked.revoked_before,
      // Two redeemed grants and two codes not redeemed yet: each its own family.
      revoked_grants: 4,
      withdrawn_consents: 2,
    });
    // Whole seconds: the cutoff is compared with `iat`.
    expect(revoked.revoked_before).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    for (const grant of [first, second]) {
      expect(await introspect(sut, grant.tokens.access_token)).toEqual({ active: false });
      expect((await userinfo(grant.tokens.access_token)).status).toBe(401);
      await expectOAuthError(
        await refresh(sut, client, grant.tokens.refresh_token ?? ''),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
      expect(await consentsOf(grant.user.id)).toEqual([]);
      // A code issued before the revocation belongs to a revoked family: its tokens are born
      // revoked (the consent withdrawal does the same).
      const late = await redeem(sut, client, grant.pendingCode);
      expect(late.status).toBe(200);
      const body = (await late.json()) as UserTokenBody;
      expect(await introspect(sut, body.access_token)).toEqual({ active: false });
      await expectOAuthError(
        await refresh(sut, client, body.refresh_token ?? ''),
        400,
        'invalid_grant',
        'refresh token has been revoked',
      );
    }
    // Another client's grant of the same kind is untouched.
    expect(await introspect(sut, other.tokens.access_token)).toMatchObject({ active: true });
    expect((await refresh(sut, bystander, other.tokens.refresh_token ?? '')).status).toBe(200);
    expect(await consentsOf(other.user.id)).toEqual([bystander.client_id]);
  });

  it('revokes client_credentials tokens, which nothing records, also at the admin API guard', async () => {
    const service = await sut.createAdminClient();
    const adminScoped = await clientCredentialsToken(service, {
      scope: 'admin',
      resource: sut.config.audiences.admin,
    });
    const plain = await clientCredentialsToken(service);
    expect((await admin('GET', '/admin/keys', adminScoped)).status).toBe(200);

    const revoked = await revokeTokens(service.client_id);

    expect(revoked).toMatchObject({ revoked_grants: 0, withdrawn_consents: 0 });
    expect(await introspect(sut, plain)).toEqual({ active: false });
    const refused = await admin('GET', '/admin/keys', adminScoped);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain(
      'error_description="the access token has been revoked"',
    );
    // The client itself still works: tokens issued after the revocation second are good.
    let fresh = '';
    const recovered = await eventually(async () => {
      fresh = await clientCredentialsToken(service);
      return (await introspect(sut, fresh)).active === true;
    }, 3000);
    expect(recovered).toBe(true);
    const iat = (
      JSON.parse(Buffer.from(fresh.split('.')[1], 'base64url').toString()) as {
        iat: number;
      }
    ).iat;
    expect(iat).toBeGreaterThan(Math.floor(Date.parse(revoked.revoked_before) / 1000));
  });

  it('writes an audit event naming the client and the counts', async () => {
    const client = await createCodeClient(sut);
    await userGrant(client);
    const revoked = await revokeTokens(client.client_id);

    let events: { type: string; client_id: string; details: Record<string, unknown> }[] = [];
    const found = await eventually(async () => {
      const response = await admin(
        'GET',
        `/admin/audit-events?type=client.tokens_revoked&client_id=${client.client_id}`,
      );
      events = ((await response.json()) as { data: typeof events }).data;
      return events.length > 0;
    }, 5000);
    expect(found).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'client.tokens_revoked',
      client_id: client.client_id,
      details: {
        revoked_before: revoked.revoked_before,
        revoked_grants: 2,
        withdrawn_consents: 1,
      },
    });
  });

  it('answers 404 for an unknown or unstorable client id and 401 without an admin token', async () => {
    const victim = await sut.createClient({ allowed_scopes: ['reports:read'] });
    const token = await clientCredentialsToken(victim);
    for (const id of ['no-such-client', 'x'.repeat(600)]) {
      const response = await admin(
        'POST',
        `/admin/clients/${encodeURIComponent(id)}/revoke-tokens`,
      );
      expect({ status: response.status, body: (await response.json()) as AdminError }).toEqual({
        status: 404,
        body: { statusCode: 404, code: 'client_not_found', message: 'client not found' },
      });
    }
    const nul = await admin('POST', `/admin/clients/nul%00id/revoke-tokens`);
    expect({ status: nul.status, body: (await nul.json()) as AdminError }).toMatchObject({
      status: 400,
      body: { code: 'validation_failed', message: 'the URL must not contain NUL characters' },
    });
    const anonymous = await fetch(
      `${sut.baseUrl}/admin/clients/${victim.client_id}/revoke-tokens`,
      {
        method: 'POST',
      },
    );
    expect(anonymous.status).toBe(401);
    // Nothing was revoked by the refused calls.
    expect(await introspect(sut, token)).toMatchObject({ active: true });
  });

  it('rejects the tokens of a deleted client everywhere, not only at introspection', async () => {
    const service = await sut.createAdminClient();
    const adminScoped = await clientCredentialsToken(service, {
      scope: 'admin',
      resource: sut.config.audiences.admin,
    });
    const client = await createCodeClient(sut);
    const { tokens } = await userGrant(client);
    expect((await userinfo(tokens.access_token)).status).toBe(200);

    expect((await admin('DELETE', `/admin/clients/${service.client_id}`)).status).toBe(204);
    expect((await admin('DELETE', `/admin/clients/${client.client_id}`)).status).toBe(204);

    expect((await admin('GET', '/admin/keys', adminScoped)).status).toBe(401);
    expect((await userinfo(tokens.access_token)).status).toBe(401);
  });

  it('reaches every node: another instance on the same database rejects the tokens too', async () => {
    const other = await startTestApp({ ISSUER: sut.baseUrl });
    try {
      const service = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const token = await clientCredentialsToken(service);
      expect(await introspect(other, token)).toMatchObject({ active: true });

      await revokeTokens(service.client_id);

      expect(await eventually(async () => (await introspect(other, token)).active === false)).toBe(
        true,
      );
    } finally {
      await other.close();
    }
  });
});
