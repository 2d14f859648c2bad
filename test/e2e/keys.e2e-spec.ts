import { decodeProtectedHeader, type JWK } from 'jose';
import { AccessTokensService } from '../../src/tokens/access-tokens.service.js';
import { decryptPrivateKey } from '../../src/tokens/key-encryption.js';
import { SigningKeysService } from '../../src/tokens/signing-keys.service.js';
import {
  basicAuth,
  eventually,
  postForm,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

type Json = Record<string, unknown>;

interface Key {
  kid: string;
  use: 'access_token' | 'id_token';
  alg: string;
  state: 'pending' | 'active' | 'retired';
  created_at: string;
  activate_at: string;
  retired_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

/** Helpers shared by both servers under test (with and without a promotion delay). */
function keyApi(getSut: () => TestApp) {
  let token = '';
  const adminHeaders = async () => {
    token ||= await getSut().adminToken();
    return { authorization: `Bearer ${token}` };
  };
  return {
    async listKeys(): Promise<Key[]> {
      const response = await fetch(`${getSut().baseUrl}/admin/keys`, {
        headers: await adminHeaders(),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: Key[] }).data;
    },
    async rotate(): Promise<Key[]> {
      const response = await fetch(`${getSut().baseUrl}/admin/keys/rotate`, {
        method: 'POST',
        headers: await adminHeaders(),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { data: Key[] }).data;
    },
    async jwks(): Promise<JWK[]> {
      const response = await fetch(`${getSut().baseUrl}/.well-known/jwks.json`);
      expect(response.status).toBe(200);
      return ((await response.json()) as { keys: JWK[] }).keys;
    },
    async accessToken(client: TestClient): Promise<string> {
      const response = await tokenRequest(getSut().baseUrl, client, {
        grant_type: 'client_credentials',
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    },
    async introspect(client: TestClient, accessToken: string): Promise<Json> {
      const response = await postForm(
        `${getSut().baseUrl}/oauth/introspect`,
        { token: accessToken },
        { authorization: basicAuth(client) },
      );
      expect(response.status).toBe(200);
      return (await response.json()) as Json;
    },
  };
}

function kidOf(token: string): string | undefined {
  return decodeProtectedHeader(token).kid;
}

function byKid(keys: Key[], kid: string): Key | undefined {
  return keys.find((key) => key.kid === kid);
}

function expectOneActivePerUse(keys: Key[]): void {
  const active = keys.filter((key) => key.state === 'active');
  expect(active.map((key) => key.use).sort()).toEqual(['access_token', 'id_token']);
}

describe('signing keys, promoted at once (KEY_PROMOTION_DELAY_SECONDS=0)', () => {
  let sut: TestApp;
  const api = keyApi(() => sut);

  beforeAll(async () => {
    sut = await startTestApp({ KEY_PROMOTION_DELAY_SECONDS: '0' });
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  it('lists an active ES256 access-token key and an active RS256 ID-token key', async () => {
    const keys = await api.listKeys();

    expectOneActivePerUse(keys);
    const access = keys.find((key) => key.use === 'access_token' && key.state === 'active');
    const id = keys.find((key) => key.use === 'id_token' && key.state === 'active');
    expect(access).toMatchObject({
      alg: 'ES256',
      retired_at: null,
      expires_at: null,
      revoked_at: null,
    });
    expect(id).toMatchObject({
      alg: 'RS256',
      retired_at: null,
      expires_at: null,
      revoked_at: null,
    });
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual([
        'activate_at',
        'alg',
        'created_at',
        'expires_at',
        'kid',
        'retired_at',
        'revoked_at',
        'state',
        'use',
      ]);
    }
    const created = keys.map((key) => Date.parse(key.created_at));
    expect(created).toEqual([...created].sort((a, b) => b - a));
  });

  it('publishes every pending, active and unexpired retired key in the JWKS, public parts only', async () => {
    const keys = await api.listKeys();
    const jwks = await api.jwks();

    const published = new Set(jwks.map((jwk) => jwk.kid));
    const now = Date.now();
    for (const key of keys) {
      const live =
        key.state !== 'retired' || (key.expires_at !== null && Date.parse(key.expires_at) > now);
      if (live) expect(published).toContain(key.kid);
    }
    for (const jwk of jwks) {
      expect(jwk.use).toBe('sig');
      expect([typeof jwk.kid, typeof jwk.alg]).toEqual(['string', 'string']);
      for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
    }
  });

  it('keeps private keys encrypted at rest under MASTER_KEY', async () => {
    const masterKey = Buffer.from(process.env.MASTER_KEY ?? '', 'hex');
    const rows = await sut.dataSource.query<
      { kid: string; public_jwk: JWK; private_key_enc: string }[]
    >(`SELECT kid, public_jwk, private_key_enc FROM signing_keys`);
    expect(rows.length).toBeGreaterThanOrEqual(2);

    for (const row of rows) {
      expect(row.private_key_enc.startsWith('v1.')).toBe(true);
      const privateJwk = JSON.parse(
        decryptPrivateKey(masterKey, row.kid, row.private_key_enc),
      ) as JWK;
      expect(typeof privateJwk.d).toBe('string');
      expect(row.private_key_enc).not.toContain(privateJwk.d);
      expect(row.private_key_enc).not.toContain('"d"');
      for (const member of PRIVATE_MEMBERS) expect(row.public_jwk).not.toHaveProperty(member);
      // The envelope is bound to its kid: it does not open under another key id.
      expect(() => decryptPrivateKey(masterKey, `${row.kid}x`, row.private_key_enc)).toThrow();
    }
  });

  it('rotates: new tokens carry the new kid, old keys retire but stay published and valid', async () => {
    const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
    const adminToken = await sut.adminToken();
    const before = await api.listKeys();
    const oldAccess = before.find((k) => k.use === 'access_token' && k.state === 'active') as Key;
    const oldId = before.find((k) => k.use === 'id_token' && k.state === 'active') as Key;
    const oldToken = await api.accessToken(client);
    expect(kidOf(oldToken)).toBe(oldAccess.kid);

    const rotated = await api.rotate();

    expect(rotated).toHaveLength(2);
    const newAccess = rotated.find((key) => key.use === 'access_token') as Key;
    const newId = rotated.find((key) => key.use === 'id_token') as Key;
    expect(newAccess).toMatchObject({ alg: 'ES256', state: 'active' });
    expect(newId).toMatchObject({ alg: 'RS256', state: 'active' });
    expect(newAccess.kid).not.toBe(oldAccess.kid);
    expect(newId.kid).not.toBe(oldId.kid);

    const after = await api.listKeys();
    expectOneActivePerUse(after);
    // A registered resource may give its tokens up to 86400 s, so keys stay that long and more.
    const retireWindowMs =
      (Math.max(
        sut.config.tokens.accessTokenTtlSeconds,
        sut.config.tokens.idTokenTtlSeconds,
        86400,
      ) +
        60) *
      1000;
    for (const old of [oldAccess, oldId]) {
      const now = byKid(after, old.kid) as Key;
      expect(now.state).toBe('retired');
      expect(now.retired_at).not.toBeNull();
      const lifetime = Date.parse(now.expires_at as string) - Date.parse(now.retired_at as string);
      expect(Math.abs(lifetime - retireWindowMs)).toBeLessThanOrEqual(1000);
    }

    const published = (await api.jwks()).map((jwk) => jwk.kid);
    expect(published).toEqual(
      expect.arrayContaining([oldAccess.kid, oldId.kid, newAccess.kid, newId.kid]),
    );

    const newToken = await api.accessToken(client);
    expect(kidOf(newToken)).toBe(newAccess.kid);
    expect(await api.introspect(client, oldToken)).toMatchObject({ active: true });
    expect(await api.introspect(client, newToken)).toMatchObject({ active: true });
    // The admin token from before the rotation still opens the admin API.
    const stillAdmin = await fetch(`${sut.baseUrl}/admin/keys`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(stillAdmin.status).toBe(200);
  }, 30_000);

  it('refuses to rotate without an admin token and adds no key', async () => {
    const count = async () =>
      (
        await sut.dataSource.query<{ n: number }[]>(`SELECT count(*)::int AS n FROM signing_keys`)
      )[0].n;
    const before = await count();
    // The admin API defines only `admin`, so such a token is not issued: sign one directly.
    const { token: notAdmin } = await sut.app.get(AccessTokensService).issue({
      subject: 'keys-test',
      clientId: 'keys-test',
      audience: sut.config.audiences.admin,
      scope: 'reports:read',
    });

    const anonymous = await fetch(`${sut.baseUrl}/admin/keys/rotate`, { method: 'POST' });
    const forbidden = await fetch(`${sut.baseUrl}/admin/keys/rotate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${notAdmin}` },
    });

    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as Json).code).toBe('unauthenticated');
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as Json).code).toBe('forbidden');
    expect(await count()).toBe(before);
  });
});

describe('signing keys, promoted after a delay (KEY_PROMOTION_DELAY_SECONDS=3)', () => {
  let sut: TestApp;
  const api = keyApi(() => sut);

  beforeAll(async () => {
    sut = await startTestApp({ KEY_PROMOTION_DELAY_SECONDS: '3' });
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  it('publishes the new keys as pending first, and signs with them once due', async () => {
    const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
    const rotatedAt = Date.now();

    const rotated = await api.rotate();

    expect(rotated).toHaveLength(2);
    for (const key of rotated) {
      expect(key.state).toBe('pending');
      const delay = Date.parse(key.activate_at) - rotatedAt;
      expect(delay).toBeGreaterThan(2000);
      expect(delay).toBeLessThanOrEqual(4000);
    }
    const newAccess = rotated.find((key) => key.use === 'access_token') as Key;
    const newId = rotated.find((key) => key.use === 'id_token') as Key;

    // Right away: published, but not signing yet.
    const published = (await api.jwks()).map((jwk) => jwk.kid);
    expect(published).toEqual(expect.arrayContaining([newAccess.kid, newId.kid]));
    const early = await api.accessToken(client);
    expect(kidOf(early)).not.toBe(newAccess.kid);
    expect(published).toContain(kidOf(early));
    const listed = await api.listKeys();
    expect(byKid(listed, newAccess.kid)?.state).toBe('pending');
    expectOneActivePerUse(listed);

    // Once due, the server promotes them by itself.
    let latest = early;
    const promoted = await eventually(
      async () => {
        latest = await api.accessToken(client);
        return kidOf(latest) === newAccess.kid;
      },
      6000,
      200,
    );
    expect(promoted).toBe(true);

    const after = await api.listKeys();
    expect(byKid(after, newAccess.kid)?.state).toBe('active');
    expect(byKid(after, newId.kid)?.state).toBe('active');
    expectOneActivePerUse(after);
    expect(sut.app.get(SigningKeysService).activeKey('id_token').kid).toBe(newId.kid);
    // The key that signed the early token is retired and still verifies.
    expect(byKid(after, kidOf(early) as string)?.state).toBe('retired');
    expect(await api.introspect(client, early)).toMatchObject({ active: true });
    expect(await api.introspect(client, latest)).toMatchObject({ active: true });
  }, 30_000);
});
