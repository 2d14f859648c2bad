import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { SECRET_AUTH_METHODS } from '../clients/client-auth.service.js';
import { prebuild, type PrebuiltDocument } from '../common/documents.js';
import { ROUTES } from '../common/routes.js';
import { GrantRegistry } from '../oauth/grants/grant-registry.js';
import { USER_TIER } from '../users/permissions.js';

/**
 * The authorization server metadata (RFC 8414, OpenID Connect Discovery): one document for
 * both well-known paths, built once from the route constants and the grant registry, so it lists
 * exactly what this server does.
 */
@Injectable()
export class DiscoveryService {
  readonly metadata: PrebuiltDocument;
  readonly protectedResource: PrebuiltDocument;

  constructor(config: AppConfig, grants: GrantRegistry) {
    const url = (path: string) => `${config.issuer}${path}`;
    this.metadata = prebuild({
      issuer: config.issuer,
      token_endpoint: url(ROUTES.token),
      jwks_uri: url(ROUTES.jwks),
      introspection_endpoint: url(ROUTES.introspect),
      revocation_endpoint: url(ROUTES.revoke),
      grant_types_supported: grants.supported(),
      // RFC 8414 §2 requires the member; no response type is served before /authorize exists.
      response_types_supported: [],
      scopes_supported: [...USER_TIER],
      token_endpoint_auth_methods_supported: [...SECRET_AUTH_METHODS],
      introspection_endpoint_auth_methods_supported: [...SECRET_AUTH_METHODS],
      revocation_endpoint_auth_methods_supported: [...SECRET_AUTH_METHODS],
    });
    // RFC 9728 metadata for the admin API, which is itself a protected resource.
    this.protectedResource = prebuild({
      resource: config.audiences.admin,
      authorization_servers: [config.issuer],
      scopes_supported: ['admin'],
      bearer_methods_supported: ['header'],
      resource_name: 'Latchkey admin API',
      resource_documentation: url('/docs'),
    });
  }
}
