import { startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';

type Json = Record<string, unknown>;

const OPENID_CONFIGURATION = '/.well-known/openid-configuration';
const AUTHORIZATION_SERVER = '/.well-known/oauth-authorization-server';
const JWKS = '/.well-known/jwks.json';
const PROTECTED_RESOURCE = '/.well-known/oauth-protected-resource';
const DOCUMENTS = [OPENID_CONFIGURATION, AUTHORIZATION_SERVER, JWKS, PROTECTED_RESOURCE];
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

describe('discovery documents', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  }, 30_000);

  afterAll(async () => {
    await sut.close();
  }, 30_000);

  async function getJson(path: string): Promise<Json> {
    const response = await fetch(`${sut.baseUrl}${path}`);
    expect(response.status).toBe(200);
    return (await response.json()) as Json;
  }

  it('serves byte-identical metadata on both well-known paths', async () => {
    const [openid, oauth] = await Promise.all([
      fetch(`${sut.baseUrl}${OPENID_CONFIGURATION}`),
      fetch(`${sut.baseUrl}${AUTHORIZATION_SERVER}`),
    ]);

    expect(openid.status).toBe(200);
    expect(oauth.status).toBe(200);
    const a = Buffer.from(await openid.arrayBuffer());
    const b = Buffer.from(await oauth.arrayBuffer());
    expect(a.equals(b)).toBe(true);
    expect(openid.headers.get('etag')).toBe(oauth.headers.get('etag'));
    expect(openid.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('names the issuer exactly as the base URL, and every endpoint under it', async () => {
    const metadata = await getJson(OPENID_CONFIGURATION);

    expect(metadata.issuer).toBe(sut.baseUrl);
    expect(metadata.issuer).toBe(sut.config.issuer);
    expect(metadata.jwks_uri).toBe(`${sut.baseUrl}${JWKS}`);
    expect(metadata.token_endpoint).toBe(`${sut.baseUrl}/oauth/token`);
    for (const [name, value] of Object.entries(metadata)) {
      if (name.endsWith('_endpoint') || name.endsWith('_uri')) {
        expect(value).toEqual(expect.stringMatching(new RegExp(`^${sut.baseUrl}/`)));
      }
    }
  });

  it('advertises only endpoints that exist', async () => {
    const metadata = await getJson(OPENID_CONFIGURATION);
    const urls = Object.entries(metadata).filter(
      ([name, value]) =>
        (name.endsWith('_endpoint') || name === 'jwks_uri') && typeof value === 'string',
    );
    expect(urls.length).toBeGreaterThanOrEqual(4);

    // A POST-only endpoint answers GET with 405, which still shows it is routed.
    for (const [name, url] of urls) {
      const response = await fetch(url as string);
      await response.arrayBuffer();
      expect({ name, status: response.status }).not.toEqual({ name, status: 404 });
    }
  });

  it('advertises exactly the grants the token endpoint serves', async () => {
    const metadata = await getJson(OPENID_CONFIGURATION);

    expect(metadata.grant_types_supported).toEqual([
      'authorization_code',
      'refresh_token',
      'client_credentials',
      'urn:ietf:params:oauth:grant-type:token-exchange',
    ]);
    // `none`: public clients redeem codes with PKCE alone.
    expect(metadata.token_endpoint_auth_methods_supported).toEqual([
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
      'none',
    ]);
    expect(metadata.introspection_endpoint_auth_methods_supported).toEqual([
      'client_secret_basic',
      'client_secret_post',
      'private_key_jwt',
    ]);
    const algs = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
    expect(metadata.token_endpoint_auth_signing_alg_values_supported).toEqual(algs);
    expect(metadata.introspection_endpoint_auth_signing_alg_values_supported).toEqual(algs);
    expect(metadata.revocation_endpoint_auth_signing_alg_values_supported).toEqual(algs);
    expect(metadata.client_id_metadata_document_supported).toBe(true);

    const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
    for (const grant of metadata.grant_types_supported as string[]) {
      const response = await tokenRequest(sut.baseUrl, client, { grant_type: grant });
      const body = (await response.json()) as Json;
      expect({ grant, error: body.error }).not.toEqual({ grant, error: 'unsupported_grant_type' });
    }
    const password = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'password',
      username: 'u',
      password: 'p',
    });
    expect(password.status).toBe(400);
    expect(((await password.json()) as Json).error).toBe('unsupported_grant_type');
  });

  it.each(DOCUMENTS)('serves %s with an ETag and a public max-age', async (path) => {
    const response = await fetch(`${sut.baseUrl}${path}`);

    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const cacheControl = response.headers.get('cache-control') ?? '';
    expect(cacheControl).toMatch(/^public, max-age=\d+$/);
    expect(Number(/max-age=(\d+)/.exec(cacheControl)?.[1])).toBeGreaterThan(0);
    expect(Number(response.headers.get('content-length'))).toBe(
      (await response.arrayBuffer()).byteLength,
    );
  });

  /** One round of conditional requests against the document's current ETag. */
  async function conditionalRound(path: string) {
    const first = await fetch(`${sut.baseUrl}${path}`);
    const etag = first.headers.get('etag') as string;
    await first.arrayBuffer();
    const results: { header: string; status: number; etag: string | null; body: string }[] = [];
    for (const header of [etag, `W/${etag}`, `"something-else", ${etag}`]) {
      const response = await fetch(`${sut.baseUrl}${path}`, {
        headers: { 'if-none-match': header },
      });
      results.push({
        header,
        status: response.status,
        etag: response.headers.get('etag'),
        body: await response.text(),
      });
    }
    return { etag, results };
  }

  it.each(DOCUMENTS)('answers a matching If-None-Match on %s with 304', async (path) => {
    // The JWKS changes when another test file rotates keys; a round it changed in is retried.
    let round = await conditionalRound(path);
    for (let retry = 0; retry < 3 && round.results.some((r) => r.etag !== round.etag); retry++) {
      round = await conditionalRound(path);
    }

    for (const result of round.results) {
      expect(result).toEqual({ header: result.header, status: 304, etag: round.etag, body: '' });
    }
    const stale = await fetch(`${sut.baseUrl}${path}`, {
      headers: { 'if-none-match': '"not-the-etag"' },
    });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('answers HEAD with the headers and no body', async () => {
    const response = await fetch(`${sut.baseUrl}${OPENID_CONFIGURATION}`, { method: 'HEAD' });

    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toMatch(/^"/);
    expect(await response.text()).toBe('');
  });

  it('ignores a query string on a document path', async () => {
    const plain = await fetch(`${sut.baseUrl}${OPENID_CONFIGURATION}`);
    const queried = await fetch(`${sut.baseUrl}${OPENID_CONFIGURATION}?x=1`);

    expect(queried.status).toBe(200);
    expect(await queried.text()).toBe(await plain.text());
  });

  it('publishes public keys only in the JWKS', async () => {
    const jwks = await getJson(JWKS);
    const keys = jwks.keys as Json[];

    expect(Object.keys(jwks)).toEqual(['keys']);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    const kids = keys.map((key) => key.kid);
    expect(new Set(kids).size).toBe(kids.length);
    for (const key of keys) {
      expect(key.use).toBe('sig');
      expect([typeof key.kid, typeof key.alg]).toEqual(['string', 'string']);
      expect(['EC', 'RSA', 'OKP']).toContain(key.kty);
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member);
    }
    expect(keys.some((key) => key.alg === 'ES256')).toBe(true);
    expect(keys.some((key) => key.alg === 'RS256')).toBe(true);
  });

  it('describes the admin API as a protected resource (RFC 9728)', async () => {
    const metadata = await getJson(PROTECTED_RESOURCE);

    expect(metadata.resource).toBe(sut.config.audiences.admin);
    expect(metadata.authorization_servers).toEqual([sut.config.issuer]);
    expect(metadata.scopes_supported).toEqual(['admin']);
    expect(metadata.bearer_methods_supported).toEqual(['header']);
  });

  it.each(DOCUMENTS)('refuses POST to %s with a 405 OAuth error', async (path) => {
    const before = await fetch(`${sut.baseUrl}${path}`);
    const etag = before.headers.get('etag');
    await before.arrayBuffer();

    const response = await fetch(`${sut.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ issuer: 'https://evil.example' }),
    });

    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: 'use GET for this endpoint',
    });
    // The metadata documents are fixed; the JWKS may change through other files' rotations.
    if (path !== JWKS) {
      const after = await fetch(`${sut.baseUrl}${path}`);
      expect(after.headers.get('etag')).toBe(etag);
      await after.arrayBuffer();
    }
  });
});
