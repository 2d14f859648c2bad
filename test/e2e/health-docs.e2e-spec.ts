import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../utils/test-app.js';

type Json = Record<string, unknown>;

interface Operation {
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const ADMIN_OPERATIONS: [string, string][] = [
  ['/admin/clients', 'get'],
  ['/admin/clients', 'post'],
  ['/admin/clients/{id}', 'get'],
  ['/admin/clients/{id}', 'patch'],
  ['/admin/clients/{id}', 'delete'],
  ['/admin/clients/{id}/secret', 'post'],
  ['/admin/keys', 'get'],
  ['/admin/keys/rotate', 'post'],
];

describe('health, API docs and request ids', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  describe('health', () => {
    it('reports the process live', async () => {
      const response = await fetch(`${sut.baseUrl}/health/live`);

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
    });

    it('reports ready while the database answers', async () => {
      const response = await fetch(`${sut.baseUrl}/health/ready`);

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok', database: 'up' });
    });

    it('needs no token', async () => {
      const response = await fetch(`${sut.baseUrl}/health/ready`, {
        headers: { authorization: 'Bearer not-a-token' },
      });

      expect(response.status).toBe(200);
    });
  });

  describe('API docs', () => {
    let spec: {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
      components: { securitySchemes: Record<string, Json> };
    };

    beforeAll(async () => {
      const response = await fetch(`${sut.baseUrl}/docs/openapi.json`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      spec = (await response.json()) as typeof spec;
    }, 30_000);

    it('serves Swagger UI as HTML', async () => {
      const response = await fetch(`${sut.baseUrl}/docs`);

      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await response.text()).toMatch(/swagger/i);
    });

    it('is an OpenAPI 3 document with a bearer security scheme', () => {
      expect(spec.openapi).toMatch(/^3\./);
      expect(spec.components.securitySchemes.bearer).toMatchObject({
        type: 'http',
        scheme: 'bearer',
      });
    });

    it.each(ADMIN_OPERATIONS)(
      'documents %s %s with bearer security and 401/403 responses',
      (path, method) => {
        const operation = spec.paths[path]?.[method];

        expect(operation).toBeDefined();
        expect(operation.security).toEqual(expect.arrayContaining([{ bearer: [] }]));
        expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['401', '403']));
      },
    );

    it('leaves the protocol endpoints to the discovery document', () => {
      const paths = Object.keys(spec.paths);

      expect(paths.filter((path) => path.startsWith('/oauth/'))).toEqual([]);
      expect(paths.filter((path) => path.startsWith('/.well-known/'))).toEqual([]);
    });
  });

  describe('X-Request-Id', () => {
    const requests: [string, string, RequestInit][] = [
      ['a health check', '/health/live', {}],
      ['an admin call without a token', '/admin/clients', {}],
      ['a discovery document', '/.well-known/openid-configuration', {}],
      ['the JWKS', '/.well-known/jwks.json', {}],
      [
        'a failed token request',
        '/oauth/token',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        },
      ],
      ['a wrong method on a protocol endpoint', '/oauth/token', {}],
      ['an unknown route', `/no-such-page-${randomUUID()}`, {}],
      ['the API docs', '/docs/openapi.json', {}],
    ];

    it.each(requests)('is set on %s', async (_label, path, init) => {
      const response = await fetch(`${sut.baseUrl}${path}`, init);
      await response.arrayBuffer();

      expect(response.headers.get('x-request-id')).toMatch(UUID);
    });

    it.each(requests)('echoes a sane incoming id on %s', async (_label, path, init) => {
      const id = `trace-${randomUUID()}.1:2_3`;

      const response = await fetch(`${sut.baseUrl}${path}`, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'x-request-id': id },
      });
      await response.arrayBuffer();

      expect(response.headers.get('x-request-id')).toBe(id);
    });

    it.each([
      ['too long', 'a'.repeat(129)],
      ['with spaces', 'id with spaces'],
      ['with markup', '<script>alert(1)</script>'],
      ['with a CRLF-like escape', 'abc%0d%0aSet-Cookie:x=1'],
    ])('replaces an incoming id that is %s', async (_label, id) => {
      const response = await fetch(`${sut.baseUrl}/health/live`, {
        headers: { 'x-request-id': id },
      });
      await response.arrayBuffer();

      const returned = response.headers.get('x-request-id');
      expect(returned).toMatch(UUID);
      expect(returned).not.toBe(id);
    });

    it('gives each request its own id', async () => {
      const ids = new Set<string | null>();
      for (let i = 0; i < 5; i++) {
        const response = await fetch(`${sut.baseUrl}/health/live`);
        await response.arrayBuffer();
        ids.add(response.headers.get('x-request-id'));
      }

      expect(ids.size).toBe(5);
    });
  });

  describe('unknown routes', () => {
    it.each([
      ['GET', `/no-such-page-${randomUUID()}`],
      ['GET', `/admin/no-such-thing`],
      ['DELETE', '/health/live'],
      ['POST', `/oauth/no-such-endpoint`],
    ])('answer %s %s with the admin 404 format', async (method, path) => {
      const response = await fetch(`${sut.baseUrl}${path}`, { method });
      const body = (await response.json()) as Json;

      expect(response.status).toBe(404);
      expect(body).toMatchObject({ statusCode: 404, code: 'not_found' });
      expect(typeof body.message).toBe('string');
      for (const key of Object.keys(body)) {
        expect(['statusCode', 'code', 'message', 'details', 'requestId']).toContain(key);
      }
      expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
    });
  });
});
