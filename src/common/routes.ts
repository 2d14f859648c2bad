/**
 * Protocol routes. Controllers, the router and the discovery document all read these, so the
 * metadata cannot drift from what is served.
 */
export const ROUTES = {
  openidConfiguration: '/.well-known/openid-configuration',
  oauthAuthorizationServer: '/.well-known/oauth-authorization-server',
  jwks: '/.well-known/jwks.json',
  protectedResource: '/.well-known/oauth-protected-resource',
  authorize: '/oauth/authorize',
  authorizeDecision: '/oauth/authorize/decision',
  endSession: '/oauth/logout',
  token: '/oauth/token',
  introspect: '/oauth/introspect',
  revoke: '/oauth/revoke',
  userinfo: '/oauth/userinfo',
  anonymous: '/oauth/anonymous',
  register: '/oauth/register',
} as const;

export const PROTECTED_RESOURCE_METADATA_PATH = ROUTES.protectedResource;
