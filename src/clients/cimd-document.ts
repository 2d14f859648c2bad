import type { JSONWebKeySet } from 'jose';
import { isPublicKeySet } from './client-assertion.service.js';
import { isUserTier, parseScope } from '../users/permissions.js';
import { checkRedirectUri } from './client-metadata.js';
import { ClientsError } from './clients.errors.js';
import type {
  ApplicationType,
  ClientType,
  TokenEndpointAuthMethod,
} from './entities/client.entity.js';

/** A metadata document that cannot name a client; the reason is logged, never shown. */
export class CimdInvalid extends Error {}

/** What a valid client ID metadata document says, ready to store. */
export interface CimdMetadata {
  name: string;
  type: ClientType;
  tokenEndpointAuthMethod: Extract<TokenEndpointAuthMethod, 'none' | 'private_key_jwt'>;
  applicationType: ApplicationType;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** The document's `scope`: what the client may ask for (the person still must hold it). */
  scopes: string[];
  contacts: string[];
  logoUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
  clientUri: string | null;
  softwareId: string | null;
  softwareVersion: string | null;
  jwks: JSONWebKeySet | null;
  jwksUri: string | null;
}

const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);
/** draft-ietf-oauth-client-id-metadata-document §4.1: methods built on a shared secret. */
const SHARED_SECRET_METHODS = new Set([
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'tls_client_auth',
]);
const MAX_LIST = 50;

/**
 * Whether `id` has the form of a client ID metadata document URL (draft §3): https (or http to
 * an allow-listed host), a path, no fragment, no credentials, no dot segments, and already in
 * normalized form, so the document's `client_id` can be compared as a plain string.
 */
export function isMetadataDocumentUrl(id: string, allowHttp: (url: URL) => boolean): boolean {
  if (!id.startsWith('https://') && !id.startsWith('http://')) return false;
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    return false;
  }
  if (url.protocol === 'http:' && !allowHttp(url)) return false;
  if (url.href !== id || url.hash || id.includes('#') || url.username || url.password) return false;
  if (url.pathname === '/' || /\/\.{1,2}(\/|$)/.test(url.pathname)) return false;
  return true;
}

/** Validates a fetched document against the draft's rules (§4.1) and this server's client rules. */
export function checkMetadataDocument(
  url: string,
  body: unknown,
  allowHttp: (url: URL) => boolean,
): CimdMetadata {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CimdInvalid('the document is not a JSON object');
  }
  const doc = body as Record<string, unknown>;
  if (doc.client_id !== url) throw new CimdInvalid('client_id does not equal the document URL');
  if ('client_secret' in doc || 'client_secret_expires_at' in doc) {
    throw new CimdInvalid('the document contains a client secret');
  }
  const name = optionalString(doc, 'client_name');
  if (name === null || name.length === 0 || name.length > 200) {
    throw new CimdInvalid('client_name is missing or too long');
  }
  const jwks = doc.jwks === undefined ? null : doc.jwks;
  if (jwks !== null && !isPublicKeySet(jwks))
    throw new CimdInvalid('jwks is not a JWK set of public keys');
  const jwksUri = optionalString(doc, 'jwks_uri');
  const method = authMethod(doc, jwks !== null || jwksUri !== null);
  if (method === 'none' && (jwks !== null || jwksUri !== null)) {
    throw new CimdInvalid('jwks and jwks_uri need token_endpoint_auth_method private_key_jwt');
  }
  if (method === 'private_key_jwt' && (jwks === null) === (jwksUri === null)) {
    throw new CimdInvalid('private_key_jwt needs exactly one of jwks and jwks_uri');
  }
  if (jwksUri !== null) checkUrl('jwks_uri', jwksUri, allowHttp);
  const type: ClientType = method === 'none' ? 'public' : 'confidential';
  const grantTypes = stringList(doc, 'grant_types') ?? ['authorization_code'];
  if (
    grantTypes.some((grant) => !GRANT_TYPES.has(grant)) ||
    !grantTypes.includes('authorization_code')
  ) {
    throw new CimdInvalid('grant_types may only be authorization_code and refresh_token');
  }
  const responseTypes = stringList(doc, 'response_types');
  if (responseTypes !== null && (responseTypes.length !== 1 || responseTypes[0] !== 'code')) {
    throw new CimdInvalid('response_types may only be code');
  }
  const redirectUris = stringList(doc, 'redirect_uris');
  if (redirectUris === null || redirectUris.length === 0) {
    throw new CimdInvalid('redirect_uris is missing');
  }
  const postLogoutRedirectUris = stringList(doc, 'post_logout_redirect_uris') ?? [];
  for (const uri of [...redirectUris, ...postLogoutRedirectUris]) {
    try {
      checkRedirectUri(uri, type);
    } catch (err) {
      if (err instanceof ClientsError) throw new CimdInvalid(err.message);
      throw err;
    }
  }
  const display = (field: string): string | null => {
    const value = optionalString(doc, field);
    if (value !== null) checkUrl(field, value, () => false);
    return value;
  };
  return {
    name,
    type,
    tokenEndpointAuthMethod: method,
    applicationType: doc.application_type === 'native' ? 'native' : 'web',
    grantTypes: [...new Set(grantTypes)],
    redirectUris: [...new Set(redirectUris)],
    postLogoutRedirectUris: [...new Set(postLogoutRedirectUris)],
    scopes: documentScopes(doc.scope),
    contacts: (stringList(doc, 'contacts') ?? []).slice(0, 20),
    logoUri: display('logo_uri'),
    policyUri: display('policy_uri'),
    tosUri: display('tos_uri'),
    clientUri: display('client_uri'),
    softwareId: optionalString(doc, 'software_id'),
    softwareVersion: optionalString(doc, 'software_version'),
    jwks,
    jwksUri,
  };
}

