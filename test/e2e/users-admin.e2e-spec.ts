import { randomUUID } from 'node:crypto';
import { BootstrapService, describeBootstrap } from '../../src/bootstrap/bootstrap.service.js';
import { UsersService } from '../../src/users/users.service.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import { CookieJar, SoftAuthenticator, register } from '../utils/soft-authenticator.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface ErrorBody {
  statusCode: number;
  code: string;
}

describe('admin users and roles API', () => {
  let sut: TestApp;
  let token: string;

  beforeAll(async () => {
    sut = await startTestApp();
    token = await sut.adminToken();
  });

  afterAll(async () => {
    await sut.close();
  });

  function api(method: string, path: string, body?: unknown): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  async function expectError(response: Response, status: number, code: string): Promise<void> {
    const body = (await response.json()) as ErrorBody;
    expect({ status: response.status, code: body.code }).toEqual({ status, code });
  }

  const email = () => `Person-${randomUUID()}@Example.com`;

  async function createUser(roles?: string[]): Promise<{ id: string; email: string }> {
    const response = await api('POST', '/admin/users', {
      email: email(),
      display_name: 'Someone',
      roles,
    });
    expect(response.status).toBe(201);
    return (await response.json()) as { id: string; email: string };
  }

  describe('/admin/users', () => {
    it('needs an admin bearer token', async () => {
      const response = await fetch(`${sut.baseUrl}/admin/users`);
      expect(response.status).toBe(401);
    });

    it('creates a user with a lower-cased email and the user role by default', async () => {
      const address = email();
      const response = await api('POST', '/admin/users', {
        email: address,
        display_name: ' Grace ',
      });
      expect(response.status).toBe(201);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({
        email: address.toLowerCase(),
        email_verified: false,
        display_name: 'Grace',
        status: 'active',
        roles: ['user'],
      });
      expect(await sut.app.get(UsersService).findByEmail(address.toUpperCase())).toMatchObject({
        id: body.id,
        roles: ['user'],
      });
    });

    it('refuses a duplicate email, whatever its case (409), creating nothing', async () => {
      const address = email();
      expect(
        (await api('POST', '/admin/users', { email: address, display_name: 'A' })).status,
      ).toBe(201);
      const again = await api('POST', '/admin/users', {
        email: address.toUpperCase(),
        display_name: 'B',
      });
      await expectError(again, 409, 'email_taken');
      const rows: unknown[] = await sut.dataSource.query('SELECT 1 FROM users WHERE email = $1', [
        address.toLowerCase(),
      ]);
      expect(rows).toHaveLength(1);
    });

    it.each([
      [{ display_name: 'x' }],
      [{ email: 'not-an-email', display_name: 'x' }],
      [{ email: 'a@example.com', display_name: '' }],
      [{ email: 'a@example.com', display_name: 'x', roles: ['Not A Role'] }],
      [{ email: 'a@example.com', display_name: 'x', extra: true }],
    ])('rejects invalid input %j with 400', async (body) => {
      await expectError(await api('POST', '/admin/users', body), 400, 'validation_failed');
    });

    it('rejects unknown roles', async () => {
      const response = await api('POST', '/admin/users', {
        email: email(),
        display_name: 'x',
        roles: ['user', 'no-such-role'],
      });
      await expectError(response, 400, 'unknown_role');
    });

    it('gets, updates and lists users with cursor pagination', async () => {
      const created = await Promise.all([createUser(), createUser(), createUser()]);
      // Rows written by SQL carry microseconds, and these three share one timestamp.
      const raw: { id: string }[] = await sut.dataSource.query(
        `INSERT INTO users (email, display_name) VALUES ($1, 'a'), ($2, 'b'), ($3, 'c') RETURNING id`,
        [email().toLowerCase(), email().toLowerCase(), email().toLowerCase()],
      );
      created.push(...raw.map((row) => ({ id: row.id, email: '' })));
      const got = await api('GET', `/admin/users/${created[0].id}`);
      expect(got.status).toBe(200);
      const patched = await api('PATCH', `/admin/users/${created[0].id}`, {
        display_name: 'Renamed',
        roles: ['user', 'admin'],
      });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({
        display_name: 'Renamed',
        roles: ['user', 'admin'],
      });

      const seen = new Set<string>();
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '' : `&cursor=${cursor}`;
        const page = await api('GET', `/admin/users?limit=2${query}`);
        expect(page.status).toBe(200);
        const body = (await page.json()) as { data: { id: string }[]; next_cursor: string | null };
        expect(body.data.length).toBeLessThanOrEqual(2);
        for (const user of body.data) {
          expect(seen.has(user.id)).toBe(false);
          seen.add(user.id);
        }
        cursor = body.next_cursor;
      } while (cursor !== null);
      for (const user of created) expect(seen.has(user.id)).toBe(true);

      await expectError(await api('GET', '/admin/users?cursor=garbage'), 400, 'invalid_cursor');
      // Dates JavaScript accepts but PostgreSQL does not must not reach the query (was a 500).
      for (const time of ['1', '2026-13-45T99:00:00.000000Z', 'Tue, 1 Jan 2030']) {
        const cursor = Buffer.from(JSON.stringify([time, randomUUID()])).toString('base64url');
        await expectError(await api('GET', `/admin/users?cursor=${cursor}`), 400, 'invalid_cursor');
      }
    });

    it('answers 404 for unknown or malformed ids', async () => {
      await expectError(await api('GET', `/admin/users/${randomUUID()}`), 404, 'user_not_found');
      await expectError(await api('GET', '/admin/users/not-a-uuid'), 404, 'user_not_found');
      await expectError(
        await api('PATCH', `/admin/users/${randomUUID()}`, { display_name: 'x' }),
        404,
        'user_not_found',
      );
      await expectError(await api('DELETE', `/admin/users/${randomUUID()}`), 404, 'user_not_found');
    });

    it('disables a user (POST /disable and PATCH status)', async () => {
      const user = await createUser();
      const disabled = await api('POST', `/admin/users/${user.id}/disable`);
      expect(disabled.status).toBe(200);
      expect(await disabled.json()).toMatchObject({ status: 'disabled' });
      const enabled = await api('PATCH', `/admin/users/${user.id}`, { status: 'active' });
      expect(await enabled.json()).toMatchObject({ status: 'active' });
      const again = await api('PATCH', `/admin/users/${user.id}`, { status: 'disabled' });
      expect(await again.json()).toMatchObject({ status: 'disabled' });
      await expectError(
        await api('PATCH', `/admin/users/${user.id}`, { status: 'gone' }),
        400,
        'validation_failed',
      );
    });

    it('deletes a user', async () => {
      const user = await createUser();
      expect((await api('DELETE', `/admin/users/${user.id}`)).status).toBe(204);
      await expectError(await api('GET', `/admin/users/${user.id}`), 404, 'user_not_found');
    });
  });

  describe('setup links', () => {
    it('issues a one-time setup link stored only as a hash', async () => {
      const user = await createUser();
      const response = await api('POST', `/admin/users/${user.id}/setup-link`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { setup_url: string; expires_at: string };
      expect(body.setup_url).toMatch(new RegExp(`^${sut.baseUrl}/setup/lk_st_[A-Za-z0-9_-]{43}$`));
      const ttl = Date.parse(body.expires_at) - Date.now();
      expect(ttl).toBeGreaterThan((sut.config.sessions.setupLinkTtlSeconds - 60) * 1000);
      expect(ttl).toBeLessThanOrEqual(sut.config.sessions.setupLinkTtlSeconds * 1000);
      const token = body.setup_url.slice(body.setup_url.lastIndexOf('/') + 1);
      const rows: { token_hash: string }[] = await sut.dataSource.query(
        'SELECT token_hash FROM setup_tokens WHERE user_id = $1',
        [user.id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].token_hash).not.toContain(token);
    });

    it('a new link invalidates the older unused one', async () => {
      const user = await createUser();
      const first = (await (await api('POST', `/admin/users/${user.id}/setup-link`)).json()) as {
        setup_url: string;
      };
      await api('POST', `/admin/users/${user.id}/setup-link`);
      const old = first.setup_url.slice(first.setup_url.lastIndexOf('/') + 1);
      const page = await fetch(`${sut.baseUrl}/setup/${old}`);
      expect(page.status).toBe(400);
    });

    it('answers 404 for an unknown user', async () => {
      await expectError(
        await api('POST', `/admin/users/${randomUUID()}/setup-link`),
        404,
        'user_not_found',
      );
    });
  });

  describe('credentials', () => {
    it('lists and removes a user’s passkeys, the last one too', async () => {
      const user = await createUser();
      const link = (await (await api('POST', `/admin/users/${user.id}/setup-link`)).json()) as {
        setup_url: string;
      };
      const authenticator = SoftAuthenticator.for(sut);
      const enrolled = await register(
        sut,
        new CookieJar(),
        authenticator,
        link.setup_url.slice(link.setup_url.lastIndexOf('/') + 1),
      );
      expect(enrolled.status).toBe(200);

      const list = await api('GET', `/admin/users/${user.id}/credentials`);
      expect(list.status).toBe(200);
      expect(await list.json()).toMatchObject({ data: [{ id: authenticator.id }] });

      const path = `/admin/users/${user.id}/credentials/${encodeURIComponent(authenticator.id)}`;
      expect((await api('DELETE', path)).status).toBe(204);
      await expectError(await api('DELETE', path), 404, 'credential_not_found');
      expect(await (await api('GET', `/admin/users/${user.id}/credentials`)).json()).toEqual({
        data: [],
      });
      await expectError(
        await api('GET', `/admin/users/${randomUUID()}/credentials`),
        404,
        'user_not_found',
      );
    });
  });

  describe('/admin/roles', () => {
    it('lists the built-in roles', async () => {
      const response = await api('GET', '/admin/roles');
      const body = (await response.json()) as { data: { name: string; built_in: boolean }[] };
      expect(body.data.slice(0, 2)).toEqual([
        expect.objectContaining({ name: 'admin', built_in: true, permissions: ['user', 'admin'] }),
        expect.objectContaining({ name: 'user', built_in: true, permissions: ['user'] }),
      ]);
    });

    it('defines, changes and deletes a role, and grants its permissions', async () => {
      const name = `billing-${randomUUID().slice(0, 8)}`;
      const created = await api('POST', '/admin/roles', {
        name,
        description: 'Reads invoices',
        permissions: ['invoices:read'],
      });
      expect(created.status).toBe(201);
      expect(await created.json()).toMatchObject({ name, built_in: false });
      await expectError(
        await api('POST', '/admin/roles', { name, permissions: [] }),
        409,
        'role_name_taken',
      );

      const users = sut.app.get(UsersService);
      const holder = await createUser(['user', name]);
      const record = await users.findById(holder.id);
      if (record === null) throw new Error('user missing');
      expect([...(await users.permissionsOf(record))].sort()).toEqual(['invoices:read', 'user']);

      const changed = await api('PATCH', `/admin/roles/${name}`, {
        permissions: ['invoices:read', 'invoices:write'],
      });
      expect(changed.status).toBe(200);
      // The in-memory role table is invalidated at once.
      expect([...(await users.permissionsOf(record))].sort()).toEqual([
        'invoices:read',
        'invoices:write',
        'user',
      ]);

      await expectError(await api('DELETE', `/admin/roles/${name}`), 409, 'role_in_use');
      await api('PATCH', `/admin/users/${holder.id}`, { roles: ['user'] });
      expect((await api('DELETE', `/admin/roles/${name}`)).status).toBe(204);
      await expectError(await api('GET', `/admin/roles/${name}`), 404, 'role_not_found');
      expect([...(await users.permissionsOf(record))].sort()).toEqual(['user']);
    });

    it('refuses to change or delete built-in roles', async () => {
      await expectError(
        await api('PATCH', '/admin/roles/admin', { permissions: ['user'] }),
        400,
        'role_is_built_in',
      );
      await expectError(await api('DELETE', '/admin/roles/user'), 400, 'role_is_built_in');
      const rows: { permissions: string[] }[] = await sut.dataSource.query(
        `SELECT permissions FROM roles WHERE name = 'admin'`,
      );
      expect(rows[0].permissions).toEqual(['user', 'admin']);
    });

    it.each([
      [{ name: 'Bad Name', permissions: [] }],
      [{ name: 'ok', permissions: ['has space'] }],
      [{ name: 'ok', permissions: 'x' }],
    ])('rejects invalid role %j', async (body) => {
      await expectError(await api('POST', '/admin/roles', body), 400, 'validation_failed');
    });
  });

  describe('bootstrap', () => {
    it('creates the first admin user once, with a setup link, on an empty database', async () => {
      const database = await createTestDatabase();
      const fresh = await startTestApp({
        DATABASE_URL: database.url,
        ADMIN_EMAIL: 'Root@Example.com',
      });
      try {
        const bootstrap = fresh.app.get(BootstrapService);
        const first = await bootstrap.run();
        expect(first.created).toBe(true);
        expect(first.setup_url).toMatch(
          new RegExp(`^${fresh.baseUrl}/setup/lk_st_[A-Za-z0-9_-]{43}$`),
        );
        const admin = await fresh.app.get(UsersService).findByEmail('root@example.com');
        expect(admin).toMatchObject({ roles: ['user', 'admin'], status: 'active' });
        expect(describeBootstrap(first, fresh.config.audiences.admin)).toContain(
          first.setup_url ?? 'missing',
        );
        const page = await fetch(first.setup_url ?? '');
        expect(page.status).toBe(200);

        const second = await bootstrap.run();
        expect(second).toMatchObject({ created: false, client_secret: null, setup_url: null });
        const admins: unknown[] = await fresh.dataSource.query(
          `SELECT 1 FROM users WHERE 'admin' = ANY (roles)`,
        );
        expect(admins).toHaveLength(1);
      } finally {
        await fresh.close();
        await dropTestDatabase(database.name);
      }
    }, 60_000);
  });
});
