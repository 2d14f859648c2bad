import { ValidationPipe, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { AppConfig } from './config/app-config.js';
import { AppModule } from './app.module.js';
import { RegistrationEndpoints } from './clients/registration.endpoints.js';
import { adminJsonBody } from './common/admin-body.js';
import { AdminExceptionFilter } from './common/admin-exception.filter.js';
import { browserFormBody } from './common/form-body.js';
import { NestPinoLogger } from './common/logger.js';
import { serveProtocolFirst, type TrustProxy } from './common/protocol-dispatch.js';
import { requestContext } from './common/request-context.js';
import { securityHeaders } from './common/security-headers.js';
import { refuseEncodedNul } from './common/url-nul-guard.js';
import { DiscoveryEndpoints } from './discovery/discovery.endpoints.js';
import { AnonymousEndpoint } from './oauth/anonymous.endpoint.js';
import { IntrospectionEndpoint } from './oauth/introspection.endpoint.js';
import { RevocationEndpoint } from './oauth/revocation.endpoint.js';
import { TokenEndpoint } from './oauth/token.endpoint.js';
import { UserInfoEndpoint } from './oauth/userinfo.endpoint.js';

export async function createApp(config: AppConfig): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config), {
    bodyParser: false,
    logger: new NestPinoLogger(),
  });
  configureApp(app, config);
  await app.init();
  return app;
}

/**
 * Everything `main.ts` and the tests share. Must run before `app.init()`. The protocol endpoints
 * are served by the HTTP server ahead of express; the rest goes through express and Nest.
 */
export function configureApp(app: INestApplication, config: AppConfig): void {
  const http = app.getHttpAdapter().getInstance() as Express;
  http.disable('x-powered-by');
  http.set('trust proxy', config.http.trustProxy);
  http.set('etag', false);
  http.use(requestContext);
  const headers = securityHeaders(config.issuer);
  const registration = app.get(RegistrationEndpoints);
  serveProtocolFirst(app.getHttpServer() as Server, {
    endpoints: [
      app.get(TokenEndpoint),
      app.get(IntrospectionEndpoint),
      app.get(RevocationEndpoint),
      app.get(UserInfoEndpoint),
      app.get(AnonymousEndpoint),
      registration.register,
      ...app.get(DiscoveryEndpoints).endpoints,
    ],
    prefixed: [registration.management],
    securityHeaders: headers.protocol,
    trustProxy: http.get('trust proxy fn') as TrustProxy,
  });
  // Everything else (admin API, pages, ceremonies) is `no-store` unless it opts into caching:
  // admin responses carry client secrets and setup links, pages carry CSRF tokens.
  http.use(headers.middleware);
  http.use('/admin', refuseEncodedNul);
  http.use('/admin', adminJsonBody(config.http));
  // Passkey ceremonies are JSON, like the admin API; the account page and sign-out post forms.
  http.use('/webauthn', adminJsonBody(config.http));
  http.use(['/account', '/logout'], browserFormBody(config.http));

  app.useGlobalFilters(new AdminExceptionFilter());
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
    }),
  );
  // A clean shutdown exits 0 (and flushes the logger) instead of re-raising the signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Latchkey admin API')
      .setDescription(
        'Administration of clients, users, roles, passkeys, sessions and signing keys. Every route needs a bearer access token for the admin API audience with the admin permission.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
}
