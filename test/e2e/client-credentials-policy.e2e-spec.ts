import { decodeJwt } from 'jose';
import { createUser } from '../utils/soft-authenticator.js';
import { startTestApp, tokenRequest, type TestApp, type TestClient } from '../utils/test-app.js';

interface TokenBody {
  access_token?: string;
  scope?: string;
  error?: string;
  error_description?: string;
}

/**
 * The two-tier policy for client_credentials: ownership is attribution (`owner`), never
 * authority. A client owned by an admin gets exactly what the same unowned client gets.
 */
describe('client_credentials: an owned client gets no more than an unowned one', () => {
  const allowed = ['reports:read', 'reports:write'];
  let sut: TestApp;
  let ownerId: string;
  let owned: TestClient;
  let unowned: TestClient;

  beforeAll(async () => {
    sut = await startTestApp();
    // The owner holds every user-tier permission: none of it may reach the client's tokens.
    ownerId = (await createUser(sut, { roles: ['user', 'admin'] })).id;
    owned = await sut.createClient({
      grant_types: ['client_credentials'],
      allowed_scopes: allowed,
      owner_user_id: ownerId,
    });
    unowned = await sut.createClient({
      grant_types: ['client_credentials'],
      allowed_scopes: allowed,
    });
  });

  afterAll(async () => {
    await sut?.close();
  });

  async function request(
    client: TestClient,
    params: Record<string, string>,
  ): Promise<{ status: number; body: TokenBody }> {
    const response = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'client_credentials',
      ...params,
    });
    return { status: response.status, body: (await response.json()) as TokenBody };
  }

  it('adds owner to the owned client token only, with the same subject rule and scope', async () => {
    const fromOwned = await request(owned, {});
    const fromUnowned = await request(unowned, {});
    expect(fromOwned.status).toBe(200);
    expect(fromUnowned.status).toBe(200);
    expect(fromOwned.body.scope).toBe('reports:read reports:write');
    expect(fromOwned.body.scope).toBe(fromUnowned.body.scope);

    const ownedClaims = decodeJwt(fromOwned.body.access_token ?? '');
    const unownedClaims = decodeJwt(fromUnowned.body.access_token ?? '');
    expect(ownedClaims.owner).toBe(ownerId);
    expect(ownedClaims.sub).toBe(owned.client_id);
    expect(ownedClaims.scope).toBe(unownedClaims.scope);
    expect(unownedClaims).not.toHaveProperty('owner');
  });

  it.each(['user', 'admin', 'reports:read user', 'reports:admin'])(
    'refuses scope=%s to both clients alike, even with an admin owner',
    async (scope) => {
      const fromOwned = await request(owned, { scope });
      const fromUnowned = await request(unowned, { scope });
      expect(fromOwned.status).toBe(400);
      expect(fromOwned.body.error).toBe('invalid_scope');
      expect(fromOwned).toEqual(fromUnowned);
    },
  );

  it('refuses the admin API audience to both clients alike', async () => {
    const params = { scope: 'admin', resource: sut.config.audiences.admin };
    const fromOwned = await request(owned, params);
    expect(fromOwned.status).toBe(400);
    expect(fromOwned.body.error).toBe('invalid_scope');
    expect(fromOwned).toEqual(await request(unowned, params));
  });
});
