import { normalizeResource } from '../resources/resource-server.js';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TokensModule } from '../tokens/tokens.module.js';
import { AccessTokenVerifier, RemoteAccessTokenVerifier } from './access-token-verifier.js';
import { BEARER_GUARD_OPTIONS, type BearerGuardOptions } from './auth-guards.options.js';
import { BearerChallengeFilter } from './bearer-challenge.filter.js';
import { BearerTokenGuard } from './bearer-token.guard.js';
import { IN_PROCESS_GUARD_PROVIDERS } from './in-process.providers.js';
import {
  protectedResourceMetadata,
  protectedResourceMetadataController,
  protectedResourceMetadataUrl,
} from './protected-resource-metadata.js';

/** AuthGuardsModule.forResourceServer: a Nest app that accepts Latchkey access tokens. */
export interface ResourceServerOptions {
  /** The Latchkey issuer, byte for byte (`iss`). */
  issuer: string;
  /** Latchkey's JWKS, e.g. `${issuer}/.well-known/jwks.json`. */
  jwksUri: string;
  /**
   * This API's resource identifier, as registered in Latchkey (POST /admin/resources returns
   * it normalized): the `aud` required on routes without `@RequireAudience`.
   */
  audience: string;
  /** Default: the RFC 9728 well-known URL of `audience`. */
  resourceMetadataUrl?: string;
  /** Listed in the metadata document. */
  scopesSupported?: string[];
  resourceName?: string;
  resourceDocumentation?: string;
  /** Serve the RFC 9728 document at the path of `resourceMetadataUrl`; default true. */
  serveMetadata?: boolean;
}

/** Holds the providers of AuthGuardsModule.forResourceServer. */
@Module({})
export class ResourceServerAuthModule {}

/**
 * Guards and decorators for resource servers (`@RequireAudience`, `@RequirePermissions`,
 * `@AdminApi`). Imported as is, inside Latchkey: tokens are verified in-process, with the
 * revocation list. Other Nest apps import `AuthGuardsModule.forResourceServer(...)`.
 */
@Module({
  imports: [TokensModule],
  providers: IN_PROCESS_GUARD_PROVIDERS,
  exports: [TokensModule, BearerTokenGuard, AccessTokenVerifier, BEARER_GUARD_OPTIONS],
})
export class AuthGuardsModule {
  /**
   * For a Nest app other than Latchkey: `BearerTokenGuard` verifies tokens by Latchkey's JWKS
   * (RemoteAccessTokenVerifier), requires `audience` unless a route names another, and answers
   * 401/403 with an RFC 6750 challenge naming this API's RFC 9728 metadata, which it serves.
   * Global, so every module's controllers can use the guard.
   */
  static forResourceServer(given: ResourceServerOptions): DynamicModule {
    // Latchkey stores resource identifiers normalized (`https://host` → `https://host/`) and
    // writes that form into `aud`; compare in the same form, whichever way the app spelled it.
    const options = { ...given, audience: normalizeResource(given.audience) ?? given.audience };
    const resourceMetadataUrl =
      options.resourceMetadataUrl ?? protectedResourceMetadataUrl(options.audience);
    const metadata = protectedResourceMetadata({
      resource: options.audience,
      authorizationServers: [options.issuer],
      scopesSupported: options.scopesSupported,
      resourceName: options.resourceName,
      resourceDocumentation: options.resourceDocumentation,
    });
    const guardOptions: BearerGuardOptions = {
      resourceMetadataUrl,
      adminAudience: null,
      defaultAudience: options.audience,
    };
    return {
      module: ResourceServerAuthModule,
      global: true,
      controllers:
        options.serveMetadata === false
          ? []
          : [protectedResourceMetadataController(metadata, new URL(resourceMetadataUrl).pathname)],
      providers: [
        BearerTokenGuard,
        {
          provide: AccessTokenVerifier,
          useValue: new RemoteAccessTokenVerifier({
            issuer: options.issuer,
            jwksUri: options.jwksUri,
          }),
        },
        { provide: BEARER_GUARD_OPTIONS, useValue: guardOptions },
        { provide: APP_FILTER, useClass: BearerChallengeFilter },
      ],
      exports: [BearerTokenGuard, AccessTokenVerifier, BEARER_GUARD_OPTIONS],
    };
  }
}
