// node-oidc-provider, configured as Latchkey's peer for the side-by-side benchmark
// (bench/peer.mjs starts it): one confidential client with client_secret_basic, the
// client_credentials and refresh_token grants, ES256 JWT access tokens for a default resource
// (RFC 8707), introspection and revocation. Storage is the provider's own memory adapter or
// the PostgreSQL adapter in pg-adapter.mjs.
//
// Settings (environment, all required but DATABASE_URL): PORT, HOST, ISSUER, PEER_STORAGE
// (memory | postgres), DATABASE_URL, PEER_CLIENT_ID, PEER_CLIENT_SECRET, PEER_RESOURCE,
// PEER_OPAQUE_RESOURCE, PEER_REDIRECT_URI.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';
import { postgresAdapter } from './pg-adapter.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const PORT = Number(env('PORT'));
const HOST = env('HOST');
const ISSUER = env('ISSUER');
const STORAGE = env('PEER_STORAGE');
const CLIENT_ID = env('PEER_CLIENT_ID');
const RESOURCE = env('PEER_RESOURCE');
const OPAQUE_RESOURCE = env('PEER_OPAQUE_RESOURCE');
const ACCOUNT_ID = 'bench-user';
const HOUR_S = 3600;
const MONTH_S = 30 * 24 * HOUR_S;
/** The same pool size as Latchkey's own (src/database/data-source.ts). */
const POOL_SIZE = 10;
/** Concurrent saves while seeding refresh tokens. */
const SEED_CONCURRENCY = 32;

// The keys Latchkey has by default: ES256 for access tokens, RS256 (2048 bits) for ID tokens.
const signingKey = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('base64url'),
  alg: 'ES256',
  use: 'sig',
};
const idTokenKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('base64url'),
  alg: 'RS256',
  use: 'sig',
};

let storage = null;
if (STORAGE === 'postgres') storage = await postgresAdapter(env('DATABASE_URL'), POOL_SIZE);
else if (STORAGE !== 'memory') throw new Error('PEER_STORAGE must be memory or postgres');

const provider = new Provider(ISSUER, {
  ...(storage ? { adapter: storage.Adapter } : {}),
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: env('PEER_CLIENT_SECRET'),
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [env('PEER_REDIRECT_URI')],
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey, idTokenKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', 'reports:read'],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  // Latchkey rotates every refresh token on use (OAuth 2.1 §4.3.1); so does the peer here.
  rotateRefreshToken: true,
  ttl: {
    AccessToken: HOUR_S,
    ClientCredentials: HOUR_S,
    IdToken: HOUR_S,
    AuthorizationCode: 60,
    RefreshToken: MONTH_S,
    Grant: MONTH_S,
    Session: MONTH_S,
    Interaction: HOUR_S,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The provider's default rule, stated so it does not warn: a public client may only
      // introspect its own tokens.
      allowedPolicy: (_ctx, client, token) =>
        client.clientAuthMethod !== 'none' || token.clientId === client.clientId,
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      // The default resource gets ES256 JWTs. The peer refuses to introspect JWTs (they are
      // meant to be validated locally), so a second resource gets opaque tokens, which it can.
      getResourceServerInfo: (_ctx, resource) => {
        if (resource !== RESOURCE && resource !== OPAQUE_RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'reports:read',
          audience: resource,
          accessTokenTTL: HOUR_S,
          ...(resource === RESOURCE
            ? { accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }
            : { accessTokenFormat: 'opaque' }),
        };
      },
    },
  },
});
provider.on('server_error', (_ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));

/**
 * Refresh tokens as an authorization-code redemption would leave them: a grant per token
 * (openid offline_access, reports:read at the default resource) and a refresh token bound to it.
 * The benchmark needs one fresh token per rotation and the peer has no faster honest way in.
 */
async function seedRefreshTokens(count) {
  const client = await provider.Client.find(CLIENT_ID);
  const authTime = Math.floor(Date.now() / 1000) - 60;
  const tokens = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: CLIENT_ID });
      grant.addOIDCScope('openid offline_access');
      grant.addResourceScope(RESOURCE, 'reports:read');
      const grantId = await grant.save();
      const refreshToken = new provider.RefreshToken({
        client,
        accountId: ACCOUNT_ID,
        grantId,
        gty: 'authorization_code',
        scope: 'openid offline_access reports:read',
        resource: RESOURCE,
        authTime,
        amr: ['hwk'],
      });
      tokens[index] = await refreshToken.save();
    }
  };
  await Promise.all(Array.from({ length: Math.min(SEED_CONCURRENCY, count) }, worker));
  return tokens;
}

const handler = provider.callback();
const server = createServer((req, res) => {
  const url = new URL(req.url, ISSUER);
  if (req.method === 'POST' && url.pathname === '/bench/refresh-tokens') {
    const count = Number(url.searchParams.get('count'));
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
      res.writeHead(400).end();
      return;
    }
    seedRefreshTokens(count).then(
      (tokens) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(tokens));
      },
      (err) => {
        process.stderr.write(`seeding failed: ${err.stack}\n`);
        res.writeHead(500).end();
      },
    );
    return;
  }
  handler(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(PORT, HOST);

const stop = () => {
  server.close();
  server.closeAllConnections();
  void (storage?.close() ?? Promise.resolve()).finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
