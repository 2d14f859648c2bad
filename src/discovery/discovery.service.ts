import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ASSERTION_SIGNING_ALGS } from '../clients/client-assertion.service.js';
import { SECRET_AUTH_METHODS } from '../clients/client-auth.service.js';
import { prebuild, type PrebuiltDocument } from '../common/documents.js';
import { ROUTES } from '../common/routes.js';
import { GrantRegistry } from '../oauth/grants/grant-registry.js';
import { USER_TIER } from '../users/permissions.js';

const OIDC_SCOPES_SUPPORTED = ['openid', 'profile', 'email', 'offline_access'];
/** Claims of ID tokens and UserInfo (OIDC Core §2, §5.1). */
const CLAIMS_SUPPORTED = [
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'amr',
  'azp',
  'sid',
  'at_hash',
  'email',
  'email_verified',
  'name',
];

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
      authorization_endpoint: url(ROUTES.authorize),
      token_endpoint: url(ROUTES.token),
      jwks_uri: url(ROUTES.jwks),
      introspection_endpoint: url(ROUTES.introspect),
      revocation_endpoint: url(ROUTES.revoke),
      userinfo_endpoint: url(ROUTES.userinfo),
      end_session_endpoint: url(ROUTES.endSession),
      // RFC 8414 §2: advertised only when clients can register themselves.
      ...(config.registration.mode === 'off'
        ? {}
        : { registration_endpoint: url(ROUTES.register) }),
      grant_types_supported: grants.supported(),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      // RFC 9207: every authorization response carries `iss`.
      authorization_response_iss_parameter_supported: true,
      prompt_values_supported: ['none', 'login', 'consent'],
      scopes_supported: [...OIDC_SCOPES_SUPPORTED, ...USER_TIER],
      // `none`: public clients, at the token endpoint with PKCE, and to revoke their tokens.
      token_endpoint_auth_methods_supported: [...SECRET_AUTH_METHODS, 'private_key_jwt', 'none'],
      // RFC 7523 client assertions: asymmetric algorithms only.
      token_endpoint_auth_signing_alg_values_supported: ASSERTION_SIGNING_ALGS,
      introspection_endpoint_auth_methods_supported: [...SECRET_AUTH_METHODS, 'private_key_jwt'],
      introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_SIGNING_ALGS,
      revocation_endpoint_auth_methods_supported: [
        ...SECRET_AUTH_METHODS,
        'private_key_jwt',
        'none',
      ],
      revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_SIGNING_ALGS,
      // draft-ietf-oauth-client-id-metadata-document: an https client_id names its metadata.
      client_id_metadata_document_supported: true,
      subject_types_supported: ['public'],
      // Only the configured algorithm has keys, so only it is offered.
      id_token_signing_alg_values_supported: [config.tokens.idTokenAlg],
      claims_supported: CLAIMS_SUPPORTED,
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
