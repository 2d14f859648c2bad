import type { Provider } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { PROTECTED_RESOURCE_METADATA_PATH } from '../common/routes.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import { AccessTokenVerifier } from './access-token-verifier.js';
import { BEARER_GUARD_OPTIONS, type BearerGuardOptions } from './auth-guards.options.js';
import { BearerTokenGuard } from './bearer-token.guard.js';

/**
 * The bearer guard inside Latchkey: tokens verified in-process (keys and revocation list in
 * memory), challenges naming Latchkey's own RFC 9728 metadata. Needs AccessTokensService in
 * scope: TokensModule (for its own admin controller) and AuthGuardsModule both provide these.
 */
export const IN_PROCESS_GUARD_PROVIDERS: Provider[] = [
  BearerTokenGuard,
  { provide: AccessTokenVerifier, useExisting: AccessTokensService },
  {
    provide: BEARER_GUARD_OPTIONS,
    inject: [AppConfig],
    useFactory: (config: AppConfig): BearerGuardOptions => ({
      resourceMetadataUrl: `${config.issuer}${PROTECTED_RESOURCE_METADATA_PATH}`,
      adminAudience: config.audiences.admin,
      defaultAudience: null,
    }),
  },
];
