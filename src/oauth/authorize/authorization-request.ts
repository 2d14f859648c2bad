import { isLoopbackHost } from '../../config/app-config.js';
import type { ClientRecord } from '../../clients/client-record.js';
import { parseForm, type FormParams } from '../../common/http.js';
import { parseScope } from '../../users/permissions.js';
import { AuthorizeError, UntrustedAuthorizeError } from './authorize-errors.js';

/** OIDC scopes: about the sign-in itself, not permissions on an API. */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

export type Prompt = 'none' | 'login' | 'consent';

/** A validated authorization request. Everything the client sent, checked. */
export interface AuthorizationRequest {
  client: ClientRecord;
  redirectUri: string;
  state: string | null;
  /** Scopes as requested, OIDC and permission scopes together, in request order. */
  scopes: string[];
  /** RFC 8707 §2.1: the `resource` parameters, as sent; the grant covers all of them. */
  resources: string[];
  nonce: string | null;
  codeChallenge: string;
  prompts: Set<Prompt>;
  maxAgeSeconds: number | null;
  loginHint: string | null;
  /** The query string as received, so the request can be replayed after sign-in or consent. */
  raw: string;
}

const MAX_PARAM_LENGTH = 2048;
/** RFC 7636 §4.2 / ARCHITECTURE.md: 43–128 unreserved characters. */
const CODE_CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;
/** A SHA-256 challenge has 43 base64url characters drawn almost uniformly; far fewer distinct ones means it was not made from a hash. */
const MIN_DISTINCT_CHALLENGE_CHARS = 12;

export function parseQuery(query: string): FormParams {
  try {
    return parseForm(query);
  } catch {
    throw new UntrustedAuthorizeError('Invalid request', 'The request is not correctly encoded.');
  }
}

/** Step one: the client and its redirect URI. Nothing is sent to a redirect URI before this passes. */
export function checkClientAndRedirect(
  params: FormParams,
  client: ClientRecord | null,
): { client: ClientRecord; redirectUri: string } {
  for (const name of ['client_id', 'redirect_uri']) {
    if (params.multi.has(name)) {
      throw new UntrustedAuthorizeError('Invalid request', `The ${name} parameter is repeated.`);
    }
  }
  if (!params.values.get('client_id')) {
    throw new UntrustedAuthorizeError(
      'Invalid request',
      'The request does not name an application.',
    );
  }
  if (client === null) {
    throw new UntrustedAuthorizeError('Unknown application', 'This application is not registered.');
  }
  const redirectUri = params.values.get('redirect_uri');
  if (!redirectUri) {
    throw new UntrustedAuthorizeError('Invalid request', 'The request has no redirect URI.');
  }
  if (!redirectUriMatches(client, redirectUri)) {
    throw new UntrustedAuthorizeError(
      'Invalid redirect URI',
      'The redirect URI is not registered for this application.',
    );
  }
  return { client, redirectUri };
}

/**
 * Exact string match (RFC 9700 §4.1.3). A loopback redirect of a native application matches on
 * any port (RFC 8252 §7.3): the OS picks the port when the app starts listening.
 */
export function redirectUriMatches(client: ClientRecord, candidate: string): boolean {
  if (client.redirectUris.includes(candidate)) return true;
  if (!isNativeApplication(client)) return false;
  const url = safeUrl(candidate);
  if (url === null || url.protocol !== 'http:' || !isLoopbackHost(url.hostname)) return false;
  return client.redirectUris.some((registered) => {
    const reg = safeUrl(registered);
    if (reg === null || reg.protocol !== 'http:' || reg.hostname !== url.hostname) return false;
    return (
      reg.pathname === url.pathname && reg.search === url.search && !url.username && !url.password
    );
  });
}

/**
 * application_type native (RFC 7591 / OIDC Registration). The admin API has no application_type,
 * and its public clients have always been treated as native apps, so they keep that.
 */
function isNativeApplication(client: ClientRecord): boolean {
  return (
    client.applicationType === 'native' || (client.source === 'admin' && client.type === 'public')
  );
}

