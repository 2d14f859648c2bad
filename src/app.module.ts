import { Module, type DynamicModule } from '@nestjs/common';
import type { AppConfig } from './config/app-config.js';
import { AuditAdminModule } from './audit/audit-admin.module.js';
import { AuthGuardsModule } from './auth-guards/auth-guards.module.js';
import { BootstrapModule } from './bootstrap/bootstrap.module.js';
import { ClientsModule } from './clients/clients.module.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DiscoveryModule } from './discovery/discovery.module.js';
import { HealthModule } from './health/health.module.js';
import { LifecycleModule } from './lifecycle/lifecycle.module.js';
import { OAuthModule } from './oauth/oauth.module.js';
import { RateLimitsModule } from './rate-limits/rate-limits.module.js';
import { ResourcesModule } from './resources/resources.module.js';
import { SessionsModule } from './sessions/sessions.module.js';
import { TokensModule } from './tokens/tokens.module.js';
import { TrustedIssuersModule } from './trusted-issuers/trusted-issuers.module.js';
import { UsersModule } from './users/users.module.js';
import { ViewsModule } from './views/views.module.js';
import { WebauthnModule } from './webauthn/webauthn.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot(config),
        RateLimitsModule,
        TokensModule,
        AuthGuardsModule,
        ResourcesModule,
        ClientsModule,
        UsersModule,
        SessionsModule,
        WebauthnModule,
        ViewsModule,
        TrustedIssuersModule,
        OAuthModule,
        DiscoveryModule,
        HealthModule,
        BootstrapModule,
        AuditAdminModule,
        LifecycleModule,
      ],
    };
  }
}
