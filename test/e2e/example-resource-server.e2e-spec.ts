import type { INestApplication } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { createExampleApp, exampleMetadataUrl } from '../../examples/resource-server/app.module.js';
import type { ReportsResponse } from '../../examples/resource-server/reports.controller.js';
import { freePort, startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}

/**
 * examples/resource-server, the documented way to protect another NestJS API: booted in-process
 * against a real Latchkey, its audience registered through the admin API.
 */
describe('examples/resource-server', () => {
  let sut: TestApp;
  let example: INestApplication;
  let exampleUrl: string;
  let audience: string;
  let metadataUrl: string;

  beforeAll(async () => {
    sut = await startTestApp();
    const port = await freePort();
    exampleUrl = `http://127.0.0.1:${port}`;

    const created = await fetch(`${sut.baseUrl}/admin/resources`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await sut.adminToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        identifier: exampleUrl,
        name: 'Example reports API',
        // reports:write only so that a token for this audience can lack reports:read.
        scopes: ['reports:read', 'reports:write'],
      }),
    });
    expect(created.status).toBe(201);
    // Latchkey normalizes the identifier (`http://127.0.0.1:<port>/`): that is the `aud`.
    audience = ((await created.json()) as { identifier: string }).identifier;
    expect(audience).toBe(`${exampleUrl}/`);
    metadataUrl = exampleMetadataUrl(audience);

    example = await createExampleApp({ issuer: sut.baseUrl, audience, logger: false });
    await example.listen(port, '127.0.0.1');
  });

  afterAll(async () => {
    await example?.close();
    await sut?.close();
  });

  async function clientCredentialsToken(
    params: Record<string, string>,
  ): Promise<{ token: string; clientId: string }> {
    const client = await sut.createClient({
      grant_types: ['client_credentials'],
      allowed_scopes: ['reports:read', 'reports:write'],
    });
    const response = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'client_credentials',
      ...params,
    });
    const body = (await response.json()) as { access_token: string };
    expect(response.status).toBe(200);
    return { token: body.access_token, clientId: client.client_id };
  }

  function getReports(bearer?: string): Promise<Response> {
    return fetch(`${exampleUrl}/reports`, {
      headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
    });
  }

  it('answers a token for its audience with reports:read with the principal', async () => {
    const { token, clientId } = await clientCredentialsToken({
      scope: 'reports:read',
      resource: audience,
    });
    expect(decodeJwt(token).aud).toBe(audience);
    const response = await getReports(token);
    expect(response.status).toBe(200);
    const body = (await response.json()) as ReportsResponse;
    expect(body).toEqual({
      sub: clientId,
      client_id: clientId,
      scopes: ['reports:read'],
      reports: [{ id: 'q1-2025', title: 'First quarter' }],
    });
  });

  it('answers 401 invalid_token to a token for another audience', async () => {
    // Without `resource`, the audience is Latchkey's DEFAULT_AUDIENCE (the issuer).
    const { token } = await clientCredentialsToken({ scope: 'reports:read' });
    expect(decodeJwt(token).aud).not.toBe(audience);
    const response = await getReports(token);
    expect(response.status).toBe(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer error="invalid_token", /);
    expect(challenge).toContain(`resource_metadata="${metadataUrl}"`);
    expect(((await response.json()) as ErrorBody).code).toBe('unauthenticated');
  });

  it('answers 401 without a token, naming its metadata', async () => {
    const response = await getReports();
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${metadataUrl}"`,
    );
  });

  it('answers 403 insufficient_scope to a token without reports:read', async () => {
    const { token } = await clientCredentialsToken({
      scope: 'reports:write',
      resource: audience,
    });
    const response = await getReports(token);
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_scope", scope="reports:read", resource_metadata="${metadataUrl}"`,
    );
    expect(await response.json()).toEqual({
      statusCode: 403,
      code: 'forbidden',
      message: 'the access token lacks the reports:read permission',
    });
  });

  it('serves its RFC 9728 metadata, naming Latchkey', async () => {
    expect(metadataUrl).toBe(`${exampleUrl}/.well-known/oauth-protected-resource`);
    const response = await fetch(metadataUrl);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      resource: audience,
      authorization_servers: [sut.baseUrl],
      bearer_methods_supported: ['header'],
      scopes_supported: ['reports:read'],
      resource_name: 'Example reports API',
    });
  });
});
