import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { applyCors, corsPolicy } from './cors.js';
import { requestPath, sendOAuthError, type RawRequest, type RawResponse } from './http.js';
import { MethodNotAllowed } from './oauth-errors.js';
import type { ProtocolEndpoint } from './protocol-endpoint.js';
import { runInRequestContext } from './request-context.js';
import { applyProtocolHeaders } from './security-headers.js';

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;
/** Express's compiled `trust proxy` setting: is the address at this hop a trusted proxy? */
export type TrustProxy = (address: string, hop: number) => boolean;

export interface ProtocolRoutes {
  /** Matched on the exact path. */
  endpoints: ProtocolEndpoint[];
  /** Matched on a path prefix: those whose path carries a parameter (RFC 7592). */
  prefixed: ProtocolEndpoint[];
  securityHeaders: readonly (readonly [string, string])[];
  trustProxy: TrustProxy;
}

/**
 * Puts the protocol endpoints in front of express on the HTTP server itself. The hot routes
 * (token, introspection, discovery, JWKS) then skip express's router, its request and response
 * prototypes and every middleware layer, which cost more than the discovery handler itself.
 * Everything else goes to express (and Nest) unchanged.
 */
export function serveProtocolFirst(server: Server, routes: ProtocolRoutes): void {
  const framework = server.listeners('request') as RequestListener[];
  if (framework.length !== 1) {
    throw new Error(`expected one request listener on the HTTP server, found ${framework.length}`);
  }
  const [fallback] = framework;
  const dispatch = protocolDispatcher(routes, fallback);
  server.removeAllListeners('request');
  server.on('request', dispatch);
}

/**
 * Exact-path dispatch of the protocol endpoints, then prefix dispatch of the few whose path
 * carries a parameter; a wrong method is a 405 in OAuth format. CORS preflights for protocol
 * paths are answered here too.
 */
export function protocolDispatcher(routes: ProtocolRoutes, fallback: RequestListener) {
  const byPath = new Map(routes.endpoints.map((endpoint) => [endpoint.path, endpoint]));
  const { prefixed, securityHeaders, trustProxy } = routes;
  return (req: RawRequest, res: RawResponse): void => {
    const path = requestPath(req.url);
    const cors = corsPolicy(path);
    const endpoint =
      byPath.get(path) ?? prefixed.find((candidate) => path.startsWith(candidate.path));
    // Every CORS path has its endpoint; a preflight for one without (none today) is still ours.
    if (endpoint === undefined && (cors === undefined || req.method !== 'OPTIONS')) {
      return fallback(req, res);
    }
    req.ip = clientAddress(req, trustProxy);
    runInRequestContext(req, res, () => {
      // Precomputed, so the hot path pays a few setHeader calls and no middleware chain.
      applyProtocolHeaders(res, securityHeaders);
      if (cors !== undefined && applyCors(req, res, cors)) return;
      if (endpoint !== undefined) serve(endpoint, req, res);
    });
  };
}

function serve(endpoint: ProtocolEndpoint, req: RawRequest, res: RawResponse): void {
  if (!endpoint.methods.includes(req.method ?? '')) {
    res.setHeader('Allow', endpoint.methods.join(', '));
    sendOAuthError(req, res, new MethodNotAllowed(`use ${endpoint.methods[0]} for this endpoint`));
    return;
  }
  try {
    const pending = endpoint.handle(req, res);
    if (pending) pending.catch((err: unknown) => sendOAuthError(req, res, err));
  } catch (err) {
    sendOAuthError(req, res, err);
  }
}

/**
 * The client's address as express's `req.ip` computes it: walk X-Forwarded-For from the nearest
 * hop while the hop is a trusted proxy (TRUST_PROXY); the first untrusted one is the client.
 */
export function clientAddress(req: IncomingMessage, trustProxy: TrustProxy): string | undefined {
  const direct = req.socket.remoteAddress;
  if (direct === undefined || !trustProxy(direct, 0)) return direct;
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string' || header === '') return direct;
  const hops = header.split(',');
  for (let i = hops.length - 1, hop = 1; i >= 0; i--, hop++) {
    const address = hops[i].trim();
    if (i === 0 || !trustProxy(address, hop)) return address;
  }
  return direct;
}
