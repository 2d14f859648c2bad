import { jest } from '@jest/globals';
import { SignJWT, decodeJwt, generateKeyPair } from 'jose';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { EventBus } from '../../src/database/event-bus.service.js';
import { AccessTokensService } from '../../src/tokens/access-tokens.service.js';
import { RevocationListService } from '../../src/tokens/revocation-list.service.js';
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

const REVOKED_CHALLENGE =
  /^Bearer error="invalid_token", error_description="the access token has been revoked"/;

describe('POST /oauth/revoke (RFC 7009)', () => {
  let sut: TestApp;
  let revokeUrl: string;
  /** A resource server that introspects tokens to see their state. */
  let observer: TestClient;

  beforeAll(async () => {
    sut = await startTestApp();
    revokeUrl = `${sut.baseUrl}/oauth/revoke`;
    observer = await sut.createClient();
  });

  afterAll(async () => {
    await sut.close();
  });

  function revoke(
    token: string,
    client: TestClient,
    extra: Record<string, string> = {},
    app: TestApp = sut,
  ): Promise<Response> {
    return postForm(
      `${app.baseUrl}/oauth/revoke`,
      { token, ...extra },
      { authorization: basicAuth(client) },
    );
  }

  async function isActive(token: string, app: TestApp = sut): Promise<boolean> {
    const response = await postForm(
      `${app.baseUrl}/oauth/introspect`,
      { token },
      { authorization: basicAuth(observer) },
    );
    expect(response.status).toBe(200);
    return ((await response.json()) as { active: boolean }).active;
  }

  async function issue(
    client: TestClient,
    params: Record<string, string> = {},
    app: TestApp = sut,
  ): Promise<string> {
    const response = await tokenRequest(app.baseUrl, client, {
      grant_type: 'client_credentials',
      ...params,
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  async function clientWithToken(): Promise<{ client: TestClient; token: string; jti: string }> {
    const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
    const token = await issue(client);
    return { client, token, jti: decodeJwt(token).jti as string };
  }

  async function revokedRow(jti: string): Promise<{ exp: number } | undefined> {
    const rows = await sut.dataSource.query<{ exp: string }[]>(
      `SELECT extract(epoch FROM expires_at)::bigint AS exp FROM revoked_jtis WHERE jti = $1`,
      [jti],
    );
    return rows[0] && { exp: Number(rows[0].exp) };
  }

  async function allRevokedJtis(): Promise<Set<string>> {
    const rows = await sut.dataSource.query<{ jti: string }[]>(`SELECT jti FROM revoked_jtis`);
    return new Set(rows.map((row) => row.jti));
  }

  /**
   * Shows that `action` adds no row to revoked_jtis. Other spec files share the database and
   * may revoke their own tokens meanwhile, so a difference is re-checked a few times: a row this
   * request wrote would show up on every attempt, another file's write only now and then.
   */
  async function expectNothingRevoked(action: () => Promise<void>): Promise<void> {
    let added: string[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await allRevokedJtis();
      await action();
      added = [...(await allRevokedJtis())].filter((jti) => !before.has(jti));
      if (added.length === 0) return;
    }
    expect(added).toEqual([]);
  }

  async function expectEmpty200(response: Response): Promise<void> {
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toBe('');
  }

  describe('revoking an access token', () => {
    it('answers 200 with an empty body and makes the token inactive', async () => {
      const { client, token } = await clientWithToken();
      expect(await isActive(token)).toBe(true);
      await expectEmpty200(await revoke(token, client));
      expect(await isActive(token)).toBe(false);
    });

    it('records the jti until the token expires', async () => {
      const { client, token, jti } = await clientWithToken();
      expect(await revokedRow(jti)).toBeUndefined();
      await expectEmpty200(await revoke(token, client));
      expect(await revokedRow(jti)).toEqual({ exp: decodeJwt(token).exp });
    });

    it('makes the admin API refuse the token', async () => {
      const admin = await sut.createAdminClient();
      const token = await issue(admin, { scope: 'admin', resource: sut.config.audiences.admin });
      const callAdmin = () =>
        fetch(`${sut.baseUrl}/admin/clients/${admin.client_id}`, {
          headers: { authorization: `Bearer ${token}` },
        });
      expect((await callAdmin()).status).toBe(200);

      await expectEmpty200(await revoke(token, admin));

      const refused = await callAdmin();
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(REVOKED_CHALLENGE);
      expect(await refused.json()).toMatchObject({
        statusCode: 401,
        code: 'unauthenticated',
        message: 'the access token has been revoked',
      });
    });

    it('revokes only that token, not the client’s other tokens', async () => {
      const { client, token } = await clientWithToken();
      const sibling = await issue(client);
      await expectEmpty200(await revoke(token, client));
      expect(await isActive(token)).toBe(false);
      expect(await isActive(sibling)).toBe(true);
    });

    it('is idempotent', async () => {
      const { client, token, jti } = await clientWithToken();
      await expectEmpty200(await revoke(token, client));
      await expectEmpty200(await revoke(token, client));
      const rows = await sut.dataSource.query<unknown[]>(
        `SELECT jti FROM revoked_jtis WHERE jti = $1`,
        [jti],
      );
      expect(rows).toHaveLength(1);
    });

    it.each(['access_token', 'refresh_token', 'something_else'])(
      'treats token_type_hint=%s as a hint only (RFC 7009 §2.1)',
      async (hint) => {
        const { client, token, jti } = await clientWithToken();
        await expectEmpty200(await revoke(token, client, { token_type_hint: hint }));
        expect(await isActive(token)).toBe(false);
        expect(await revokedRow(jti)).toBeDefined();
      },
    );

    it('accepts client_secret_post authentication', async () => {
      const client = await sut.createClient({
        allowed_scopes: ['reports:read'],
        token_endpoint_auth_method: 'client_secret_post',
      });
      const response = await postForm(`${sut.baseUrl}/oauth/token`, {
        grant_type: 'client_credentials',
        ...credentials(client),
      });
      const { access_token: token } = (await response.json()) as { access_token: string };
      await expectEmpty200(await postForm(revokeUrl, { token, ...credentials(client) }));
      expect(await isActive(token)).toBe(false);
    });

    it('lets a public client revoke its own token', async () => {
      const publicClient = await sut.createClient({
        client_type: 'public',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      const issued = await sut.app.get(AccessTokensService).issue({
        subject: randomUUID(),
        clientId: publicClient.client_id,
        audience: sut.config.audiences.default,
        scope: 'user',
      });
      expect(await isActive(issued.token)).toBe(true);
      await expectEmpty200(
        await postForm(revokeUrl, { token: issued.token, client_id: publicClient.client_id }),
      );
      expect(await isActive(issued.token)).toBe(false);
      expect(await revokedRow(issued.claims.jti)).toEqual({ exp: issued.claims.exp });
    });
  });

  describe('tokens that cannot be revoked', () => {
    it.each([
      ['garbage', 'garbage'],
      ['three dots', 'a.b.c'],
      ['an opaque secret', 'lk_rt_bm90LWEtcmVhbC1yZWZyZXNoLXRva2VuLWF0LWFsbA'],
      ['a very long value', 'x'.repeat(10_000)],
      ['a NUL character', '\u0000'],
    ])('answers 200 to an unknown token (%s) and writes nothing', async (_label, token) => {
      const client = await sut.createClient();
      await expectNothingRevoked(async () => {
        await expectEmpty200(await revoke(token, client));
      });
    });

    it('answers 200 to an expired token and writes nothing', async () => {
      const client = await sut.createClient();
      const issued = await sut.app.get(AccessTokensService).issue({
        subject: client.client_id,
        clientId: client.client_id,
        audience: sut.config.audiences.default,
        scope: 'reports:read',
        ttlSeconds: -120,
      });
      await expectNothingRevoked(async () => {
        await expectEmpty200(await revoke(issued.token, client));
      });
      expect(await revokedRow(issued.claims.jti)).toBeUndefined();
    });

    it('answers 200 to a token signed by a foreign key and writes nothing', async () => {
      const client = await sut.createClient();
      const { privateKey } = await generateKeyPair('ES256');
      const kid = sut.app.get(SigningKeysService).activeKey('access_token').kid;
      const jti = randomUUID();
      const iat = Math.floor(Date.now() / 1000);
      const forged = await new SignJWT({
        iss: sut.config.issuer,
        sub: client.client_id,
        aud: sut.config.audiences.default,
        iat,
        exp: iat + 300,
        jti,
        client_id: client.client_id,
        scope: 'reports:read',
      })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
        .sign(privateKey);
      await expectNothingRevoked(async () => {
        await expectEmpty200(await revoke(forged, client));
      });
      expect(await revokedRow(jti)).toBeUndefined();
    });

    it('refuses another client’s token with unauthorized_client, and the token stays active', async () => {
      const { token, jti } = await clientWithToken();
      const intruder = await sut.createClient();
      const response = await revoke(token, intruder);
      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({
        error: 'unauthorized_client',
        error_description: 'the token was not issued to this client',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('refuses a public client revoking a confidential client’s token', async () => {
      const { token, jti } = await clientWithToken();
      const publicClient = await sut.createClient({
        client_type: 'public',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      const response = await postForm(revokeUrl, { token, client_id: publicClient.client_id });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'unauthorized_client',
        error_description: 'the token was not issued to this client',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });
  });

  describe('bad requests change nothing', () => {
    it('requires client authentication', async () => {
      const { token, jti } = await clientWithToken();
      const response = await postForm(revokeUrl, { token });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(
        'Basic realm="latchkey", charset="UTF-8"',
      );
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'client authentication is required',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('refuses a wrong secret', async () => {
      const { client, token, jti } = await clientWithToken();
      const response = await revoke(token, { ...client, client_secret: 'lk_cs_wrong' });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'client authentication failed',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('refuses a confidential client that sends only its client_id', async () => {
      const { client, token, jti } = await clientWithToken();
      const response = await postForm(revokeUrl, { token, client_id: client.client_id });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: 'invalid_client',
        error_description: 'client authentication failed',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('requires the token parameter', async () => {
      const client = await sut.createClient();
      for (const body of [{}, { token: '' }] as Record<string, string>[]) {
        await expectNothingRevoked(async () => {
          const response = await postForm(revokeUrl, body, { authorization: basicAuth(client) });
          expect(response.status).toBe(400);
          expect(await response.json()).toEqual({
            error: 'invalid_request',
            error_description: 'token is required',
          });
        });
      }
    });

    it('refuses a repeated token parameter', async () => {
      const { client, token, jti } = await clientWithToken();
      const body = new URLSearchParams({ token });
      body.append('token', token);
      const response = await postForm(revokeUrl, body, { authorization: basicAuth(client) });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'parameter token must not be repeated',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('refuses a body that is not a form', async () => {
      const { client, token, jti } = await clientWithToken();
      const response = await fetch(revokeUrl, {
        method: 'POST',
        headers: { authorization: basicAuth(client), 'content-type': 'application/json' },
        body: JSON.stringify({ token }),
      });
      expect(response.status).toBe(415);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'content type must be application/x-www-form-urlencoded',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('refuses a body over the limit', async () => {
      const { client, token, jti } = await clientWithToken();
      const response = await revoke(token, client, {
        padding: 'x'.repeat(sut.config.http.bodyLimitBytes),
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'request body is too large',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('refuses invalid percent-encoding', async () => {
      const { client, token, jti } = await clientWithToken();
      const response = await postForm(revokeUrl, `token=${token}&token_type_hint=%E0%A4%A`, {
        authorization: basicAuth(client),
      });
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'request body is not valid form encoding',
      });
      expect(await revokedRow(jti)).toBeUndefined();
      expect(await isActive(token)).toBe(true);
    });

    it('answers GET with 405 and an Allow header', async () => {
      const { token, jti } = await clientWithToken();
      const response = await fetch(`${revokeUrl}?token=${token}`);
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
      expect(await response.json()).toEqual({
        error: 'invalid_request',
        error_description: 'use POST for this endpoint',
      });
      expect(await revokedRow(jti)).toBeUndefined();
    });
  });

  describe('across processes (LISTEN/NOTIFY)', () => {
    let peer: TestApp;

    beforeAll(async () => {
      // A second node of the same deployment: same database, same issuer.
      peer = await startTestApp({ ISSUER: sut.baseUrl });
    });

    afterAll(async () => {
      await peer.close();
    });

    it('a token revoked on one node is refused on the other', async () => {
      const admin = await sut.createAdminClient();
      const token = await issue(admin, { scope: 'admin', resource: sut.config.audiences.admin });
      const callPeerAdmin = async () =>
        (
          await fetch(`${peer.baseUrl}/admin/clients/${admin.client_id}`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).status;
      // The peer accepts the token before: it trusts the same issuer and keys.
      expect(await isActive(token, peer)).toBe(true);
      expect(await callPeerAdmin()).toBe(200);

      await expectEmpty200(await revoke(token, admin));

      // Bounded polling for eventual consistency, not a timing assertion.
      const refused = await eventually(
        async () => !(await isActive(token, peer)) && (await callPeerAdmin()) === 401,
      );
      expect(refused).toBe(true);
    });

    it('a token revoked on the second node is refused by the first', async () => {
      const { client, token, jti } = await clientWithToken();
      await expectEmpty200(await revoke(token, client, {}, peer));
      expect(await revokedRow(jti)).toEqual({ exp: decodeJwt(token).exp });
      expect(await eventually(async () => !(await isActive(token)))).toBe(true);
      await expectEmpty200(await revoke(token, client));
    });

    it('a revocation that arrives while a node reloads its list is kept', async () => {
      const { client, token, jti } = await clientWithToken();
      expect(await isActive(token, peer)).toBe(true);

      // The peer learns of the revocation through NOTIFY while its reload query (the one a
      // restart or an event-bus reconnect runs) is in flight and returns the rows from before.
      let notified!: () => void;
      const revocationSeen = new Promise<void>((resolve) => (notified = resolve));
      peer.app.get(EventBus).subscribe('revoked_jti', (data) => {
        if (data.includes(jti)) notified();
      });
      const dataSource = peer.dataSource;
      const query = dataSource.query.bind(dataSource);
      let readDone!: () => void;
      const read = new Promise<void>((resolve) => (readDone = resolve));
      const held = jest
        .spyOn(dataSource, 'query')
        .mockImplementation(async (...args: Parameters<DataSource['query']>) => {
          const rows: unknown = await query(...args);
          if (/SELECT jti\b[\s\S]*FROM revoked_jtis WHERE expires_at > now\(\)/.test(args[0])) {
            readDone();
            await revocationSeen;
          }
          return rows;
        });
      try {
        const revocations = peer.app.get(RevocationListService);
        const reload = (revocations as unknown as { load(): Promise<void> }).load();
        await read;
        await expectEmpty200(await revoke(token, client));
        await reload;
        held.mockRestore();
        expect(await eventually(async () => !(await isActive(token, peer)))).toBe(true);
      } finally {
        held.mockRestore();
      }
    });

    it('a node that starts after the revocation refuses the token at once', async () => {
      const { client, token } = await clientWithToken();
      await expectEmpty200(await revoke(token, client));
      const late = await startTestApp({ ISSUER: sut.baseUrl });
      try {
        // Loaded from the table at start, before the node serves anything.
        expect(await isActive(token, late)).toBe(false);
        expect(await isActive(await issue(client), late)).toBe(true);
      } finally {
        await late.close();
      }
    });
  });
});

function credentials(client: TestClient): Record<string, string> {
  return { client_id: client.client_id, client_secret: client.client_secret };
}
