import type { RawRequest, RawResponse } from './http.js';
import { ROUTES } from './routes.js';

/**
 * CORS for browser-based clients (SPAs, browser MCP clients) on the endpoints they call
 * directly: metadata, keys, token, revocation, UserInfo and registration. These endpoints take
 * no cookies, so any origin may call them and credentials are never allowed. The authorization
 * endpoint, logout, pages and the admin API get no CORS: browsers reach them by navigation, or
 * not at all from other origins.
 */
export interface CorsPolicy {
  /** The whole answer to a preflight `OPTIONS`. */
  readonly preflight: Readonly<Record<string, string>>;
}

/** Headers on actual responses: every origin, and the bearer challenge readable by scripts. */
const ACTUAL_HEADERS: readonly [string, string][] = [
  ['Access-Control-Allow-Origin', '*'],
  ['Access-Control-Expose-Headers', 'WWW-Authenticate'],
];
const ALLOWED_HEADERS = 'Authorization, Content-Type, MCP-Protocol-Version, DPoP';
/** How long a browser may cache a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

function policy(methods: readonly string[]): CorsPolicy {
  return {
    preflight: {
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': methods.join(', '),
      'Access-Control-Allow-Headers': ALLOWED_HEADERS,
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
      'Content-Length': '0',
    },
  };
}

const DOCUMENT = policy(['GET', 'HEAD']);
const POST_ONLY = policy(['POST']);
const BY_PATH = new Map<string, CorsPolicy>([
  [ROUTES.openidConfiguration, DOCUMENT],
  [ROUTES.oauthAuthorizationServer, DOCUMENT],
  [ROUTES.jwks, DOCUMENT],
  [ROUTES.protectedResource, DOCUMENT],
  [ROUTES.token, POST_ONLY],
  [ROUTES.revoke, POST_ONLY],
  [ROUTES.userinfo, policy(['GET', 'POST'])],
  [ROUTES.register, POST_ONLY],
]);
/** RFC 7592 client configuration endpoints: /oauth/register/:client_id. */
const REGISTRATION_PREFIX = `${ROUTES.register}/`;
const REGISTRATION_MANAGEMENT = policy(['GET', 'PUT', 'DELETE']);

/** The CORS policy of a request path, or undefined when the path gets no CORS. */
export function corsPolicy(path: string): CorsPolicy | undefined {
  return (
    BY_PATH.get(path) ??
    (path.startsWith(REGISTRATION_PREFIX) ? REGISTRATION_MANAGEMENT : undefined)
  );
}

/**
 * Answers a preflight (`OPTIONS`) with 204, or adds the CORS headers to the actual response.
 * Returns true when the request has been answered.
 */
export function applyCors(req: RawRequest, res: RawResponse, cors: CorsPolicy): boolean {
  if (req.method === 'OPTIONS') {
    res.writeHead(204, cors.preflight);
    res.end();
    return true;
  }
  for (const [name, value] of ACTUAL_HEADERS) res.setHeader(name, value);
  return false;
}
