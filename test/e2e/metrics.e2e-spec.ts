import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditService } from '../../src/audit/audit.service.js';
import { createTestDatabase, dropTestDatabase } from '../utils/database.js';
import { parseExposition, samplesOf, valueOf, type Sample } from '../utils/prometheus.js';
import {
  eventually,
  freePort,
  postForm,
  startTestApp,
  tokenRequest,
  type TestApp,
  type TestClient,
} from '../utils/test-app.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SERVER = join(ROOT, 'dist/src/main.js');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISSUED = 'latchkey_tokens_issued_total';
const OAUTH_ERRORS = 'latchkey_oauth_errors_total';
const ADMIN_ERRORS = 'latchkey_admin_errors_total';
const CACHE = 'latchkey_cache_requests_total';
const DURATION_COUNT = 'latchkey_http_request_duration_seconds_count';

/** GET /metrics through the real server, parsed. */
async function scrape(sut: TestApp, token?: string): Promise<Sample[]> {
  const response = await fetch(`${sut.baseUrl}/metrics`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`metrics: ${response.status} ${text}`);
  return parseExposition(text);
}

/** Sum over every series of `name` matching `labels` (e.g. every status class of a route). */
function total(samples: Sample[], name: string, labels: Record<string, string>): number {
  return samplesOf(samples, name, labels).reduce((sum, sample) => sum + sample.value, 0);
}

