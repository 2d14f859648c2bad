import type { JSONWebKeySet } from 'jose';
import { isLoopbackHost } from '../config/app-config.js';
import {
  InvalidClientMetadata,
  InvalidRedirectUri,
  InvalidSoftwareStatement,
} from '../common/oauth-errors.js';
import { isUserTier, parseScope } from '../users/permissions.js';
import type { ApplicationType, TokenEndpointAuthMethod } from './entities/client.entity.js';

/** Client metadata as a self-registering client may set it (RFC 7591 §2), validated. */
export interface RegistrationMetadata {
  name: string | null;
  applicationType: ApplicationType;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  grantTypes: string[];
  responseTypes: string[];
  /** Exactly as sent: they are compared byte for byte at /authorize. */
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  scopes: string[];
  contacts: string[];
  clientUri: string | null;
  logoUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
  jwks: JSONWebKeySet | null;
  jwksUri: string | null;
  softwareId: string | null;
  softwareVersion: string | null;
}

export const REGISTRABLE_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [
  'none',
  'client_secret_basic',
  'client_secret_post',
  'private_key_jwt',
];

/**
 * Grants a client may give itself. client_credentials is not among them: it issues tokens with
 * no user in the loop, so its scopes must come from an admin's decision, never from the caller.
 */
const REGISTRABLE_GRANTS = new Set(['authorization_code', 'refresh_token']);
const MAX_URIS = 20;
const MAX_URI_LENGTH = 2048;
const MAX_NAME_LENGTH = 200;
const MAX_CONTACTS = 10;
const MAX_JWKS_KEYS = 20;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,189}$/;
/** RFC 8252 §7.1: a private-use scheme is a reverse domain name, so it holds a dot. */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/;
/** JWK members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * Validates a registration request (RFC 7591 §2, §3.2.2). Fields this server does not know are
 * ignored (RFC 7591 §2); every field it knows is checked, and an omitted one takes its default.
 */
export function parseRegistrationMetadata(input: Record<string, unknown>): RegistrationMetadata {
  // A null value means the same as an omitted field (RFC 7592 §2.2 replaces omitted values).
  const body = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== null));
  if (body.software_statement !== undefined) {
    throw new InvalidSoftwareStatement('software statements are not supported');
  }
  const applicationType = body.application_type ?? 'web';
  if (applicationType !== 'web' && applicationType !== 'native') {
    throw new InvalidClientMetadata('application_type must be web or native');
  }
  const method = body.token_endpoint_auth_method ?? 'client_secret_basic';
  if (!REGISTRABLE_AUTH_METHODS.includes(method as TokenEndpointAuthMethod)) {
    throw new InvalidClientMetadata(
      `token_endpoint_auth_method must be one of ${REGISTRABLE_AUTH_METHODS.join(', ')}`,
    );
  }
  const grantTypes = stringArray(body, 'grant_types', MAX_URIS) ?? ['authorization_code'];
  const responseTypes = stringArray(body, 'response_types', MAX_URIS) ?? ['code'];
  checkGrants(grantTypes, responseTypes);

  const redirectUris = uriArray(body, 'redirect_uris');
  if (redirectUris === null || redirectUris.length === 0) {
    throw new InvalidRedirectUri('redirect_uris is required for the authorization_code grant');
  }
  redirectUris.forEach((uri, i) => checkRedirectUri(`redirect_uris[${i}]`, uri, applicationType));
  const postLogoutRedirectUris = uriArray(body, 'post_logout_redirect_uris') ?? [];
  postLogoutRedirectUris.forEach((uri, i) =>
    checkRedirectUri(`post_logout_redirect_uris[${i}]`, uri, applicationType),
  );

  const jwks = body.jwks === undefined ? null : checkJwks(body.jwks);
  const jwksUri = httpsUri(body, 'jwks_uri');
  // RFC 7591 §2: jwks and jwks_uri must not both be present.
  if (jwks !== null && jwksUri !== null) {
    throw new InvalidClientMetadata('jwks and jwks_uri must not both be present');
  }
  if (method === 'private_key_jwt' && jwks === null && jwksUri === null) {
    throw new InvalidClientMetadata('private_key_jwt needs jwks or jwks_uri');
  }

  return {
    name: boundedString(body, 'client_name', MAX_NAME_LENGTH),
    applicationType,
    tokenEndpointAuthMethod: method as TokenEndpointAuthMethod,
    grantTypes: [...new Set(grantTypes)],
    responseTypes: [...new Set(responseTypes)],
    redirectUris,
    postLogoutRedirectUris,
    scopes: checkScope(body.scope),
    contacts: checkContacts(body.contacts),
    clientUri: httpsUri(body, 'client_uri'),
    logoUri: httpsUri(body, 'logo_uri'),
    policyUri: httpsUri(body, 'policy_uri'),
    tosUri: httpsUri(body, 'tos_uri'),
    jwks,
    jwksUri,
    softwareId: boundedString(body, 'software_id', MAX_NAME_LENGTH),
    softwareVersion: boundedString(body, 'software_version', MAX_NAME_LENGTH),
  };
}