/** Step two: everything else. Errors from here on are redirected to the client. */
export function checkRequest(
  params: FormParams,
  client: ClientRecord,
  redirectUri: string,
  raw: string,
): AuthorizationRequest {
  // RFC 8707 §2.1: `resource` may be repeated; nothing else may.
  const repeated = [...params.multi.keys()].find((name) => name !== 'resource');
  if (repeated !== undefined) {
    throw new AuthorizeError('invalid_request', `parameter ${repeated} must not be repeated`);
  }
  const resources = params.multi.get('resource') ?? [];
  for (const [name, value] of [...params.values, ...resources.map((r) => ['resource', r])]) {
    if (value.length > MAX_PARAM_LENGTH) {
      throw new AuthorizeError('invalid_request', `parameter ${name} is too long`);
    }
  }
  const get = (name: string) => params.values.get(name);
  if (get('request') !== undefined) {
    throw new AuthorizeError('request_not_supported', 'request objects are not supported');
  }
  if (get('request_uri') !== undefined) {
    throw new AuthorizeError('request_uri_not_supported', 'request_uri is not supported');
  }
  const responseType = get('response_type');
  if (responseType === undefined)
    throw new AuthorizeError('invalid_request', 'response_type is required');
  if (responseType !== 'code') {
    throw new AuthorizeError('unsupported_response_type', 'only response_type=code is supported');
  }
  if (!client.grantTypes.has('authorization_code')) {
    throw new AuthorizeError(
      'unauthorized_client',
      'the client may not use the authorization code flow',
    );
  }
  const codeChallenge = checkPkce(get('code_challenge'), get('code_challenge_method'));
  const scopes = checkScopes(get('scope'), client);
  const single = get('resource');
  if (single !== undefined) resources.push(single);
  const nonce = get('nonce') ?? null;
  if (nonce !== null && nonce.length === 0)
    throw new AuthorizeError('invalid_request', 'nonce is empty');
  return {
    client,
    redirectUri,
    state: get('state') ?? null,
    scopes,
    resources,
    nonce,
    codeChallenge,
    prompts: checkPrompt(get('prompt')),
    maxAgeSeconds: checkMaxAge(get('max_age')),
    loginHint: get('login_hint') ?? null,
    raw,
  };
}

function checkPkce(challenge: string | undefined, method: string | undefined): string {
  if (challenge === undefined)
    throw new AuthorizeError('invalid_request', 'code_challenge is required');
  if (method !== 'S256') {
    throw new AuthorizeError('invalid_request', 'code_challenge_method must be S256');
  }
  if (!CODE_CHALLENGE.test(challenge)) {
    throw new AuthorizeError(
      'invalid_request',
      'code_challenge must be 43-128 unreserved characters',
    );
  }
  if (new Set(challenge).size < MIN_DISTINCT_CHALLENGE_CHARS) {
    throw new AuthorizeError('invalid_request', 'code_challenge has too little entropy');
  }
  return challenge;
}

function checkScopes(value: string | undefined, client: ClientRecord): string[] {
  if (value === undefined) throw new AuthorizeError('invalid_scope', 'scope is required');
  const scopes = parseScope(value);
  if (scopes === null) {
    throw new AuthorizeError(
      'invalid_scope',
      'scope is not a space-delimited list of scope tokens',
    );
  }
  const unknown = scopes.filter(
    (scope) => !OIDC_SCOPES.has(scope) && scope !== 'user' && !client.allowedScopes.includes(scope),
  );
  if (unknown.length > 0) {
    throw new AuthorizeError('invalid_scope', `the client may not request: ${unknown.join(' ')}`);
  }
  return [...new Set(scopes)];
}

function checkPrompt(value: string | undefined): Set<Prompt> {
  const prompts = new Set<Prompt>();
  if (value === undefined) return prompts;
  for (const prompt of value.split(' ')) {
    if (prompt !== 'none' && prompt !== 'login' && prompt !== 'consent') {
      throw new AuthorizeError('invalid_request', `prompt ${prompt} is not supported`);
    }
    prompts.add(prompt);
  }
  // OIDC Core §3.1.2.1: none must not be combined with any other value.
  if (prompts.has('none') && prompts.size > 1) {
    throw new AuthorizeError('invalid_request', 'prompt=none cannot be combined with other values');
  }
  return prompts;
}

function checkMaxAge(value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^\d{1,9}$/.test(value))
    throw new AuthorizeError('invalid_request', 'max_age must be a non-negative integer');
  return Number(value);
}

function safeUrl(value: string): URL | null {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

/** Adds response parameters to a redirect URI, keeping its own query (RFC 6749 §3.1.2). */
export function redirectWith(redirectUri: string, params: Record<string, string | null>): string {
  const url = new URL(redirectUri);
  for (const [name, value] of Object.entries(params))
    if (value !== null) url.searchParams.append(name, value);
  return url.toString();
}