/**
 * draft §4.1: no shared-secret method. `token_endpoint_auth_methods_supported`, which some
 * clients send instead, picks private_key_jwt when it is listed and keys are given.
 */
function authMethod(doc: Record<string, unknown>, hasKeys: boolean): 'none' | 'private_key_jwt' {
  const single = optionalString(doc, 'token_endpoint_auth_method');
  if (single !== null) {
    if (single === 'none' || single === 'private_key_jwt') return single;
    if (SHARED_SECRET_METHODS.has(single)) {
      throw new CimdInvalid(`token_endpoint_auth_method ${single} relies on a shared secret`);
    }
    throw new CimdInvalid(`token_endpoint_auth_method ${single} is not supported`);
  }
  const listed = stringList(doc, 'token_endpoint_auth_methods_supported');
  if (listed !== null && listed.includes('private_key_jwt') && hasKeys) return 'private_key_jwt';
  return 'none';
}

function optionalString(doc: Record<string, unknown>, field: string): string | null {
  const value = doc[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new CimdInvalid(`${field} is not a string`);
  if (value.length > 2000) throw new CimdInvalid(`${field} is too long`);
  return value;
}

function stringList(doc: Record<string, unknown>, field: string): string[] | null {
  const value = doc[field];
  if (value === undefined) return null;
  if (
    !Array.isArray(value) ||
    value.length > MAX_LIST ||
    !value.every((item) => typeof item === 'string' && item.length <= 2000)
  ) {
    throw new CimdInvalid(`${field} is not a list of strings`);
  }
  return value as string[];
}

function checkUrl(field: string, value: string, allowHttp: (url: URL) => boolean): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CimdInvalid(`${field} is not an absolute URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttp(url))) {
    throw new CimdInvalid(`${field} must use https`);
  }
}

/**
 * RFC 7591 §2 `scope`, as in dynamic registration: scope tokens the client may request. User-tier
 * scopes come from the signed-in user's roles, never from a document the client wrote itself.
 */
function documentScopes(value: unknown): string[] {
  if (value === undefined) return [];
  const scopes = typeof value === 'string' ? parseScope(value) : null;
  if (scopes === null)
    throw new CimdInvalid('scope must be a space-delimited list of scope tokens');
  const userTier = scopes.find((scope) => isUserTier(scope));
  if (userTier !== undefined)
    throw new CimdInvalid(`scope ${userTier} cannot be claimed by a client`);
  return [...new Set(scopes)];
}