/** RFC 7591 §2.1: `code` goes with authorization_code; refresh_token needs a grant to refresh. */
function checkGrants(grantTypes: string[], responseTypes: string[]): void {
  if (grantTypes.length === 0) throw new InvalidClientMetadata('grant_types must not be empty');
  if (grantTypes.includes('client_credentials')) {
    throw new InvalidClientMetadata(
      'the client_credentials grant cannot be registered dynamically',
    );
  }
  if (!grantTypes.every((grant) => REGISTRABLE_GRANTS.has(grant))) {
    throw new InvalidClientMetadata(
      'grant_types may only contain authorization_code and refresh_token',
    );
  }
  if (!responseTypes.every((type) => type === 'code')) {
    throw new InvalidClientMetadata('response_types may only contain code');
  }
  if (!grantTypes.includes('authorization_code')) {
    throw new InvalidClientMetadata('refresh_token requires the authorization_code grant');
  }
  if (!responseTypes.includes('code')) {
    throw new InvalidClientMetadata('the authorization_code grant needs the response type code');
  }
}

/**
 * Web applications redirect to https, or to http on a loopback address for development. Native
 * applications (RFC 8252 §7) use a loopback http address (any port at /authorize), a private-use
 * scheme, or a claimed https URL.
 */
function checkRedirectUri(field: string, uri: string, applicationType: ApplicationType): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRedirectUri(`${field} is not an absolute URI`);
  }
  // RFC 6749 §3.1.2.
  if (url.hash || uri.includes('#')) {
    throw new InvalidRedirectUri(`${field} must not contain a fragment`);
  }
  if (url.username || url.password) {
    throw new InvalidRedirectUri(`${field} must not contain user information`);
  }
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  if (applicationType === 'native') {
    if (PRIVATE_USE_SCHEME.test(url.protocol)) return;
    throw new InvalidRedirectUri(
      `${field} must use http on a loopback address, a private-use scheme or https for a native application`,
    );
  }
  throw new InvalidRedirectUri(
    `${field} must use https (or http on a loopback address) for a web application`,
  );
}

function checkScope(value: unknown): string[] {
  if (value === undefined) return [];
  const scopes = typeof value === 'string' ? parseScope(value) : null;
  if (scopes === null) {
    throw new InvalidClientMetadata('scope must be a space-delimited list of scope tokens');
  }
  for (const scope of scopes) {
    // User-tier scopes come from the signed-in user's roles, never from a client's own claim.
    if (isUserTier(scope)) {
      throw new InvalidClientMetadata(`scope ${scope} cannot be registered dynamically`);
    }
  }
  return [...new Set(scopes)];
}

function checkContacts(value: unknown): string[] {
  if (value === undefined) return [];
  if (
    !Array.isArray(value) ||
    value.length > MAX_CONTACTS ||
    !value.every((item) => typeof item === 'string' && item.length <= 254 && EMAIL.test(item))
  ) {
    throw new InvalidClientMetadata(
      `contacts must be an array of at most ${MAX_CONTACTS} email addresses`,
    );
  }
  return value as string[];
}

/** RFC 7517 §5: a key set of public keys only; the client keeps its private keys. */
function checkJwks(value: unknown): JSONWebKeySet {
  const fail = () => new InvalidClientMetadata('jwks must be a JSON Web Key Set of public keys');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail();
  const keys = (value as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_JWKS_KEYS) throw fail();
  for (const key of keys as unknown[]) {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) throw fail();
    const jwk = key as Record<string, unknown>;
    if (typeof jwk.kty !== 'string') throw fail();
    if (PRIVATE_JWK_MEMBERS.some((member) => member in jwk)) throw fail();
  }
  return value as JSONWebKeySet;
}

function stringArray(body: Record<string, unknown>, field: string, max: number): string[] | null {
  const value = body[field];
  if (value === undefined) return null;
  if (
    !Array.isArray(value) ||
    value.length > max ||
    !value.every((item) => typeof item === 'string')
  ) {
    throw new InvalidClientMetadata(`${field} must be an array of at most ${max} strings`);
  }
  return value;
}

function uriArray(body: Record<string, unknown>, field: string): string[] | null {
  const value = body[field];
  if (value === undefined) return null;
  if (
    !Array.isArray(value) ||
    value.length > MAX_URIS ||
    !value.every((item) => typeof item === 'string' && item.length <= MAX_URI_LENGTH)
  ) {
    throw new InvalidRedirectUri(
      `${field} must be an array of at most ${MAX_URIS} URIs of at most ${MAX_URI_LENGTH} characters`,
    );
  }
  return value as string[];
}

function boundedString(body: Record<string, unknown>, field: string, max: number): string | null {
  const value = body[field];
  if (value === undefined) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new InvalidClientMetadata(`${field} must be a string of 1 to ${max} characters`);
  }
  return value;
}

/** Documents and keys the server or a user's browser fetches are https only. */
function httpsUri(body: Record<string, unknown>, field: string): string | null {
  const value = body[field];
  if (value === undefined) return null;
  let url: URL | null = null;
  if (typeof value === 'string' && value.length <= MAX_URI_LENGTH) {
    try {
      url = new URL(value);
    } catch {
      url = null;
    }
  }
  if (url === null || url.protocol !== 'https:' || url.hash || url.username || url.password) {
    throw new InvalidClientMetadata(`${field} must be an https URL`);
  }
  return value as string;
}
