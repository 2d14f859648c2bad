import { decodeJwt } from 'jose';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ClientsService } from '../../src/clients/clients.service.js';
import { RolesService } from '../../src/users/roles.service.js';
import { eventually, startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';
import {
  REDIRECT_URI,
  createCodeClient,
  createUser,
  expectOAuthError,
  issueCode,
  pkcePair,
  redeem,
  refresh,
  type CodeClient,
  type UserTokenBody,
} from '../utils/user-grants.js';

interface ResourceBody {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  access_token_ttl_seconds: number | null;
  created_at: string;
  updated_at: string;
}

/** Registered resource servers: the admin API, and audience and scope binding (RFC 8707). */
describe('resource servers', () => {
  let sut: TestApp;
  let adminToken: string;

  beforeAll(async () => {
    sut = await startTestApp();
    adminToken = await sut.adminToken();
  });

  afterAll(async () => {
    await sut.close();
  });

  function api(method: string, path: string, body?: unknown, on = sut): Promise<Response> {
    return fetch(`${on.baseUrl}/admin/resources${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function uniqueIdentifier(): string {
    return `https://api-${randomUUID()}.example.com/v1`;
  }

  async function register(body: Record<string, unknown> = {}): Promise<ResourceBody> {
    const response = await api('POST', '', {
      identifier: uniqueIdentifier(),
      name: 'Reports API',
      scopes: ['reports:read', 'reports:write'],
      ...body,
    });
    expect(response.status).toBe(201);
    return (await response.json()) as ResourceBody;
  }

  async function count(): Promise<number> {
    const rows = await sut.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM resources`,
    );
    return rows[0].n;
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

  describe('admin API', () => {
    it('creates, gets, lists, updates and deletes a resource', async () => {
      const created = await register({ access_token_ttl_seconds: 120 });
      expect(created).toEqual({
        id: expect.any(String) as unknown,
        identifier: expect.stringMatching(/^https:\/\/api-.*\.example\.com\/v1$/) as unknown,
        name: 'Reports API',
        scopes: ['reports:read', 'reports:write'],
        access_token_ttl_seconds: 120,
        created_at: expect.any(String) as unknown,
        updated_at: expect.any(String) as unknown,
      });

      const got = await api('GET', `/${created.id}`);
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual(created);

      const patched = await api('PATCH', `/${created.id}`, {
        name: 'Reports',
        scopes: ['reports:read'],
        access_token_ttl_seconds: null,
      });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({
        id: created.id,
        identifier: created.identifier,
        name: 'Reports',
        scopes: ['reports:read'],
        access_token_ttl_seconds: null,
      });

      const removed = await api('DELETE', `/${created.id}`);
      expect(removed.status).toBe(204);
      await expectAdminError(
        await api('GET', `/${created.id}`),
        404,
        'resource_not_found',
        'resource not found',
      );
      await expectAdminError(
        await api('DELETE', `/${created.id}`),
        404,
        'resource_not_found',
        'resource not found',
      );
    });

    it('pages the list with a cursor', async () => {
      for (let i = 0; i < 3; i++) await register();
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '?limit=2' : `?limit=2&cursor=${cursor}`;
        const response = await api('GET', query);
        expect(response.status).toBe(200);
        const page = (await response.json()) as {
          data: ResourceBody[];
          next_cursor: string | null;
        };
        expect(page.data.length).toBeLessThanOrEqual(2);
        seen.push(...page.data.map((resource) => resource.id));
        cursor = page.next_cursor;
      } while (cursor !== null);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.length).toBe(await count());

      await expectAdminError(
        await api('GET', '?cursor=bogus'),
        400,
        'invalid_resource_cursor',
        'cursor is not valid',
      );
    });

    it('stores the identifier normalized and refuses the same resource with a trailing slash', async () => {
      const host = `https://api-${randomUUID()}.EXAMPLE.com`;
      const created = await register({ identifier: host });
      expect(created.identifier).toBe(`${host.toLowerCase()}/`);
      const before = await count();
      await expectAdminError(
        await api('POST', '', { identifier: `${host}/`, name: 'again' }),
        409,
        'resource_identifier_taken',
        'a resource with this identifier already exists',
      );
      expect(await count()).toBe(before);
    });

    it('refuses to register the built-in admin API', async () => {
      await expectAdminError(
        await api('POST', '', { identifier: sut.config.audiences.admin, name: 'admin' }),
        409,
        'resource_identifier_taken',
        'the identifier belongs to the built-in admin API',
      );
    });

    it.each([
      [
        { identifier: 'http://api.example.com/' },
        'identifier must use https (http only on a loopback host)',
      ],
      [{ identifier: '/relative' }, 'identifier must be an absolute URI without a fragment'],
      [
        { identifier: 'https://api.example.com/#frag' },
        'identifier must be an absolute URI without a fragment',
      ],
      [
        { identifier: 'https://user:pw@api.example.com/' },
        'identifier must not contain credentials',
      ],
      [
        { scopes: ['openid', 'reports:read', 'admin'] },
        'scopes must not include OIDC or user-tier scopes: openid admin',
      ],
      [{ scopes: ['user'] }, 'scopes must not include OIDC or user-tier scopes: user'],
    ])('refuses %j', async (override, message) => {
      const before = await count();
      const response = await api('POST', '', {
        identifier: uniqueIdentifier(),
        name: 'bad',
        ...override,
      });
      await expectAdminError(response, 400, 'invalid_resource_metadata', message);
      expect(await count()).toBe(before);
    });

    it('accepts http on a loopback host', async () => {
      const identifier = `http://127.0.0.1:4${randomBytes(2).readUInt16BE() % 1000}/mcp`;
      const created = await register({ identifier });
      expect(created.identifier).toBe(identifier);
      expect((await api('DELETE', `/${created.id}`)).status).toBe(204);
    });

    it.each([
      [{ access_token_ttl_seconds: 29 }, 'access_token_ttl_seconds must not be less than 30'],
      [
        { access_token_ttl_seconds: 86401 },
        'access_token_ttl_seconds must not be greater than 86400',
      ],
      [{ scopes: ['bad scope'] }, 'each scope must be an RFC 6749 scope token'],
      [{ name: '' }, 'name must be longer than or equal to 1 characters'],
    ])('validates %j', async (override, detail) => {
      const before = await count();
      const response = await api('POST', '', {
        identifier: uniqueIdentifier(),
        name: 'ok',
        ...override,
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { code: string; details: string[] };
      expect(body.code).toBe('validation_failed');
      expect(body.details).toContain(detail);
      expect(await count()).toBe(before);
    });

    it('does not let PATCH change the identifier, nor set reserved scopes', async () => {
      const created = await register();
      const moved = await api('PATCH', `/${created.id}`, { identifier: uniqueIdentifier() });
      expect(moved.status).toBe(400);
      expect(((await moved.json()) as { details: string[] }).details).toEqual([
        'property identifier should not exist',
      ]);
      await expectAdminError(
        await api('PATCH', `/${created.id}`, { scopes: ['profile'] }),
        400,
        'invalid_resource_metadata',
        'scopes must not include OIDC or user-tier scopes: profile',
      );
      expect(await (await api('GET', `/${created.id}`)).json()).toEqual(created);
    });

    it('needs an admin token', async () => {
      const response = await fetch(`${sut.baseUrl}/admin/resources`);
      expect(response.status).toBe(401);
    });
  });

  describe('client_credentials', () => {
    async function ccToken(
      scopes: string[],
      params: Record<string, string> | URLSearchParams,
    ): Promise<Response> {
      const client = await sut.createClient({ allowed_scopes: scopes });
      const form = params instanceof URLSearchParams ? params : new URLSearchParams(params);
      form.set('grant_type', 'client_credentials');
      return tokenRequest(sut.baseUrl, client, form);
    }

    it('binds the token to the resource, with its lifetime and only the scopes it defines', async () => {
      const resource = await register({ access_token_ttl_seconds: 120 });
      const response = await ccToken(['reports:read', 'billing:read'], {
        resource: resource.identifier,
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        access_token: string;
        expires_in: number;
        scope: string;
      };
      expect(body.expires_in).toBe(120);
      expect(body.scope).toBe('reports:read');
      const claims = decodeJwt(body.access_token);
      expect(claims.aud).toBe(resource.identifier);
      expect((claims.exp as number) - (claims.iat as number)).toBe(120);
    });

    it('matches the resource with or without the trailing slash of a bare origin', async () => {
      const origin = `https://api-${randomUUID()}.example.com`;
      await register({ identifier: origin });
      const response = await ccToken(['reports:read'], { resource: origin, scope: 'reports:read' });
      expect(response.status).toBe(200);
      const { access_token } = (await response.json()) as { access_token: string };
      expect(decodeJwt(access_token).aud).toBe(`${origin}/`);
    });

    it('refuses a scope the resource does not define with invalid_scope', async () => {
      const resource = await register();
      await expectOAuthError(
        await ccToken(['reports:read', 'billing:read'], {
          resource: resource.identifier,
          scope: 'reports:read billing:read',
        }),
        400,
        'invalid_scope',
        `the resource ${resource.identifier} does not define: billing:read`,
      );
    });

    it('refuses a client with no scope the resource defines', async () => {
      const resource = await register();
      await expectOAuthError(
        await ccToken(['billing:read'], { resource: resource.identifier }),
        400,
        'invalid_scope',
        'the client may request no scope the resource defines',
      );
    });

    it('limits the admin API to admin, and user expands only to it', async () => {
      const admin = await sut.createAdminClient();
      const response = await tokenRequest(sut.baseUrl, admin, {
        grant_type: 'client_credentials',
        scope: 'user',
        resource: sut.config.audiences.admin,
      });
      expect(((await response.json()) as { scope: string }).scope).toBe('admin');
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      await expectOAuthError(
        await tokenRequest(sut.baseUrl, client, {
          grant_type: 'client_credentials',
          scope: 'reports:read',
          resource: sut.config.audiences.admin,
        }),
        400,
        'invalid_scope',
        `the resource ${sut.config.audiences.admin} does not define: reports:read`,
      );
    });

    it('keeps the default audience without resource', async () => {
      const response = await ccToken(['reports:read'], { scope: 'reports:read' });
      const { access_token } = (await response.json()) as { access_token: string };
      expect(decodeJwt(access_token).aud).toBe(sut.config.audiences.default);
    });

    it.each([
      [
        'an unknown resource',
        'https://unknown.example.com/',
        'the requested resource is not known to this server',
      ],
      ['a relative resource', '/api', 'the requested resource is not known to this server'],
    ])('refuses %s with invalid_target', async (_label, resource, description) => {
      await expectOAuthError(
        await ccToken(['reports:read'], { resource }),
        400,
        'invalid_target',
        description,
      );
    });
  });

  describe('authorization code and refresh', () => {
    let client: CodeClient;

    beforeAll(async () => {
      client = await createCodeClient(sut);
    });

    /** A user holding `permissions` through a new role, signed in, with the client consented. */
    async function signedInUser(permissions: string[], consented: string[]) {
      const role = `role-${randomBytes(4).toString('hex')}`;
      await sut.app.get(RolesService).create({ name: role, permissions });
      const user = await createUser(sut);
      await sut.dataSource.query(`UPDATE users SET roles = $2 WHERE id = $1`, [
        user.id,
        ['user', role],
      ]);
      const secret = `lk_sid_${randomBytes(32).toString('base64url')}`;
      await sut.dataSource.query(
        `INSERT INTO sessions (sid_hash, user_id, auth_time, amr, expires_at)
         VALUES ($1, $2, now() - interval '1 minute', '{hwk,user}', now() + interval '1 hour')`,
        [createHash('sha256').update(secret).digest('base64url'), user.id],
      );
      await sut.dataSource.query(
        `INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, $3)`,
        [user.id, client.client_id, consented],
      );
      return { user, cookie: `${sut.config.sessions.cookieName}=${secret}` };
    }

    function authorize(cookie: string, scope: string, resources: string[], verifier: string) {
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: REDIRECT_URI,
        scope,
        state: 'state-1',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
      });
      for (const resource of resources) query.append('resource', resource);
      return fetch(`${sut.baseUrl}/oauth/authorize?${query.toString()}`, {
        redirect: 'manual',
        headers: { cookie },
      });
    }

    function redirectParams(response: Response): URLSearchParams {
      expect(response.status).toBe(302);
      return new URL(response.headers.get('location') ?? '').searchParams;
    }

    function exchange(code: string, verifier: string, extra: Record<string, string> = {}) {
      return tokenRequest(sut.baseUrl, client, {
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        ...extra,
      });
    }

    it('refuses at /authorize a scope the resource does not define', async () => {
      const reports = await register();
      const { cookie } = await signedInUser(['billing:read'], []);
      await sut.app.get(ClientsService).update(client.client_id, {
        allowed_scopes: ['reports:read', 'reports:write', 'billing:read'],
      });
      const params = redirectParams(
        await authorize(cookie, 'openid billing:read', [reports.identifier], pkcePair().verifier),
      );
      expect(params.get('error')).toBe('invalid_scope');
      expect(params.get('error_description')).toBe(
        `the resource ${reports.identifier} does not define: billing:read`,
      );
    });

    it('covers several resources at /authorize; the token endpoint issues one per token', async () => {
      const reports = await register({ scopes: ['reports:read'], access_token_ttl_seconds: 300 });
      const billing = await register({ scopes: ['billing:read'] });
      await sut.app
        .get(ClientsService)
        .update(client.client_id, { allowed_scopes: ['reports:read', 'billing:read'] });
      const scope = 'openid offline_access billing:read reports:read';
      const { cookie } = await signedInUser(['reports:read', 'billing:read'], scope.split(' '));
      const { verifier } = pkcePair();
      const params = redirectParams(
        await authorize(cookie, scope, [reports.identifier, billing.identifier], verifier),
      );
      const code = params.get('code') as string;
      expect(code).toMatch(/^lk_ac_/);

      // Several resources named at the token endpoint: one per access token.
      const several = new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      });
      several.append('resource', reports.identifier);
      several.append('resource', billing.identifier);
      await expectOAuthError(
        await tokenRequest(sut.baseUrl, client, several),
        400,
        'invalid_target',
        'request one resource per access token',
      );

      const response = await exchange(code, verifier, { resource: reports.identifier });
      expect(response.status).toBe(200);
      const body = (await response.json()) as UserTokenBody;
      expect(body.scope).toBe('openid offline_access reports:read');
      expect(body.expires_in).toBe(300);
      expect(decodeJwt(body.access_token).aud).toBe(reports.identifier);

      // A refresh picks another of the granted resources.
      const forBilling = await refresh(sut, client, body.refresh_token as string, {
        resource: billing.identifier,
      });
      expect(forBilling.status).toBe(200);
      const billingBody = (await forBilling.json()) as UserTokenBody;
      expect(decodeJwt(billingBody.access_token).aud).toBe(billing.identifier);
      expect(billingBody.scope).toBe('openid offline_access billing:read');

      // Without resource, a grant of several resources cannot choose.
      await expectOAuthError(
        await refresh(sut, client, billingBody.refresh_token as string),
        400,
        'invalid_target',
        'the grant covers several resources: name one with resource',
      );
      // A resource outside the grant, or a scope the named resource does not define.
      const other = await register();
      await expectOAuthError(
        await refresh(sut, client, billingBody.refresh_token as string, {
          resource: other.identifier,
        }),
        400,
        'invalid_target',
        'the resource is not one the grant was issued for',
      );
      await expectOAuthError(
        await refresh(sut, client, billingBody.refresh_token as string, {
          resource: billing.identifier,
          scope: 'reports:read',
        }),
        400,
        'invalid_scope',
        `the resource ${billing.identifier} does not define: reports:read`,
      );
      // None of the refused requests used up the refresh token.
      const still = await refresh(sut, client, billingBody.refresh_token as string, {
        resource: reports.identifier,
        scope: 'reports:read',
      });
      expect(still.status).toBe(200);
      expect(((await still.json()) as UserTokenBody).scope).toBe('reports:read');
    });

    it('uses the one granted resource without resource, and refuses any other on refresh', async () => {
      const reports = await register({ scopes: ['reports:read'] });
      const issued = await issueCode(sut, client, {
        scope: 'openid offline_access reports:read',
        resource: reports.identifier,
      });
      const response = await redeem(sut, client, issued);
      const body = (await response.json()) as UserTokenBody;
      expect(decodeJwt(body.access_token).aud).toBe(reports.identifier);
      await expectOAuthError(
        await refresh(sut, client, body.refresh_token as string, {
          resource: sut.config.audiences.admin,
        }),
        400,
        'invalid_target',
        'the resource is not one the grant was issued for',
      );
      const again = await refresh(sut, client, body.refresh_token as string, {
        resource: `${reports.identifier}`,
      });
      expect(again.status).toBe(200);
      expect(decodeJwt(((await again.json()) as UserTokenBody).access_token).aud).toBe(
        reports.identifier,
      );
    });

    it('refuses at the code exchange a resource outside the grant', async () => {
      const issued = await issueCode(sut, client, { scope: 'openid' });
      await expectOAuthError(
        await exchange(issued.code, issued.verifier, { resource: sut.config.audiences.admin }),
        400,
        'invalid_target',
        'the resource is not one the grant was issued for',
      );
    });
  });

  describe('across processes', () => {
    it('makes a new resource usable on another node, and a deleted one unusable', async () => {
      const other = await startTestApp();
      try {
        const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
        const tokenOnOther = (resource: string) =>
          tokenRequest(other.baseUrl, client, {
            grant_type: 'client_credentials',
            resource,
          });
        const resource = await register({ scopes: ['reports:read'] });
        expect(
          await eventually(async () => (await tokenOnOther(resource.identifier)).status === 200),
        ).toBe(true);

        await api('PATCH', `/${resource.id}`, { access_token_ttl_seconds: 45 });
        expect(
          await eventually(async () => {
            const response = await tokenOnOther(resource.identifier);
            return ((await response.json()) as { expires_in?: number }).expires_in === 45;
          }),
        ).toBe(true);

        expect((await api('DELETE', `/${resource.id}`)).status).toBe(204);
        expect(
          await eventually(async () => (await tokenOnOther(resource.identifier)).status === 400),
        ).toBe(true);
        await expectOAuthError(
          await tokenOnOther(resource.identifier),
          400,
          'invalid_target',
          'the requested resource is not known to this server',
        );
      } finally {
        await other.close();
      }
    });
  });
});