describe('GET /metrics', () => {
  let sut: TestApp;
  let client: TestClient;
  let adminToken: string;

  beforeAll(async () => {
    sut = await startTestApp();
    client = await sut.createClient({
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example.com/callback'],
      allowed_scopes: ['reports:read'],
    });
    adminToken = await sut.adminToken();
  });

  afterAll(async () => {
    await sut.close();
  });

  const clientCredentials = () =>
    tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials' });

  it('answers the exposition format, uncached, with a request id', async () => {
    const response = await fetch(`${sut.baseUrl}/metrics`);
    const text = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-request-id')).toMatch(UUID);
    expect(text).toContain('# TYPE latchkey_tokens_issued_total counter');
    expect(text).toContain('# TYPE latchkey_http_request_duration_seconds histogram');
  });

  it('counts issued tokens, OAuth errors and admin errors by exactly what happened', async () => {
    const before = await scrape(sut);

    for (let i = 0; i < 3; i++) expect((await clientCredentials()).status).toBe(200);
    const wrongSecret = await tokenRequest(
      sut.baseUrl,
      { client_id: client.client_id, client_secret: 'lk_cs_wrong' },
      { grant_type: 'client_credentials' },
    );
    expect(wrongSecret.status).toBe(401);
    expect(((await wrongSecret.json()) as { error: string }).error).toBe('invalid_client');
    const badRefresh = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'refresh_token',
      refresh_token: 'lk_rt_not-a-refresh-token',
    });
    expect(badRefresh.status).toBe(400);
    expect(((await badRefresh.json()) as { error: string }).error).toBe('invalid_grant');
    await sut.adminToken();
    const missing = await fetch(`${sut.baseUrl}/admin/clients/${randomUUID()}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(missing.status).toBe(404);

    const after = await scrape(sut);
    const delta = (name: string, labels: Record<string, string>) =>
      valueOf(after, name, labels) - valueOf(before, name, labels);
    const cc = { grant_type: 'client_credentials' };
    expect(delta(ISSUED, { ...cc, client_type: 'confidential' })).toBe(3);
    expect(delta(ISSUED, { ...cc, client_type: 'service_account' })).toBe(1);
    expect(delta(ISSUED, { ...cc, client_type: 'public' })).toBe(0);
    expect(delta(ISSUED, { grant_type: 'refresh_token', client_type: 'confidential' })).toBe(0);
    const token = { endpoint: '/oauth/token' };
    expect(delta(OAUTH_ERRORS, { ...token, error: 'invalid_client' })).toBe(1);
    expect(delta(OAUTH_ERRORS, { ...token, error: 'invalid_grant' })).toBe(1);
    expect(delta(ADMIN_ERRORS, { code: 'client_not_found' })).toBe(1);
  });

  it('counts the error answers of the authorization endpoint', async () => {
    const before = await scrape(sut);

    const page = await fetch(
      `${sut.baseUrl}/oauth/authorize?response_type=code&client_id=${randomUUID()}`,
      { redirect: 'manual' },
    );
    expect(page.status).toBe(400);

    const after = await scrape(sut);
    const labels = { endpoint: '/oauth/authorize', error: 'invalid_request' };
    expect(valueOf(after, OAUTH_ERRORS, labels) - valueOf(before, OAUTH_ERRORS, labels)).toBe(1);
  });

  it('times requests by route pattern, never by the raw path', async () => {
    const before = await scrape(sut);
    const setupToken = `lk_st_${randomUUID()}`;
    const unknownPath = `/no-such-page-${randomUUID()}`;

    const own = await fetch(`${sut.baseUrl}/admin/clients/${client.client_id}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(own.status).toBe(200);
    await own.arrayBuffer();
    await (await fetch(`${sut.baseUrl}/setup/${setupToken}`)).arrayBuffer();
    const management = await fetch(`${sut.baseUrl}/oauth/register/${client.client_id}`);
    expect(management.status).toBe(401);
    await management.arrayBuffer();
    expect((await fetch(`${sut.baseUrl}${unknownPath}`)).status).toBe(404);

    const moved = (samples: Sample[], labels: Record<string, string>) =>
      total(samples, DURATION_COUNT, labels) - total(before, DURATION_COUNT, labels);
    let after: Sample[] = [];
    // The histogram is written on `finish`, which may trail the client's read by a tick.
    const recorded = await eventually(async () => {
      after = await scrape(sut);
      return moved(after, { route: '/setup/:token' }) === 1;
    });
    expect(recorded).toBe(true);
    expect(moved(after, { route: '/admin/clients/:id', method: 'GET', status_class: '2xx' })).toBe(
      1,
    );
    expect(moved(after, { route: '/oauth/register/:client_id', status_class: '4xx' })).toBe(1);
    expect(moved(after, { route: 'other', method: 'GET', status_class: '4xx' })).toBe(1);
    expect(total(after, DURATION_COUNT, { route: '/oauth/token', method: 'POST' })).toBeGreaterThan(
      0,
    );

    const text = await (await fetch(`${sut.baseUrl}/metrics`)).text();
    for (const secret of [client.client_id, client.client_secret, setupToken, unknownPath]) {
      expect(text).not.toContain(secret);
    }
    const routes = new Set(
      samplesOf(after, DURATION_COUNT).map((sample) => sample.labels.route ?? ''),
    );
    for (const route of routes) {
      expect(route).toMatch(/^(other|\/[A-Za-z0-9._/:*-]*)$/);
      expect(route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-|lk_/);
    }
  });

  it('counts cache lookups on the token and introspection paths', async () => {
    const issued = (await (await clientCredentials()).json()) as { access_token: string };
    const before = await scrape(sut);

    expect((await clientCredentials()).status).toBe(200);
    const introspection = await tokenRequest(
      sut.baseUrl,
      client,
      { token: issued.access_token },
      '/oauth/introspect',
    );
    expect(((await introspection.json()) as { active: boolean }).active).toBe(true);

    const after = await scrape(sut);
    const delta = (cache: string, result: string) =>
      valueOf(after, CACHE, { cache, result }) - valueOf(before, CACHE, { cache, result });
    // Two client authentications, and introspection's check that the token's client still
    // exists; the client was cached by the request before.
    expect(delta('client', 'hit')).toBe(3);
    expect(delta('client', 'miss')).toBe(0);
    expect(delta('signing_keys', 'hit')).toBe(1);
    expect(delta('revocation_list', 'miss')).toBe(1);
    expect(delta('revocation_list', 'hit')).toBe(0);
  });

  it('reports the database pool, the audit backlog and the process', async () => {
    const samples = await scrape(sut);

    expect(valueOf(samples, 'latchkey_db_pool_connections')).toBeGreaterThanOrEqual(1);
    expect(valueOf(samples, 'latchkey_db_pool_max_connections')).toBe(10);
    expect(samplesOf(samples, 'latchkey_db_pool_idle_connections')).toHaveLength(1);
    expect(samplesOf(samples, 'latchkey_db_pool_waiting_requests')).toHaveLength(1);
    expect(valueOf(samples, 'latchkey_db_pool_idle_connections')).toBeLessThanOrEqual(
      valueOf(samples, 'latchkey_db_pool_connections'),
    );
    expect(samplesOf(samples, 'latchkey_audit_queue_events')).toHaveLength(1);
    expect(valueOf(samples, 'latchkey_audit_queue_events')).toBeGreaterThanOrEqual(0);
    expect(samplesOf(samples, 'latchkey_audit_dropped_events_total')).toHaveLength(1);
    expect(samplesOf(samples, 'latchkey_process_cpu_user_seconds_total')).toHaveLength(1);
    expect(samplesOf(samples, 'latchkey_nodejs_eventloop_lag_seconds')).toHaveLength(1);
  });

  it('reports the audit events queued and not yet written', async () => {
    const audit = sut.app.get(AuditService);
    const event = () =>
      audit.record({ type: 'token.issued', actor: { type: 'system', id: 'metrics-test' } });
    // Holding the table makes the backlog stand still: one batch waits on the lock, and what
    // is queued behind it stays queued, whatever the machine's speed. The events of earlier
    // tests are written first, so that the batch waiting on the lock is this test's one event.
    await audit.flush();
    const runner = sut.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query('LOCK TABLE audit_events IN EXCLUSIVE MODE');
      event();
      expect(await eventually(() => Promise.resolve(audit.pending === 0), 5000)).toBe(true);
      for (let i = 0; i < 4; i++) event();

      expect(valueOf(await scrape(sut), 'latchkey_audit_queue_events')).toBe(4);
    } finally {
      await runner.commitTransaction();
      await runner.release();
    }
    const drained = await eventually(
      async () => valueOf(await scrape(sut), 'latchkey_audit_queue_events') === 0,
      5000,
    );
    expect(drained).toBe(true);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  const token = `metrics-${randomUUID()}`;
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp({ METRICS_TOKEN: token });
  });

  afterAll(async () => {
    await sut.close();
  });

  it.each([
    ['no credentials', {}],
    ['a wrong token', { authorization: `Bearer ${token}x` }],
    ['the token as Basic credentials', { authorization: `Basic ${token}` }],
  ])('refuses %s with 401 and a Bearer challenge', async (_label, headers) => {
    const response = await fetch(`${sut.baseUrl}/metrics`, { headers });
    const body = (await response.json()) as { code: string };

    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(body.code).toBe('unauthenticated');
  });

  it('serves the metrics to the token', async () => {
    const samples = await scrape(sut, token);

    expect(samplesOf(samples, 'latchkey_process_cpu_user_seconds_total')).toHaveLength(1);
  });
});

