import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { setLogger } from '../../src/common/logger.js';
import { DocumentServer, type ServedDocument } from '../utils/document-server.js';
import { enrollAndSignIn, type SignedInUser } from '../utils/soft-authenticator.js';
import { EventBus } from '../../src/database/event-bus.service.js';
import { eventually, postForm, startTestApp, type TestApp } from '../utils/test-app.js';
import { createHash, randomBytes } from 'node:crypto';

const REDIRECT_URI = 'https://agent.example.net/callback';

interface LogLine {
  msg: string;
  clientId?: string;
  reason?: string;
}

/** Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document), end to end. */
describe('client ID metadata documents', () => {
  const docs = new DocumentServer();
  const logs: LogLine[] = [];
  let sut: TestApp;
  let person: SignedInUser;

  beforeAll(async () => {
    await docs.start();
    sut = await startTestApp({
      FETCH_ALLOW_HOSTS: `127.0.0.1:${docs.port}`,
      FETCH_RATE_PER_SECOND: '1000',
      FETCH_HOST_RATE_PER_SECOND: '1000',
    });
    person = await enrollAndSignIn(sut);
    // The refusal reasons are only logged: capture them (after the app started, which mutes logs).
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim()) logs.push(JSON.parse(line) as LogLine);
        }
        done();
      },
    });
    setLogger(pino({ level: 'info' }, sink));
  });

  afterAll(async () => {
    setLogger(pino({ level: 'silent' }));
    await sut.close();
    await docs.stop();
  });

  function pkce(): { verifier: string; challenge: string } {
    const verifier = randomBytes(32).toString('base64url');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  }

  function authorizeUrl(clientId: string, challenge = pkce().challenge): string {
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      scope: 'openid email offline_access',
      state: 'state-1',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    return `${sut.baseUrl}/oauth/authorize?${query.toString()}`;
  }

  function authorize(clientId: string, challenge?: string): Promise<Response> {
    return fetch(authorizeUrl(clientId, challenge), {
      redirect: 'manual',
      headers: { cookie: person.cookie },
    });
  }

  function documentFor(clientId: string, overrides: Record<string, unknown> = {}): object {
    return {
      client_id: clientId,
      client_name: 'Metadata Agent',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      logo_uri: 'https://agent.example.net/logo.png',
      ...overrides,
    };
  }

  /** Serves a document at a fresh path; `body` builds it from the client id (the URL). */
  function publish(body: (clientId: string) => unknown, extra: ServedDocument = {}) {
    const path = `/clients/${randomUUID()}`;
    const clientId = docs.url(path);
    docs.serve(path, { body: body(clientId), ...extra });
    return { clientId, path };
  }

  async function expectUnknown(response: Response): Promise<void> {
    const html = await response.text();
    expect(response.status).toBe(400);
    expect(html).toContain('Unknown application');
  }

  function refusalFor(clientId: string): string | undefined {
    return logs.find((line) => line.clientId === clientId && line.reason !== undefined)?.reason;
  }

  it('shows consent for a valid document and exchanges the code as a public client', async () => {
    const { clientId } = publish((id) => documentFor(id));
    const { verifier, challenge } = pkce();
    const consent = await authorize(clientId, challenge);
    const html = await consent.text();
    expect(consent.status).toBe(200);
    expect(html).toContain('Metadata Agent');
    expect(html).toContain("<strong class='redirect-host'>agent.example.net</strong>");

    const field = (name: string) =>
      (new RegExp(`name='${name}' value='([^']*)'`).exec(html)?.[1] ?? '')
        .replace(/&amp;/g, '&')
        .replace(/&#x3D;/g, '=')
        .replace(/&#x27;/g, "'");
    const decided = await fetch(`${sut.baseUrl}/oauth/authorize/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: person.cookie },
      body: new URLSearchParams({
        request: field('request'),
        csrf: field('csrf'),
        decision: 'approve',
      }),
    });
    expect(decided.status).toBe(303);
    const location = new URL(decided.headers.get('location') ?? '');
    const code = location.searchParams.get('code') ?? '';

    const redeemed = await postForm(`${sut.baseUrl}/oauth/token`, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      client_id: clientId,
    });
    const tokens = (await redeemed.json()) as Record<string, unknown>;
    expect(redeemed.status).toBe(200);
    expect(typeof tokens.access_token).toBe('string');
    expect(typeof tokens.refresh_token).toBe('string');

    const rows = await sut.dataSource.query<Record<string, unknown>[]>(
      `SELECT source, type, token_endpoint_auth_method AS method, metadata_expires_at > now() AS fresh
       FROM clients WHERE id = $1`,
      [clientId],
    );
    expect(rows).toEqual([{ source: 'cimd', type: 'public', method: 'none', fresh: true }]);
  });

  it('advertises support in the discovery document', async () => {
    const metadata = (await (
      await fetch(`${sut.baseUrl}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>;
    expect(metadata.client_id_metadata_document_supported).toBe(true);
  });

  it.each<[string, (id: string) => unknown, ServedDocument, string]>([
    ['a client_id mismatch', (id) => documentFor(`${id}-other`), {}, 'invalid_document'],
    ['no client_name', (id) => documentFor(id, { client_name: undefined }), {}, 'invalid_document'],
    [
      'no redirect_uris',
      (id) => documentFor(id, { redirect_uris: undefined }),
      {},
      'invalid_document',
    ],
    [
      'a client_secret',
      (id) => documentFor(id, { client_secret: 's3cret' }),
      {},
      'invalid_document',
    ],
    [
      'a shared-secret auth method',
      (id) => documentFor(id, { token_endpoint_auth_method: 'client_secret_basic' }),
      {},
      'invalid_document',
    ],
    [
      'jwks without private_key_jwt',
      (id) => documentFor(id, { jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] } }),
      {},
      'invalid_document',
    ],
    [
      'an http redirect URI',
      (id) => documentFor(id, { redirect_uris: ['http://agent.example.net/cb'] }),
      {},
      'invalid_document',
    ],
    [
      'the client_credentials grant',
      (id) => documentFor(id, { grant_types: ['authorization_code', 'client_credentials'] }),
      {},
      'invalid_document',
    ],
    [
      'a user-tier scope (admin)',
      (id) => documentFor(id, { scope: 'openid admin' }),
      {},
      'invalid_document',
    ],
    ['a malformed scope', (id) => documentFor(id, { scope: 'a  b' }), {}, 'invalid_document'],
    ['a JSON array', () => [], {}, 'invalid_document'],
    ['a non-JSON body', () => 'not json', {}, 'invalid_json'],
    [
      'a non-JSON content type',
      (id) => documentFor(id),
      { headers: { 'content-type': 'text/html' } },
      'content_type',
    ],
    [
      'a body over 5 KB',
      (id) => documentFor(id, { client_name: 'x'.repeat(6000) }),
      {},
      'too_large',
    ],
    ['a 404', () => ({}), { status: 404 }, 'status'],
    [
      'a redirect',
      () => ({}),
      { status: 302, headers: { location: 'https://example.com/' } },
      'redirect',
    ],
  ])('treats a document with %s as an unknown client', async (_case, body, extra, reason) => {
    const { clientId } = publish(body, extra);
    await expectUnknown(await authorize(clientId));
    expect(refusalFor(clientId)).toBe(reason);
    const token = await postForm(`${sut.baseUrl}/oauth/token`, {
      grant_type: 'authorization_code',
      code: 'lk_ac_x',
      redirect_uri: REDIRECT_URI,
      code_verifier: 'v'.repeat(43),
      client_id: clientId,
    });
    expect({ status: token.status, body: await token.json() }).toEqual({
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
    });
  });

  it('gives up on a server slower than 5 s', async () => {
    const { clientId } = publish((id) => documentFor(id), { delayMs: 6000 });
    await expectUnknown(await authorize(clientId));
    expect(refusalFor(clientId)).toBe('timeout');
  }, 20_000);

  it('refuses a client id without a path, or not in normalized form', async () => {
    for (const clientId of [docs.url('/'), docs.url('/a/../clients/x'), docs.url('/x#frag')]) {
      await expectUnknown(await authorize(clientId));
    }
  });

  it('resolves a document once while it is fresh', async () => {
    const { clientId, path } = publish((id) => documentFor(id), {
      headers: { 'cache-control': 'max-age=600' },
    });
    expect((await authorize(clientId)).status).toBe(200);
    expect((await authorize(clientId)).status).toBe(200);
    expect(docs.requests(path)).toBe(1);
  });

  it('fetches once for concurrent requests', async () => {
    const { clientId, path } = publish((id) => documentFor(id), { delayMs: 200 });
    const responses = await Promise.all(Array.from({ length: 10 }, () => authorize(clientId)));
    expect(responses.map((response) => response.status)).toEqual(new Array(10).fill(200));
    expect(docs.requests(path)).toBe(1);
  });

  it('fetches again once the stored document has expired, and a fixed document starts working', async () => {
    const path = `/clients/${randomUUID()}`;
    const clientId = docs.url(path);
    docs.serve(path, { body: documentFor(clientId, { client_name: undefined }) });
    await expectUnknown(await authorize(clientId));
    expect(docs.requests(path)).toBe(1);

    // The refusal is remembered only briefly; an invalidation ends it as its TTL would.
    docs.serve(path, { body: documentFor(clientId, { client_name: 'Fixed Agent' }) });
    await sut.app.get(EventBus).publish('clients', clientId);
    expect(await eventually(async () => (await authorize(clientId)).status === 200)).toBe(true);
    expect(docs.requests(path)).toBe(2);

    await sut.dataSource.query(
      `UPDATE clients SET metadata_expires_at = now() - interval '1 second' WHERE id = $1`,
      [clientId],
    );
    await sut.app.get(EventBus).publish('clients', clientId);
    docs.serve(path, { body: documentFor(clientId, { client_name: 'Renamed Agent' }) });
    expect(
      await eventually(async () =>
        (await (await authorize(clientId)).text()).includes('Renamed Agent'),
      ),
    ).toBe(true);
    expect(docs.requests(path)).toBe(3);
  });
});
