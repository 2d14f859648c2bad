import { Module } from '@nestjs/common';
import { TokensModule } from '../tokens/tokens.module.js';
import { BearerTokenGuard } from './bearer-token.guard.js';

/**
 * Guards and decorators for resource servers (`@RequireAudience`, `@RequirePermissions`,
 * `@AdminApi`). Importing this module brings the token verifier the guard needs.
 */
@Module({
  imports: [TokensModule],
  providers: [BearerTokenGuard],
  exports: [TokensModule, BearerTokenGuard],
})
export class AuthGuardsModule {}
