import { Controller, Get, Module, UseGuards, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { Principal, RequirePermissions } from '../../src/auth-guards/auth-guards.decorators.js';
import { AuthGuardsModule } from '../../src/auth-guards/auth-guards.module.js';
import { BearerTokenGuard } from '../../src/auth-guards/bearer-token.guard.js';
import { protectedResourceMetadataUrl } from '../../src/auth-guards/protected-resource-metadata.js';
import { ResourcesService } from '../../src/resources/resources.service.js';
import {
  AccessTokensService,
  type AccessTokenClaims,
} from '../../src/tokens/access-tokens.service.js';
import { freePort, startTestApp, tokenRequest, type TestApp } from '../utils/test-app.js';

@Controller('api')
@UseGuards(BearerTokenGuard)
class ReportsController {
  @Get('reports')
  @RequirePermissions('reports:read')
  list(@Principal() principal: AccessTokenClaims): { sub: string } {
    return { sub: principal.sub };
  }

  @Get('admin')
  @RequirePermissions('reports:write')
  write(): { ok: true } {
    return { ok: true };
  }
}

/** Another Nest app accepting Latchkey tokens through AuthGuardsModule.forResourceServer. */
describe('AuthGuardsModule.forResourceServer', () => {
  let sut: TestApp;
  let rs: INestApplication;
  let rsUrl: string;
  let audience: string;
  let metadataUrl: string;

  beforeAll(async () => {
    sut = await startTestApp();
    const port = await freePort();
    rsUrl = `http://127.0.0.1:${port}`;
    audience = `${rsUrl}/api`;
    metadataUrl = protectedResourceMetadataUrl(audience);
    await sut.app.get(ResourcesService).create({
      identifier: audience,
      name: 'Reports API',
      scopes: ['reports:read', 'reports:write'],
    });

    @Module({
      imports: [
        AuthGuardsModule.forResourceServer({
          issuer: sut.baseUrl,
          jwksUri: `${sut.baseUrl}/.well-known/jwks.json`,
          audience,
          scopesSupported: ['reports:read', 'reports:write'],
          resourceName: 'Reports API',
        }),
      ],
      controllers: [ReportsController],
    })
    class ReportsModule {}

    rs = await NestFactory.create(ReportsModule, { logger: false });
    await rs.listen(port, '127.0.0.1');
  });

  afterAll(async () => {
    await rs?.close();
    await sut.close();
  });

  async function token(scope: string, resource?: string): Promise<string> {
    const client = await sut.createClient({ allowed_scopes: ['reports:read', 'reports:write'] });
    const response = await tokenRequest(sut.baseUrl, client, {
      grant_type: 'client_credentials',
      scope,
      ...(resource === undefined ? {} : { resource }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  function call(path: string, bearer?: string): Promise<Response> {
    return fetch(`${rsUrl}${path}`, {
      headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
    });
  }

  async function expectChallenge(
    response: Response,
    status: number,
    challenge: string,
    message: string,
  ): Promise<void> {
    expect({
      status: response.status,
      challenge: response.headers.get('www-authenticate'),
      body: await response.json(),
    }).toEqual({
      status,
      challenge,
      body: {
        statusCode: status,
        code: status === 401 ? 'unauthenticated' : 'forbidden',
        message,
      },
    });
  }

  it('accepts a token for its audience, verified by JWKS', async () => {
    const response = await call('/api/reports', await token('reports:read', audience));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: expect.any(String) as unknown });
  });

  it('answers 401 without a token, naming its RFC 9728 metadata', async () => {
    await expectChallenge(
      await call('/api/reports'),
      401,
      `Bearer resource_metadata="${metadataUrl}"`,
      'a bearer token is required',
    );
  });

  it('answers 401 to a token for another audience', async () => {
    const description = 'the access token is not meant for this API';
    await expectChallenge(
      await call('/api/reports', await token('reports:read')),
      401,
      `Bearer error="invalid_token", error_description="${description}", resource_metadata="${metadataUrl}"`,
      description,
    );
  });

  it('answers 401 to an expired token', async () => {
    const { token: expired } = await sut.app.get(AccessTokensService).issue({
      subject: randomUUID(),
      clientId: 'rs-test',
      audience,
      scope: 'reports:read',
      ttlSeconds: -120,
    });
    const description = 'the access token has expired';
    await expectChallenge(
      await call('/api/reports', expired),
      401,
      `Bearer error="invalid_token", error_description="${description}", resource_metadata="${metadataUrl}"`,
      description,
    );
  });

  it('answers 403 insufficient_scope to a token without the permission', async () => {
    await expectChallenge(
      await call('/api/admin', await token('reports:read', audience)),
      403,
      `Bearer error="insufficient_scope", scope="reports:write", resource_metadata="${metadataUrl}"`,
      'the access token lacks the reports:write permission',
    );
  });

  it('serves its protected resource metadata (RFC 9728)', async () => {
    expect(metadataUrl).toBe(`${rsUrl}/.well-known/oauth-protected-resource/api`);
    const response = await fetch(metadataUrl);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      resource: audience,
      authorization_servers: [sut.baseUrl],
      bearer_methods_supported: ['header'],
      scopes_supported: ['reports:read', 'reports:write'],
      resource_name: 'Reports API',
    });
  });
});
