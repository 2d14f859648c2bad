import { TrustedIssuersModule } from '../trusted-issuers/trusted-issuers.module.js';
import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AuthGuardsModule } from '../auth-guards/auth-guards.module.js';
import { ClientsModule } from '../clients/clients.module.js';
import { ResourcesModule } from '../resources/resources.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { TokensModule } from '../tokens/tokens.module.js';
import { UsersModule } from '../users/users.module.js';
import { ViewsModule } from '../views/views.module.js';
import { AuthorizePages } from './authorize/authorize-pages.js';
import { AuthorizeController } from './authorize/authorize.controller.js';
import { AuthorizeService } from './authorize/authorize.service.js';
import { ConsentCsrf } from './authorize/consent-csrf.js';
import { ConsentsAdminController } from './authorize/consents-admin.controller.js';
import { ConsentsService } from './authorize/consents.service.js';
import { EndSessionController } from './logout/logout.controller.js';
import { LogoutService } from './logout/logout.service.js';
import { AnonymousEndpoint } from './anonymous.endpoint.js';
import { ClientRevocationAdminController } from './client-revocation-admin.controller.js';
import { ClientRevocationService } from './client-revocation.service.js';
import { AuthorizationCodeGrant } from './grants/authorization-code.grant.js';
import { ClientCredentialsGrant } from './grants/client-credentials.grant.js';
import { GrantRegistry } from './grants/grant-registry.js';
import { RefreshTokenGrant } from './grants/refresh-token.grant.js';
import { TokenExchangeGrant } from './grants/token-exchange.grant.js';
import { UserTokens } from './grants/user-tokens.js';
import { IntrospectionEndpoint } from './introspection.endpoint.js';
import { RevocationEndpoint } from './revocation.endpoint.js';
import { TokenEndpoint } from './token.endpoint.js';
import { UserInfoEndpoint } from './userinfo.endpoint.js';

@Module({
  imports: [
    AuthGuardsModule,
    TrustedIssuersModule,
    ClientsModule,
    TokensModule,
    ResourcesModule,
    UsersModule,
    SessionsModule,
    ViewsModule,
    AuditModule,
  ],
  controllers: [
    AuthorizeController,
    EndSessionController,
    ConsentsAdminController,
    ClientRevocationAdminController,
  ],
  providers: [
    ClientRevocationService,
    AuthorizeService,
    AuthorizePages,
    ConsentCsrf,
    ConsentsService,
    LogoutService,
    ClientCredentialsGrant,
    AuthorizationCodeGrant,
    RefreshTokenGrant,
    TokenExchangeGrant,
    UserTokens,
    GrantRegistry,
    TokenEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
    UserInfoEndpoint,
    AnonymousEndpoint,
  ],
  exports: [
    ConsentsService,
    GrantRegistry,
    TokenEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
    UserInfoEndpoint,
    AnonymousEndpoint,
  ],
})
export class OAuthModule {}
