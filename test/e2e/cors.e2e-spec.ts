import { startTestApp, type TestApp } from '../utils/test-app.js';

const ALLOWED_HEADERS = 'Authorization, Content-Type, MCP-Protocol-Version, DPoP';

/** CORS for browser-based clients on the endpoints they call, and nowhere else. */
describe('CORS', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  function preflight(
    path: string,
    method: string,
    headers = 'authorization, mcp-protocol-version',
  ) {
    return fetch(`${sut.baseUrl}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://spa.example.com',
        'access-control-request-method': method,
        'access-control-request-headers': headers,
      },
    });
  }

  it.each([
    ['/.well-known/openid-configuration', 'GET, HEAD'],
    ['/.well-known/oauth-authorization-server', 'GET, HEAD'],
    ['/.well-known/jwks.json', 'GET, HEAD'],
    ['/.well-known/oauth-protected-resource', 'GET, HEAD'],
    ['/oauth/token', 'POST'],
    ['/oauth/revoke', 'POST'],
    ['/oauth/userinfo', 'GET, POST'],
    ['/oauth/register', 'POST'],
    ['/oauth/register/some-client-id', 'GET, PUT, DELETE'],
  ])('answers a preflight to %s', async (path, methods) => {
    const response = await preflight(path, methods.split(', ')[0]);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': methods,
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
    });
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it.each([
    ['GET', '/.well-known/openid-configuration', 200],
    ['GET', '/.well-known/oauth-authorization-server', 200],
    ['GET', '/.well-known/jwks.json', 200],
    ['GET', '/.well-known/oauth-protected-resource', 200],
    ['POST', '/oauth/token', 415],
    ['POST', '/oauth/revoke', 415],
    ['GET', '/oauth/userinfo', 401],
  ])('marks the actual response of %s %s, errors included', async (method, path, status) => {
    const response = await fetch(`${sut.baseUrl}${path}`, {
      method,
      headers: { origin: 'https://spa.example.com' },
    });
    expect(response.status).toBe(status);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate');
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    await response.arrayBuffer();
  });

  it('lets a script read the bearer challenge of UserInfo', async () => {
    const response = await fetch(`${sut.baseUrl}/oauth/userinfo`, {
      headers: { origin: 'https://spa.example.com' },
    });
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(response.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate');
    await response.arrayBuffer();
  });

  it.each([
    ['/oauth/authorize'],
    ['/oauth/authorize/decision'],
    ['/oauth/logout'],
    ['/oauth/introspect'],
    ['/admin/clients'],
    ['/login'],
  ])('gives no CORS to %s', async (path) => {
    const pre = await preflight(path, 'GET');
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-methods')).toBeNull();
    await pre.arrayBuffer();
    const actual = await fetch(`${sut.baseUrl}${path}`, {
      redirect: 'manual',
      headers: { origin: 'https://spa.example.com' },
    });
    expect(actual.headers.get('access-control-allow-origin')).toBeNull();
    expect(actual.headers.get('access-control-expose-headers')).toBeNull();
    await actual.arrayBuffer();
  });
});
