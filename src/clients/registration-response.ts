import type { JSONWebKeySet } from 'jose';
import type { ClientEntity } from './entities/client.entity.js';

/** RFC 7591 §3.2.1 / RFC 7592 §3: the client information response. */
export interface RegistrationResponse {
  client_id: string;
  client_id_issued_at: number;
  client_secret?: string;
  client_secret_expires_at?: number;
  registration_access_token?: string;
  registration_client_uri: string;
  client_name: string;
  application_type: string;
  token_endpoint_auth_method: string;
  grant_types: string[];
  response_types: string[];
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  scope?: string;
  contacts?: string[];
  client_uri?: string;
  logo_uri?: string;
  policy_uri?: string;
  tos_uri?: string;
  jwks?: JSONWebKeySet;
  jwks_uri?: string;
  software_id?: string;
  software_version?: string;
}

export function issuedAt(entity: ClientEntity): number {
  return Math.floor(entity.createdAt.getTime() / 1000);
}

/**
 * Every registered metadata field, as stored (redirect URIs byte for byte). Secrets appear only
 * when just issued: the server keeps their hashes, never the values.
 */
export function toRegistrationResponse(
  entity: ClientEntity,
  registrationClientUri: string,
  issued: { clientSecret?: string; registrationAccessToken?: string } = {},
): RegistrationResponse {
  const response: RegistrationResponse = {
    client_id: entity.id,
    client_id_issued_at: issuedAt(entity),
    registration_client_uri: registrationClientUri,
    client_name: entity.name,
    application_type: entity.applicationType,
    token_endpoint_auth_method: entity.tokenEndpointAuthMethod,
    grant_types: entity.grantTypes,
    response_types: entity.responseTypes,
    redirect_uris: entity.redirectUris,
  };
  if (issued.clientSecret !== undefined) response.client_secret = issued.clientSecret;
  // RFC 7591 §3.2.1: 0 = the secret does not expire.
  if (entity.secretHash !== null) response.client_secret_expires_at = 0;
  if (issued.registrationAccessToken !== undefined) {
    response.registration_access_token = issued.registrationAccessToken;
  }
  if (entity.postLogoutRedirectUris.length > 0) {
    response.post_logout_redirect_uris = entity.postLogoutRedirectUris;
  }
  if (entity.allowedScopes.length > 0) response.scope = entity.allowedScopes.join(' ');
  if (entity.contacts.length > 0) response.contacts = entity.contacts;
  if (entity.clientUri !== null) response.client_uri = entity.clientUri;
  if (entity.logoUri !== null) response.logo_uri = entity.logoUri;
  if (entity.policyUri !== null) response.policy_uri = entity.policyUri;
  if (entity.tosUri !== null) response.tos_uri = entity.tosUri;
  if (entity.jwks !== null) response.jwks = entity.jwks;
  if (entity.jwksUri !== null) response.jwks_uri = entity.jwksUri;
  if (entity.softwareId !== null) response.software_id = entity.softwareId;
  if (entity.softwareVersion !== null) response.software_version = entity.softwareVersion;
  return response;
}