describe('GET /metrics with METRICS_ENABLED=false', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp({ METRICS_ENABLED: 'false' });
  });

  afterAll(async () => {
    await sut.close();
  });

  it('is not found', async () => {
    const response = await fetch(`${sut.baseUrl}/metrics`);

    expect(response.status).toBe(404);
    expect(((await response.json()) as { code: string }).code).toBe('not_found');
  });
});

/** What an OTLP/HTTP JSON export carries, as far as these tests look. */
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { scope: { name: string }; spans: { traceId: string; kind: number }[] }[];
  }[];
}

/**
 * The built server, as its own process: tracing must start before express and pg load, which
 * only a fresh process shows. A collector stub on 127.0.0.1 receives the exports.
 */
describe('OpenTelemetry tracing and request ids in the log (built server)', () => {
  let databaseName = '';
  let collector: Server;
  let server: ChildProcess | undefined;
  let output = '';
  let baseUrl = '';
  const exports: { path: string; contentType: string; body: OtlpExport }[] = [];

  beforeAll(async () => {
    if (!existsSync(SERVER)) throw new Error('dist/ is missing: run `npm run build` first');
    collector = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        exports.push({
          path: req.url ?? '',
          contentType: req.headers['content-type'] ?? '',
          body: JSON.parse(text) as OtlpExport,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((done) => collector.listen(0, '127.0.0.1', done));
    const database = await createTestDatabase();
    databaseName = database.name;
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [SERVER], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: database.url,
        MASTER_KEY: randomBytes(32).toString('hex'),
        ISSUER: baseUrl,
        HOST: '127.0.0.1',
        PORT: String(port),
        LOG_LEVEL: 'info',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
        // Export batches every 100 ms instead of every 5 s.
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const started = await eventually(
      () => Promise.resolve(output.includes('latchkey is listening')),
      30_000,
    );
    if (!started) throw new Error(`the server did not start:\n${output}`);
  }, 40_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((done) => server?.once('exit', done));
      server.kill('SIGTERM');
      await exited;
    }
    await new Promise((done) => collector.close(done));
    if (databaseName) await dropTestDatabase(databaseName);
  });

  it("exports the spans of a request, continuing the caller's trace", async () => {
    const traceId = randomBytes(16).toString('hex');
    const response = await postForm(
      `${baseUrl}/oauth/token`,
      { grant_type: 'client_credentials', client_id: randomUUID(), client_secret: 'lk_cs_x' },
      { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    );
    expect(response.status).toBe(401);

    const inTrace = () =>
      exports.flatMap(({ body }) =>
        body.resourceSpans.flatMap((resource) =>
          resource.scopeSpans.flatMap((scope) =>
            scope.spans
              .filter((span) => span.traceId === traceId)
              .map((span) => ({ scope: scope.scope.name, kind: span.kind, resource })),
          ),
        ),
      );
    const exported = await eventually(() => {
      const scopes = new Set(inTrace().map((span) => span.scope));
      return Promise.resolve(
        scopes.has('@opentelemetry/instrumentation-http') &&
          scopes.has('@opentelemetry/instrumentation-pg'),
      );
    }, 5000);
    expect(exported).toBe(true);
    expect(exports.every((entry) => entry.path === '/v1/traces')).toBe(true);
    expect(exports[0].contentType).toMatch(/^application\/json/);
    const serverSpan = inTrace().find(
      (span) => span.scope === '@opentelemetry/instrumentation-http',
    );
    // OTLP SpanKind 2 = SERVER: the incoming request, a child of the caller's span.
    expect(serverSpan?.kind).toBe(2);
    const names = serverSpan?.resource.resource.attributes.find((a) => a.key === 'service.name');
    expect(names?.value.stringValue).toBe('latchkey');
    // Protocol endpoints are served ahead of express; the admin API goes through it.
    expect(new Set(inTrace().map((span) => span.scope))).not.toContain(
      '@opentelemetry/instrumentation-express',
    );
    const admin = await fetch(`${baseUrl}/admin/clients`, {
      headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    });
    expect(admin.status).toBe(401);
    const throughExpress = await eventually(
      () =>
        Promise.resolve(
          inTrace().some((span) => span.scope === '@opentelemetry/instrumentation-express'),
        ),
      5000,
    );
    expect(throughExpress).toBe(true);
  });

  it('writes the request id it returns into the access log line', async () => {
    const sent = `probe-${randomUUID()}`;
    const echoed = await fetch(`${baseUrl}/health/live`, { headers: { 'x-request-id': sent } });
    const generated = await fetch(`${baseUrl}/.well-known/jwks.json`);
    await Promise.all([echoed.arrayBuffer(), generated.arrayBuffer()]);
    const generatedId = generated.headers.get('x-request-id') ?? '';
    expect(echoed.headers.get('x-request-id')).toBe(sent);
    expect(generatedId).toMatch(UUID);

    const logged = (id: string) =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg?: string; reqId?: string; path?: string })
        .find((entry) => entry.msg === 'request' && entry.reqId === id);
    expect(
      await eventually(() =>
        Promise.resolve(logged(sent) !== undefined && logged(generatedId) !== undefined),
      ),
    ).toBe(true);
    expect(logged(sent)?.path).toBe('/health/live');
    expect(logged(generatedId)?.path).toBe('/.well-known/jwks.json');
  });
});
