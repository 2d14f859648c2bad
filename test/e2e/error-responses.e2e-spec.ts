import { randomBytes, randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { setLogger } from '../../src/common/logger.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import { postForm, startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';

/** What must never reach a client: stack frames, source positions, SQL and driver internals. */
const LEAKS: [string, RegExp][] = [
  ['a stack frame', /\bat \S/],
  ['a source position', /\.(ts|js):\d/],
  ['SQL', /\b(SELECT|INSERT|UPDATE|DELETE FROM)\b/],
  ['a relation name', /relation|users_moved|sessions_moved|clients_moved/],
  ['a driver error', /QueryFailedError|TypeORM|pg_|postgres/i],
  ['class internals', /constructor|prototype|Dto\b|class-validator|__proto__/],
];

function expectNoLeak(body: string): void {
  for (const [what, pattern] of LEAKS) {
    expect({ what, leaked: pattern.exec(body)?.[0] ?? null }).toEqual({ what, leaked: null });
  }
}

/**
 * Internal failures answer a bare 500 with a request id, never the cause. The database is this
 * spec's own: tables are renamed under the running server to make its queries fail.
 */
describe('error responses', () => {
  let sut: TestApp;
  let database: { name: string; url: string };
  let adminToken: string;
  const logged: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    sut = await startTestApp({ DATABASE_URL: database.url });
    setLogger(pino({ level: 'error' }, { write: (line: string) => logged.push(line) }));
    adminToken = await sut.adminToken();
  }, 30_000);

  afterAll(async () => {
    setLogger(pino({ level: 'silent' }));
    await sut?.close();
    if (database) await dropTestDatabase(database.name);
  }, 30_000);

  function admin(method: string, path: string, body?: string): Promise<Response> {
    return fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
  }

  describe('validation errors (4xx)', () => {
    it('name the invalid fields, not the classes behind them', async () => {
      const response = await admin(
        'POST',
        '/admin/clients',
        JSON.stringify({ client_name: 42, grant_types: 'nope', internal_flag: true }),
      );
      const text = await response.text();

      expect(response.status).toBe(400);
      expect(JSON.parse(text)).toMatchObject({ statusCode: 400, code: 'validation_failed' });
      expect(text).toContain('internal_flag');
      expectNoLeak(text);
    });

    it('do not echo the JSON parser', async () => {
      const response = await admin('POST', '/admin/clients', '{"client_name": "x",');
      const text = await response.text();

      expect(response.status).toBe(400);
      expect(JSON.parse(text)).toEqual({
        statusCode: 400,
        code: 'malformed_json',
        message: 'request body is not valid JSON',
        requestId: response.headers.get('x-request-id'),
      });
      expect(text).not.toMatch(/Unexpected|position/);
    });

    it('answer a malformed JWT with a fixed description', async () => {
      const response = await fetch(`${sut.baseUrl}/oauth/userinfo`, {
        headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' },
      });
      const text = await response.text();

      expect(response.status).toBe(401);
      expectNoLeak(text);
      expectNoLeak(response.headers.get('www-authenticate') ?? '');
    });
  });

  describe('internal failures (500)', () => {
    afterEach(async () => {
      for (const table of ['users', 'sessions', 'clients']) {
        await sut.dataSource
          .query(`ALTER TABLE IF EXISTS ${table}_moved RENAME TO ${table}`)
          .catch(() => undefined);
      }
    });

    it('the admin API answers 500 internal_error with the request id', async () => {
      await sut.dataSource.query('ALTER TABLE users RENAME TO users_moved');

      const response = await admin('GET', '/admin/users');
      const text = await response.text();

      expect(response.status).toBe(500);
      const requestId = response.headers.get('x-request-id');
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.parse(text)).toEqual({
        statusCode: 500,
        code: 'internal_error',
        message: 'an unexpected error occurred',
        requestId,
      });
      expectNoLeak(text);
      // The cause is in the log, under the same request id, for the operator.
      expect(logged.some((line) => line.includes(requestId ?? '-') && line.includes('users'))).toBe(
        true,
      );
    });

    it('a protocol endpoint answers 500 server_error', async () => {
      await sut.dataSource.query('ALTER TABLE clients RENAME TO clients_moved');

      const response = await tokenRequest(
        sut.baseUrl,
        { client_id: `unknown-${randomUUID()}`, client_secret: 'x' },
        { grant_type: 'client_credentials' },
      );
      const text = await response.text();

      expect(response.status).toBe(500);
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(JSON.parse(text)).toEqual({
        error: 'server_error',
        error_description: 'the server could not complete the request',
      });
      expectNoLeak(text);
    });

    it('a page answers a friendly 500 page', async () => {
      await sut.dataSource.query('ALTER TABLE sessions RENAME TO sessions_moved');

      const response = await fetch(`${sut.baseUrl}/account`, {
        headers: { cookie: `lk_session=lk_sid_${randomBytes(32).toString('base64url')}` },
        redirect: 'manual',
      });
      const text = await response.text();

      expect(response.status).toBe(500);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(text).toContain('Something went wrong');
      expectNoLeak(text);
    });

    it('a form post on the protocol side answers 500 server_error too', async () => {
      await sut.dataSource.query('ALTER TABLE sessions RENAME TO sessions_moved');

      const response = await postForm(`${sut.baseUrl}/oauth/anonymous`, {});
      const text = await response.text();

      expect(response.status).toBe(500);
      expect(JSON.parse(text)).toEqual({
        error: 'server_error',
        error_description: 'the server could not complete the request',
      });
      expectNoLeak(text);
    });
  });
});
