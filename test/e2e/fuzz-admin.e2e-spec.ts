import fc from 'fast-check';
import {
  encode,
  expectAdminError,
  expectDatabaseUnchanged,
  expectNoLeak,
  failWith,
  forgedJwt,
  fuzzOptions,
  fuzzString,
  fuzzTimeout,
  headerText,
  jsonValue,
  jwtMaterial,
  send,
  startFuzzApp,
  type FuzzApp,
  type JwtMaterial,
} from '../utils/fuzz.js';

/** The slice of an OpenAPI 3 document this spec reads. */
interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  items?: Schema;
  properties?: Record<string, Schema>;
  allOf?: Schema[];
}
interface Operation {
  parameters?: { name: string; in: string }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

interface Route {
  method: string;
  /** OpenAPI template, e.g. /admin/users/{id}/credentials/{credentialId}. */
  path: string;
  params: string[];
  query: string[];
  body: Record<string, Schema> | null;
}

describe('fuzzed admin API requests', () => {
  let fuzz: FuzzApp;
  let baseUrl: string;
  let token: string;
  let routes: Route[];
  let material: JwtMaterial;
  /** Real ids of one row per resource, keyed by the path parameter's owner. */
  const real = new Map<string, string>();

  function resolve(doc: OpenApi, schema: Schema | undefined): Record<string, Schema> | null {
    if (!schema) return null;
    if (schema.$ref)
      return resolve(doc, doc.components.schemas[schema.$ref.split('/').pop() ?? '']);
    if (schema.allOf) {
      return Object.assign({}, ...schema.allOf.map((part) => resolve(doc, part) ?? {})) as Record<
        string,
        Schema
      >;
    }
    return schema.properties ?? null;
  }

  beforeAll(async () => {
    fuzz = await startFuzzApp();
    baseUrl = fuzz.sut.baseUrl;
    token = await fuzz.sut.adminToken();
    const doc = (await (await fetch(`${baseUrl}/docs/openapi.json`)).json()) as OpenApi;
    routes = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.startsWith('/admin/')) continue;
      for (const [method, operation] of Object.entries(methods)) {
        const parameters = operation.parameters ?? [];
        routes.push({
          method: method.toUpperCase(),
          path,
          params: parameters.filter((p) => p.in === 'path').map((p) => p.name),
          query: parameters.filter((p) => p.in === 'query').map((p) => p.name),
          body: resolve(doc, operation.requestBody?.content?.['application/json']?.schema),
        });
      }
    }
    material = await jwtMaterial(
      { iss: baseUrl, aud: fuzz.sut.config.audiences.admin, sub: 'fuzz' },
      [token],
    );
    // One real row of each kind, made before any snapshot, so fuzzed PATCH/PUT reach the row.
    const create = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const received = await admin('POST', path, JSON.stringify(body));
      if (received.status !== 201 && received.status !== 200)
        failWith(received, `could not create a fixture at ${path}`);
      return received.json as Record<string, unknown>;
    };
    const client = await create('/admin/clients', { client_name: 'fuzz fixture' });
    real.set('clients', String(client.client_id));
    const user = await create('/admin/users', { email: 'fuzz@example.com', display_name: 'F' });
    real.set('users', String(user.id));
    const resource = await create('/admin/resources', {
      identifier: 'https://api.fuzz.example.com',
      name: 'fuzz',
      scopes: [{ name: 'read' }],
    }).catch(() => null);
    if (resource) real.set('resources', String(resource.id));
    const issuer = await create('/admin/trusted-issuers', {
      issuer: 'https://idp.fuzz.example.com',
      jwks_uri: 'https://idp.fuzz.example.com/jwks',
    }).catch(() => null);
    if (issuer) real.set('trusted-issuers', String(issuer.id));
    const role = await create('/admin/roles', { name: 'fuzz-role', permissions: [] }).catch(
      () => null,
    );
    if (role) real.set('roles', String(role.name));
  });

  afterAll(async () => {
    await fuzz.close();
  });

  function admin(
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ) {
    return send(baseUrl, {
      method,
      path,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body,
    });
  }

  /** A value that no validator of `schema` can accept. */
  function wrongFor(schema: Schema): fc.Arbitrary<unknown> {
    const notString = fc.constantFrom<unknown>(42, true, [], { a: 1 }, [['x']]);
    switch (schema.type) {
      case 'string':
        return schema.enum
          ? fc.oneof(notString, fc.constantFrom('not-in-the-enum', ''))
          : notString;
      case 'array':
        return fc.constantFrom<unknown>('x', 42, { a: 1 }, true, [{ nested: [] }], [42, {}]);
      case 'boolean':
        return fc.constantFrom<unknown>('yes', 'true', 1, [], {});
      case 'integer':
      case 'number':
        return fc.constantFrom<unknown>('abc', [], {}, true, 'Infinity');
      case 'object':
        return fc.constantFrom<unknown>('x', 42, [], true);
      case 'null':
      case undefined:
      default:
        return notString;
    }
  }

  /**
   * A JSON body that must be refused: random values for known and unknown fields, plus one
   * poisoned member (a wrong type for a known field, or a field no DTO declares).
   */
  function poisonedBody(route: Route): fc.Arbitrary<string> {
    const fields = Object.entries(route.body ?? {});
    const names = fields.map(([name]) => name);
    const random = fc.dictionary(
      names.length > 0
        ? fc.oneof(fc.constantFrom(...names), fc.string({ maxLength: 10 }))
        : fc.string({ maxLength: 10 }),
      jsonValue(),
      { maxKeys: 6 },
    );
    const poisons: fc.Arbitrary<[string, unknown]>[] = [
      fc
        .tuple(
          fc.string({ minLength: 1, maxLength: 12 }).filter((name) => !names.includes(name)),
          jsonValue(),
        )
        .map(([name, value]) => [`x_${name}`, value]),
    ];
    for (const [name, schema] of fields) {
      if (['string', 'array', 'boolean', 'integer', 'number', 'object'].includes(schema.type ?? ''))
        poisons.push(wrongFor(schema).map((value) => [name, value]));
    }
    return fc
      .tuple(random, fc.oneof(...poisons))
      .map(([body, [name, value]]) => JSON.stringify({ ...body, [name]: value }));
  }

  /** Ids that are not UUIDs, or UUIDs of nothing, or path tricks. */
  const fakeId = fc.oneof(
    fuzzString({ huge: false })
      .filter((id) => id.length > 0)
      .map(encode),
    fc.uuid(),
    fc.constantFrom(
      '%',
      '%zz',
      '%00',
      '..',
      '%2e%2e',
      'a%2Fb',
      'x'.repeat(5000),
      '-1',
      '0',
      'null',
    ),
  );

  function fill(route: Route, ids: Record<string, string>): string {
    return route.path.replace(/\{(\w+)\}/g, (_, name: string) => ids[name] ?? 'x');
  }

  function ownerOf(route: Route): string {
    return route.path.split('/')[2];
  }

  it(
    'random path ids, random bodies and random query strings on every admin route get a 4xx',
    async () => {
      const withParams = routes.filter((route) => route.params.length > 0);
      expect(withParams.length).toBeGreaterThan(10);
      const request = fc.record({
        route: fc.constantFrom(...withParams),
        ids: fc.array(fakeId, { minLength: 3, maxLength: 3 }),
        body: fc.option(
          jsonValue().map((v) => JSON.stringify(v)),
          { nil: undefined },
        ),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ route, ids, body }) => {
            const named = Object.fromEntries(route.params.map((name, i) => [name, ids[i]]));
            // Roles are named, not numbered: keep the built-in ones out of reach.
            if (ownerOf(route) === 'roles' && ['admin', 'user'].includes(named.name ?? '')) return;
            const received = await admin(route.method, fill(route, named), body);
            if (route.method === 'GET' && received.status === 200) {
              expectNoLeak(received);
              return;
            }
            expectAdminError(received);
          }),
          fuzzOptions(4),
        );
      });
    },
    fuzzTimeout(4),
  );

  it(
    'POST, PUT and PATCH with a poisoned body are refused, for real and made-up ids alike',
    async () => {
      const withBody = routes.filter((route) => route.body !== null);
      expect(withBody.length).toBeGreaterThan(5);
      const request = fc.constantFrom(...withBody).chain((route) =>
        fc.record({
          route: fc.constant(route),
          body: poisonedBody(route),
          useReal: fc.boolean(),
          ids: fc.array(fakeId, { minLength: 3, maxLength: 3 }),
        }),
      );
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ route, body, useReal, ids }) => {
            const named = Object.fromEntries(
              route.params.map((name, i) => [
                name,
                i === 0 && useReal && real.has(ownerOf(route))
                  ? (real.get(ownerOf(route)) as string)
                  : ids[i],
              ]),
            );
            const received = await admin(route.method, fill(route, named), body);
            expectAdminError(received);
          }),
          fuzzOptions(4),
        );
      });
    },
    fuzzTimeout(4),
  );

  it(
    'list endpoints: random limits, cursors and filters give a page or a 400',
    async () => {
      const lists = routes.filter((route) => route.method === 'GET' && route.params.length === 0);
      expect(lists.length).toBeGreaterThan(3);
      const value = fc.oneof(
        fuzzString({ huge: false }),
        fc.integer().map(String),
        fc.constantFrom('0', '1', '200', '201', '-5', '1.5', '1e3', 'NaN', '', 'eyJ9', 'W10'),
        fc
          .jsonValue({ maxDepth: 2 })
          .map((v) => Buffer.from(JSON.stringify(v)).toString('base64url')),
      );
      const request = fc.constantFrom(...lists).chain((route) =>
        fc.record({
          route: fc.constant(route),
          pairs: fc.array(
            fc.tuple(
              fc.oneof(
                { weight: 4, arbitrary: fc.constantFrom('limit', 'cursor', ...route.query) },
                { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
              ),
              value,
            ),
            { maxLength: 4 },
          ),
        }),
      );
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ route, pairs }) => {
            const query = pairs.map(([n, v]) => `${encode(n)}=${encode(v)}`).join('&');
            const received = await admin('GET', `${route.path}?${query}`);
            if (received.status === 200) {
              expectNoLeak(received);
              const body = received.json as { data?: unknown };
              if (!Array.isArray(body.data)) failWith(received, 'a page without data');
              return;
            }
            expectAdminError(received);
          }),
          fuzzOptions(3),
        );
      });
    },
    fuzzTimeout(3),
  );

  it(
    'forged bearer tokens (alg none, foreign keys, tampered claims) get 401 with a Bearer challenge',
    async () => {
      const request = fc.record({
        route: fc.constantFrom(...routes),
        authorization: fc.oneof(
          forgedJwt(material).map((jwt) => `Bearer ${jwt}`),
          headerText(),
        ),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ route, authorization }) => {
            const received = await send(baseUrl, {
              method: route.method,
              path: fill(route, { id: real.get(ownerOf(route)) ?? 'x' }),
              headers: { authorization, 'content-type': 'application/json' },
              body: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}',
            });
            expectAdminError(received);
            if (received.status !== 401 && received.status !== 400)
              failWith(received, 'a forged token must not get past authentication');
            if (!/^Bearer\b/.test(received.headers.get('www-authenticate') ?? ''))
              failWith(received, 'no RFC 6750 challenge');
          }),
          fuzzOptions(2),
        );
      });
    },
    fuzzTimeout(2),
  );

  it(
    'wrong content types, broken JSON and huge bodies are refused in the admin format',
    async () => {
      const writes = routes.filter((route) => route.body !== null);
      const request = fc.record({
        route: fc.constantFrom(...writes),
        contentType: fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/xml',
          'multipart/form-data; boundary=x',
        ),
        body: fc.oneof(
          fc.constantFrom('{', '[1,2', '{"a":}', 'null', '[]', '"x"', '1', '{"a":"\\u0000"}'),
          fc
            .integer({ min: 70_000, max: 200_000 })
            .map((n) => JSON.stringify({ x: 'A'.repeat(n) })),
          // An empty body reads as {}: a legitimate no-op PATCH, so it is not fuzzed here.
          fuzzString({ huge: false }).filter((text) => text !== ''),
        ),
        useReal: fc.boolean(),
      });
      await expectDatabaseUnchanged(fuzz.db, async () => {
        await fc.assert(
          fc.asyncProperty(request, async ({ route, contentType, body, useReal }) => {
            const id = useReal ? (real.get(ownerOf(route)) ?? 'x') : 'x';
            const received = await admin(route.method, fill(route, { id, name: id }), body, {
              'content-type': contentType,
            });
            expectAdminError(received);
          }),
          fuzzOptions(2),
        );
      });
    },
    fuzzTimeout(2),
  );

  it('a NUL in any path parameter is a 400, never a failed query', async () => {
    // Once a 500: DELETE /admin/roles/%00 sent the NUL to PostgreSQL, which refuses it in text.
    const withParams = routes.filter((route) => route.params.length > 0);
    await expectDatabaseUnchanged(fuzz.db, async () => {
      for (const route of withParams) {
        for (const id of ['%00', 'a%00b']) {
          const named = Object.fromEntries(route.params.map((name) => [name, id]));
          const received = await admin(route.method, fill(route, named), undefined);
          expectAdminError(received);
          expect(received.status).toBe(400);
        }
      }
    });
  });

  it('the database watch sees one changed row (so the checks above are not vacuous)', async () => {
    const before = await fuzz.db.snapshot();
    const received = await admin(
      'PATCH',
      `/admin/users/${real.get('users')}`,
      JSON.stringify({ display_name: 'changed on purpose' }),
    );
    expect(received.status).toBe(200);
    const after = await fuzz.db.snapshot();
    expect(after.users).not.toEqual(before.users);
    expect({ ...after, users: before.users }).toEqual(before);
  });

  it('the fuzzed routes include every admin controller', () => {
    const owners = new Set(routes.map(ownerOf));
    for (const owner of [
      'clients',
      'users',
      'roles',
      'resources',
      'trusted-issuers',
      'keys',
      'initial-access-tokens',
      'audit-events',
    ]) {
      expect(owners).toContain(owner);
    }
  });
});
