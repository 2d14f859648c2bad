import { createHash, randomUUID } from 'node:crypto';
import {
  eventually,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

const CLIENT_SECRET = /^lk_cs_[A-Za-z0-9_-]{43}$/;
const ERROR_KEYS = ['statusCode', 'code', 'message', 'details', 'requestId'];

type Json = Record<string, unknown>;

interface Sent {
  status: number;
  headers: Headers;
  body: Json;
}

/** A name no other test (or test file) uses, so a row can be looked for by it. */
function uniqueName(label: string): string {
  return `admin-clients ${label} ${randomUUID()}`;
}

function sha256Base64url(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

function expectAdminError(response: Sent, status: number, code: string): void {
  expect({ status: response.status, code: response.body.code }).toEqual({ status, code });
  expect(response.body.statusCode).toBe(status);
  expect(typeof response.body.message).toBe('string');
  expect((response.body.message as string).length).toBeGreaterThan(0);
  for (const key of Object.keys(response.body)) expect(ERROR_KEYS).toContain(key);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
}

describe('admin API: /admin/clients', () => {
  let sut: TestApp;
  let token: string;

  beforeAll(async () => {
    sut = await startTestApp();
    token = await sut.adminToken();
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  /** Sends a request to the admin API; a non-string body is sent as JSON. */
  async function send(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Sent> {
    const init: RequestInit = {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
    };
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const response = await fetch(`${sut.baseUrl}${path}`, init);
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: text.length > 0 ? (JSON.parse(text) as Json) : {},
    };
  }

  async function rowsNamed(name: string): Promise<number> {
    const rows = await sut.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM clients WHERE name LIKE '%' || $1 || '%'`,
      [name],
    );
    return rows[0].n;
  }

  async function clientRow(id: string): Promise<Json | undefined> {
    const rows = await sut.dataSource.query<Json[]>(`SELECT * FROM clients WHERE id = $1`, [id]);
    return rows[0];
  }

  /** The row as configuration: everything but last_used_at, which token requests may touch. */
  async function configOf(id: string): Promise<Json | undefined> {
    const row = await clientRow(id);
    if (!row) return undefined;
    const config = { ...row };
    delete config.last_used_at;
    return config;
  }

  async function createViaApi(dto: Json): Promise<Json> {
    const response = await send('POST', '/admin/clients', dto);
    expect(response.status).toBe(201);
    return response.body;
  }

  function clientCredentials(client: TestClient, params: Record<string, string> = {}) {
    return tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials', ...params });
  }

  describe('POST /admin/clients', () => {
    it('creates a confidential client and shows its secret once', async () => {
      const name = uniqueName('confidential');

      const response = await send('POST', '/admin/clients', {
        client_name: name,
        allowed_scopes: ['reports:read'],
        contacts: ['ops@example.com'],
      });

      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({
        client_name: name,
        client_type: 'confidential',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        allowed_scopes: ['reports:read'],
        service_account_roles: [],
        owner_user_id: null,
        contacts: ['ops@example.com'],
        last_used_at: null,
      });
      expect(typeof response.body.client_id).toBe('string');
      expect(response.body.client_secret).toMatch(CLIENT_SECRET);
      expect(Date.parse(response.body.created_at as string)).not.toBeNaN();

      const fetched = await send('GET', `/admin/clients/${response.body.client_id as string}`);
      expect(fetched.status).toBe(200);
      expect(fetched.body).not.toHaveProperty('client_secret');
      const withoutSecret = { ...response.body };
      delete withoutSecret.client_secret;
      expect(fetched.body).toEqual(withoutSecret);
    });

    it('stores the secret only as its SHA-256 hash', async () => {
      const created = await createViaApi({ client_name: uniqueName('hash') });
      const secret = created.client_secret as string;

      const row = await clientRow(created.client_id as string);

      expect(row?.secret_hash).toBe(sha256Base64url(secret));
      const stored = JSON.stringify(row);
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice('lk_cs_'.length));
    });

    it('issues a secret that works at the token endpoint', async () => {
      const created = await createViaApi({
        client_name: uniqueName('works'),
        allowed_scopes: ['reports:read'],
      });
      const client = {
        client_id: created.client_id as string,
        client_secret: created.client_secret as string,
      };

      const response = await clientCredentials(client);

      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ token_type: 'Bearer', scope: 'reports:read' });
    });

    it('creates a public client without a secret', async () => {
      const name = uniqueName('public');

      const response = await send('POST', '/admin/clients', {
        client_name: name,
        client_type: 'public',
        redirect_uris: [
          'https://app.example.com/callback',
          'http://127.0.0.1/callback',
          'com.example.app:/callback',
        ],
      });

      expect(response.status).toBe(201);
      expect(response.body).not.toHaveProperty('client_secret');
      expect(response.body).toMatchObject({
        client_name: name,
        client_type: 'public',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      });
      const row = await clientRow(response.body.client_id as string);
      expect(row?.secret_hash).toBeNull();
      expect(row?.type).toBe('public');
    });

    it('gives every client its own id and secret', async () => {
      const first = await createViaApi({ client_name: uniqueName('first') });
      const second = await createViaApi({ client_name: uniqueName('second') });

      expect(first.client_id).not.toBe(second.client_id);
      expect(first.client_secret).not.toBe(second.client_secret);
    });
  });

  describe('POST /admin/clients with bad input', () => {
    it('refuses unknown fields (validation_failed) and creates nothing', async () => {
      const name = uniqueName('unknown field');

      const response = await send('POST', '/admin/clients', {
        client_name: name,
        client_secret: 'lk_cs_chosen-by-the-caller',
      });

      expectAdminError(response, 400, 'validation_failed');
      expect(response.body.details).toEqual(
        expect.arrayContaining([expect.stringContaining('client_secret')]),
      );
      expect(await rowsNamed(name)).toBe(0);
    });

    it('refuses a missing client_name and creates nothing', async () => {
      const marker = `https://logo.example.com/${randomUUID()}.png`;

      const response = await send('POST', '/admin/clients', { logo_uri: marker });

      expectAdminError(response, 400, 'validation_failed');
      expect(response.body.details).toEqual(
        expect.arrayContaining([expect.stringContaining('client_name')]),
      );
      const rows = await sut.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM clients WHERE logo_uri = $1`,
        [marker],
      );
      expect(rows[0].n).toBe(0);
    });

    it.each<[string, (name: string) => Json]>([
      ['a name over 200 characters', (name) => ({ client_name: name + 'x'.repeat(200) })],
      ['redirect_uris as a string', (name) => ({ client_name: name, redirect_uris: 'https://a' })],
      ['an unknown grant type', (name) => ({ client_name: name, grant_types: ['password'] })],
      ['an unknown client type', (name) => ({ client_name: name, client_type: 'trusted' })],
      ['a scope with a space', (name) => ({ client_name: name, allowed_scopes: ['a b'] })],
      ['a bad contact', (name) => ({ client_name: name, contacts: ['not an email'] })],
      ['a non-uuid owner', (name) => ({ client_name: name, owner_user_id: 'someone' })],
      ['duplicated scopes', (name) => ({ client_name: name, allowed_scopes: ['a', 'a'] })],
    ])('refuses %s (validation_failed) and creates nothing', async (_label, dto) => {
      const name = uniqueName('invalid field');

      const response = await send('POST', '/admin/clients', dto(name));

      expectAdminError(response, 400, 'validation_failed');
      expect(Array.isArray(response.body.details)).toBe(true);
      expect(await rowsNamed(name)).toBe(0);
    });

    it.each([
      ['http on a non-loopback host', 'http://app.example.com/callback'],
      ['a fragment', 'https://app.example.com/callback#frag'],
      ['a relative URI', '/callback'],
      ['a private-use scheme on a confidential client', 'com.example.app:/callback'],
      ['a javascript: URI', 'javascript:alert(1)'],
    ])('refuses a redirect URI with %s (invalid_client_metadata)', async (_label, uri) => {
      const name = uniqueName('redirect');

      const response = await send('POST', '/admin/clients', {
        client_name: name,
        grant_types: ['authorization_code'],
        redirect_uris: [uri],
      });

      expectAdminError(response, 400, 'invalid_client_metadata');
      expect(await rowsNamed(name)).toBe(0);
    });

    it.each<[string, Json]>([
      ['a public client with client_credentials', { grant_types: ['client_credentials'] }],
      [
        'a public client with a secret method',
        { token_endpoint_auth_method: 'client_secret_basic' },
      ],
      ['a public service account', { service_account_roles: ['admin'], grant_types: [] }],
    ])('refuses %s (invalid_client_metadata)', async (_label, extra) => {
      const name = uniqueName('public rules');

      const response = await send('POST', '/admin/clients', {
        client_name: name,
        client_type: 'public',
        redirect_uris: ['https://app.example.com/callback'],
        ...extra,
      });

      expectAdminError(response, 400, 'invalid_client_metadata');
      expect(await rowsNamed(name)).toBe(0);
    });

    it.each<[string, Json]>([
      ['a confidential client without a secret', { token_endpoint_auth_method: 'none' }],
      ['authorization_code without redirect URIs', { grant_types: ['authorization_code'] }],
      ['refresh_token without authorization_code', { grant_types: ['refresh_token'] }],
      ['a user-tier scope without the role', { allowed_scopes: ['admin'] }],
      ['an http logo on a public host', { logo_uri: 'http://cdn.example.com/logo.png' }],
    ])('refuses %s (invalid_client_metadata)', async (_label, extra) => {
      const name = uniqueName('metadata rules');

      const response = await send('POST', '/admin/clients', { client_name: name, ...extra });

      expectAdminError(response, 400, 'invalid_client_metadata');
      expect(await rowsNamed(name)).toBe(0);
    });

    it('refuses malformed JSON (malformed_json) and creates nothing', async () => {
      const name = uniqueName('malformed');

      const response = await send('POST', '/admin/clients', `{"client_name": "${name}",`);

      expectAdminError(response, 400, 'malformed_json');
      expect(await rowsNamed(name)).toBe(0);
    });

    it('refuses a JSON body that is not an object and creates nothing', async () => {
      const name = uniqueName('array');

      const response = await send('POST', '/admin/clients', JSON.stringify([name]));

      expectAdminError(response, 400, 'validation_failed');
      expect(await rowsNamed(name)).toBe(0);
    });

    it('refuses NUL characters in strings with a 4xx, not a server error', async () => {
      const name = uniqueName('nul');

      const response = await send('POST', '/admin/clients', { client_name: `${name}\u0000` });

      expectAdminError(response, 400, 'validation_failed');
      expect(await rowsNamed(name)).toBe(0);
    });

    it.each([
      ['a form', 'application/x-www-form-urlencoded'],
      ['plain text', 'text/plain'],
    ])('refuses %s body (unsupported_media_type) and creates nothing', async (_label, type) => {
      const name = uniqueName('media type');

      const response = await send('POST', '/admin/clients', JSON.stringify({ client_name: name }), {
        'content-type': type,
      });

      expectAdminError(response, 415, 'unsupported_media_type');
      expect(await rowsNamed(name)).toBe(0);
    });

    it('refuses a body over 64 KiB (payload_too_large) and creates nothing', async () => {
      const name = uniqueName('too large');
      const body = JSON.stringify({ client_name: name, logo_uri: 'x'.repeat(65 * 1024) });

      const response = await send('POST', '/admin/clients', body);

      expectAdminError(response, 413, 'payload_too_large');
      expect(await rowsNamed(name)).toBe(0);
    });

    it('refuses a chunked body over 64 KiB (payload_too_large) and creates nothing', async () => {
      const name = uniqueName('too large chunked');
      const payload = new TextEncoder().encode(
        JSON.stringify({ client_name: name, logo_uri: 'x'.repeat(65 * 1024) }),
      );
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < payload.length; at += 8192) {
            controller.enqueue(payload.subarray(at, at + 8192));
          }
          controller.close();
        },
      });

      const response = await fetch(`${sut.baseUrl}/admin/clients`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      });

      expectAdminError(
        {
          status: response.status,
          headers: response.headers,
          body: (await response.json()) as Json,
        },
        413,
        'payload_too_large',
      );
      expect(await rowsNamed(name)).toBe(0);
    });
  });

  describe('GET /admin/clients', () => {
    it('walks every page with limit and next_cursor, in creation order', async () => {
      const prefix = uniqueName('page');
      const mine: string[] = [];
      for (let i = 0; i < 5; i++) {
        mine.push((await sut.createClient({ client_name: `${prefix} ${i}` })).client_id);
      }

      const seen: Json[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const response = await send('GET', `/admin/clients?limit=2${query}`);
        expect(response.status).toBe(200);
        const data = response.body.data as Json[];
        cursor = response.body.next_cursor as string | null;
        expect(data.length).toBeLessThanOrEqual(2);
        if (cursor !== null) expect(data).toHaveLength(2);
        seen.push(...data);
        if (cursor === null || mine.every((id) => seen.some((c) => c.client_id === id))) break;
      }

      const ids = seen.map((client) => client.client_id as string);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.filter((id) => mine.includes(id))).toEqual(mine);
      const order = seen.map((client) => [client.created_at as string, client.client_id as string]);
      const sorted = [...order].sort(([a, ai], [b, bi]) =>
        a !== b ? Date.parse(a) - Date.parse(b) : ai < bi ? -1 : ai > bi ? 1 : 0,
      );
      expect(order).toEqual(sorted);
      expect(seen.every((client) => !('client_secret' in client))).toBe(true);
    });

    it('ends with a null next_cursor', async () => {
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
        const response = await send('GET', `/admin/clients?limit=200${query}`);
        expect(response.status).toBe(200);
        cursor = response.body.next_cursor as string | null;
        pages++;
      } while (cursor !== null && pages < 1000);

      expect(cursor).toBeNull();
    });

    it('defaults to at most 50 clients a page', async () => {
      const response = await send('GET', '/admin/clients');

      expect(response.status).toBe(200);
      expect((response.body.data as Json[]).length).toBeLessThanOrEqual(50);
    });

    it.each([
      ['garbage', 'not-a-cursor!'],
      ['the wrong shape', Buffer.from(JSON.stringify(['x'])).toString('base64url')],
      ['a non-date', Buffer.from(JSON.stringify(['yesterday', 'x'])).toString('base64url')],
      ['a loose date', Buffer.from(JSON.stringify(['1', 'x'])).toString('base64url')],
      [
        'a NUL in the id',
        Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000Z', 'a\u0000'])).toString('base64url'),
      ],
    ])('refuses a cursor with %s (invalid_cursor)', async (_label, cursor) => {
      const response = await send('GET', `/admin/clients?cursor=${encodeURIComponent(cursor)}`);

      expectAdminError(response, 400, 'invalid_cursor');
    });

    it.each([['0'], ['201'], ['abc'], ['1.5'], ['-1']])(
      'refuses limit=%s (validation_failed)',
      async (limit) => {
        const response = await send('GET', `/admin/clients?limit=${limit}`);

        expectAdminError(response, 400, 'validation_failed');
      },
    );

    it('refuses unknown query parameters (validation_failed)', async () => {
      const response = await send('GET', '/admin/clients?type=public');

      expectAdminError(response, 400, 'validation_failed');
    });
  });

  describe('GET /admin/clients/:id', () => {
    it('returns the client without its secret', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });

      const response = await send('GET', `/admin/clients/${client.client_id}`);

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        client_id: client.client_id,
        client_type: 'confidential',
        allowed_scopes: ['reports:read'],
      });
      expect(JSON.stringify(response.body)).not.toContain(client.client_secret);
    });

    it.each([
      ['an unknown id', randomUUID()],
      ['a 600-character id', 'x'.repeat(600)],
    ])('answers 404 client_not_found for %s', async (_label, id) => {
      const response = await send('GET', `/admin/clients/${id}`);

      expectAdminError(response, 404, 'client_not_found');
    });

    // No id can hold NUL: the URL itself is malformed, whatever the route.
    it('refuses a NUL byte in the id with 400 validation_failed', async () => {
      const response = await send('GET', '/admin/clients/%00');

      expectAdminError(response, 400, 'validation_failed');
    });
  });

  describe('PATCH /admin/clients/:id', () => {
    it('updates the client, and the token endpoint sees the change at once', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const before = await clientRow(client.client_id);
      const name = uniqueName('renamed');

      const response = await send('PATCH', `/admin/clients/${client.client_id}`, {
        client_name: name,
        allowed_scopes: ['reports:write'],
        contacts: ['owner@example.com'],
      });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        client_id: client.client_id,
        client_name: name,
        allowed_scopes: ['reports:write'],
        contacts: ['owner@example.com'],
        client_type: 'confidential',
      });
      const fetched = await send('GET', `/admin/clients/${client.client_id}`);
      expect(fetched.body).toEqual(response.body);
      const after = await clientRow(client.client_id);
      expect(after?.name).toBe(name);
      expect(after?.created_at).toEqual(before?.created_at);
      expect(after?.secret_hash).toBe(before?.secret_hash);
      expect((after?.updated_at as Date).getTime()).toBeGreaterThan(
        (before?.updated_at as Date).getTime(),
      );

      const granted = await clientCredentials(client, { scope: 'reports:write' });
      expect(granted.status).toBe(200);
      const refused = await clientCredentials(client, { scope: 'reports:read' });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as Json).error).toBe('invalid_scope');
    });

    it.each<[string, Json, string]>([
      ['the client type', { client_type: 'public' }, 'validation_failed'],
      ['an unknown field', { secret_hash: 'x' }, 'validation_failed'],
      [
        'a bad redirect URI',
        { redirect_uris: ['http://evil.example.com/cb'] },
        'invalid_client_metadata',
      ],
      ['auth method none', { token_endpoint_auth_method: 'none' }, 'invalid_client_metadata'],
      ['a user-tier scope', { allowed_scopes: ['admin'] }, 'invalid_client_metadata'],
      ['an empty name', { client_name: '' }, 'validation_failed'],
    ])('refuses a change of %s and changes nothing', async (_label, dto, code) => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const before = await configOf(client.client_id);

      const response = await send('PATCH', `/admin/clients/${client.client_id}`, dto);

      expectAdminError(response, 400, code);
      expect(await configOf(client.client_id)).toEqual(before);
    });

    it('refuses malformed JSON and changes nothing', async () => {
      const client = await sut.createClient();
      const before = await configOf(client.client_id);

      const response = await send('PATCH', `/admin/clients/${client.client_id}`, '{"client_name":');

      expectAdminError(response, 400, 'malformed_json');
      expect(await configOf(client.client_id)).toEqual(before);
    });

    it('answers 404 client_not_found for an unknown client and creates nothing', async () => {
      const id = randomUUID();

      const response = await send('PATCH', `/admin/clients/${id}`, { client_name: 'x' });

      expectAdminError(response, 404, 'client_not_found');
      expect(await clientRow(id)).toBeUndefined();
    });
  });

  describe('DELETE /admin/clients/:id', () => {
    it('deletes the client; its secret stops working at once', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      expect((await clientCredentials(client)).status).toBe(200);

      const response = await fetch(`${sut.baseUrl}/admin/clients/${client.client_id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token}` },
      });

      expect(response.status).toBe(204);
      expect(await response.text()).toBe('');
      expect(await clientRow(client.client_id)).toBeUndefined();
      expectAdminError(
        await send('GET', `/admin/clients/${client.client_id}`),
        404,
        'client_not_found',
      );
      expectAdminError(
        await send('DELETE', `/admin/clients/${client.client_id}`),
        404,
        'client_not_found',
      );
      const refused = await clientCredentials(client);
      expect(refused.status).toBe(401);
      expect(((await refused.json()) as Json).error).toBe('invalid_client');
    });

    it('answers 404 client_not_found for an unknown id', async () => {
      const other = await sut.createClient();

      const response = await send('DELETE', `/admin/clients/${randomUUID()}`);

      expectAdminError(response, 404, 'client_not_found');
      expect(await clientRow(other.client_id)).toBeDefined();
    });

    it('refuses a NUL byte in the id with 400 validation_failed and deletes nothing', async () => {
      const other = await sut.createClient();

      const response = await send('DELETE', '/admin/clients/%00');

      expectAdminError(response, 400, 'validation_failed');
      expect(await clientRow(other.client_id)).toBeDefined();
    });
  });

  describe('POST /admin/clients/:id/secret', () => {
    it('issues a new secret; the old one stops working at once', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      expect((await clientCredentials(client)).status).toBe(200);
      const before = await clientRow(client.client_id);

      const response = await send('POST', `/admin/clients/${client.client_id}/secret`);

      expect(response.status).toBe(200);
      expect(Object.keys(response.body).sort()).toEqual(['client_id', 'client_secret']);
      expect(response.body.client_id).toBe(client.client_id);
      const secret = response.body.client_secret as string;
      expect(secret).toMatch(CLIENT_SECRET);
      expect(secret).not.toBe(client.client_secret);

      const after = await clientRow(client.client_id);
      expect(after?.secret_hash).toBe(sha256Base64url(secret));
      expect(JSON.stringify(after)).not.toContain(secret);
      expect((after?.secret_rotated_at as Date).getTime()).toBeGreaterThan(
        (before?.secret_rotated_at as Date).getTime(),
      );

      const renewed = await clientCredentials({
        client_id: client.client_id,
        client_secret: secret,
      });
      expect(renewed.status).toBe(200);
      const stale = await clientCredentials(client);
      expect(stale.status).toBe(401);
      expect(((await stale.json()) as Json).error).toBe('invalid_client');
    });

    it('refuses a public client (client_is_public) and changes nothing', async () => {
      const created = await createViaApi({
        client_name: uniqueName('public secret'),
        client_type: 'public',
        redirect_uris: ['https://app.example.com/callback'],
      });
      const id = created.client_id as string;
      const before = await configOf(id);

      const response = await send('POST', `/admin/clients/${id}/secret`);

      expectAdminError(response, 400, 'client_is_public');
      expect(await configOf(id)).toEqual(before);
    });

    it('answers 404 client_not_found for an unknown client', async () => {
      const id = randomUUID();

      const response = await send('POST', `/admin/clients/${id}/secret`);

      expectAdminError(response, 404, 'client_not_found');
      expect(await clientRow(id)).toBeUndefined();
    });
  });

  describe('last_used_at', () => {
    it('is set after the client gets a token', async () => {
      const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
      const initially = await send('GET', `/admin/clients/${client.client_id}`);
      expect(initially.body.last_used_at).toBeNull();
      const requestedAt = Date.now();

      expect((await clientCredentials(client)).status).toBe(200);

      let lastUsedAt: unknown = null;
      const recorded = await eventually(
        async () => {
          const response = await send('GET', `/admin/clients/${client.client_id}`);
          lastUsedAt = response.body.last_used_at;
          return lastUsedAt !== null;
        },
        8000,
        250,
      );
      expect(recorded).toBe(true);
      // Same host, same clock: allow only for rounding.
      expect(Date.parse(lastUsedAt as string)).toBeGreaterThanOrEqual(requestedAt - 1000);
      expect(Date.parse(lastUsedAt as string)).toBeLessThanOrEqual(Date.now() + 1000);
    }, 30_000);
  });
});
