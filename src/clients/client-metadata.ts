import type { JSONWebKeySet } from 'jose';
import { isLoopbackHost } from '../config/app-config.js';
import { isUserTier } from '../users/permissions.js';
import type { ClientType, TokenEndpointAuthMethod } from './entities/client.entity.js';
import { isPublicKeySet } from './client-assertion.service.js';
import { ClientsError, ClientsErrorCode } from './clients.errors.js';

export interface ClientMetadata {
  name: string;
  type: ClientType;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  grantTypes: string[];
  responseTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  allowedScopes: string[];
  serviceRoles: string[];
  ownerUserId: string | null;
  contacts: string[];
  logoUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
  /** private_key_jwt keys (RFC 7523): exactly one of these for that method, neither otherwise. */
  jwks?: JSONWebKeySet | null;
  jwksUri?: string | null;
}

function invalid(message: string): ClientsError {
  return new ClientsError(ClientsErrorCode.InvalidClientMetadata, message);
}

/**
 * Rules that span fields, applied after the DTO checked each field on its own. Returns the
 * metadata with defaults filled in.
 */
export function checkClientMetadata(input: ClientMetadata): ClientMetadata {
  const m = { ...input };
  if (m.type === 'public') {
    if (m.tokenEndpointAuthMethod !== 'none') {
      throw invalid('public clients authenticate with token_endpoint_auth_method none');
    }
    if (m.grantTypes.includes('client_credentials')) {
      throw invalid('public clients cannot use the client_credentials grant');
    }
    if (m.serviceRoles.length > 0) throw invalid('public clients cannot be service accounts');
  } else if (m.tokenEndpointAuthMethod === 'none') {
    throw invalid('confidential clients must authenticate with a client secret');
  }
  checkClientKeys(m);
  if (m.grantTypes.includes('refresh_token') && !m.grantTypes.includes('authorization_code')) {
    throw invalid('refresh_token requires the authorization_code grant');
  }
  m.responseTypes = m.grantTypes.includes('authorization_code') ? ['code'] : [];
  if (m.grantTypes.includes('authorization_code') && m.redirectUris.length === 0) {
    throw invalid('the authorization_code grant needs at least one redirect URI');
  }
  for (const uri of [...m.redirectUris, ...m.postLogoutRedirectUris]) checkRedirectUri(uri, m.type);
  for (const role of m.serviceRoles) {
    if (!m.allowedScopes.includes(role)) m.allowedScopes = [...m.allowedScopes, role];
  }
  for (const scope of m.allowedScopes) {
    // User-tier scopes reach a client only through the service-account roles it holds.
    if (isUserTier(scope) && !m.serviceRoles.includes(scope) && !m.serviceRoles.includes('admin')) {
      throw invalid(`scope ${scope} needs the client to be a service account with that role`);
    }
  }
  for (const [field, value] of [
    ['logo_uri', m.logoUri],
    ['policy_uri', m.policyUri],
    ['tos_uri', m.tosUri],
  ] as const) {
    if (value !== null) checkWebUri(field, value);
  }
  return m;
}

/**
 * Redirect URIs: absolute, no fragment (RFC 6749 §3.1.2), https or http on loopback; public
 * (native) clients may also use a private-use scheme (RFC 8252 §7.1).
 */
export function checkRedirectUri(uri: string, type: ClientType): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalid(`redirect URI ${uri} is not an absolute URI`);
  }
  if (url.hash || uri.includes('#'))
    throw invalid(`redirect URI ${uri} must not contain a fragment`);
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  if (type === 'public' && /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) return;
  throw invalid(
    `redirect URI ${uri} must use https, http on a loopback address, or a private-use scheme`,
  );
}

function checkClientKeys(m: ClientMetadata): void {
  const jwks = m.jwks ?? null;
  const jwksUri = m.jwksUri ?? null;
  if (m.tokenEndpointAuthMethod !== 'private_key_jwt') {
    if (jwks !== null || jwksUri !== null) {
      throw invalid('jwks and jwks_uri need token_endpoint_auth_method private_key_jwt');
    }
    return;
  }
  if ((jwks === null) === (jwksUri === null)) {
    throw invalid('private_key_jwt needs exactly one of jwks and jwks_uri');
  }
  if (jwks !== null && !isPublicKeySet(jwks)) {
    throw invalid('jwks must be a JSON Web Key Set of public keys');
  }
  if (jwksUri !== null) checkWebUri('jwks_uri', jwksUri);
}

function checkWebUri(field: string, value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`${field} must be an absolute URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw invalid(`${field} must use https`);
  }
}
