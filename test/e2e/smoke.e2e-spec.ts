import { startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';

describe('smoke', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startTestApp();
  });

  afterAll(async () => {
    await sut.close();
  });

  it('issues a client_credentials token', async () => {
    const client = await sut.createClient({ allowed_scopes: ['reports:read'] });
    const response = await tokenRequest(sut.baseUrl, client, { grant_type: 'client_credentials' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'reports:read', expires_in: 900 });
  });
});
