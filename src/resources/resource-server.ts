import { isLoopbackHost } from '../config/app-config.js';
import { USER_TIER, isUserTier } from '../users/permissions.js';

/** Bounds of a resource's own access-token lifetime, in seconds (ck_resources_ttl). */
export const MIN_RESOURCE_TOKEN_TTL_SECONDS = 30;
export const MAX_RESOURCE_TOKEN_TTL_SECONDS = 86_400;

/** OIDC scopes are about the sign-in itself: no resource defines or limits them. */
export const OIDC_SCOPE_NAMES: ReadonlySet<string> = new Set([
  'openid',
  'profile',
  'email',
  'offline_access',
]);

export interface ResourceServer {
  identifier: string;
  name: string;
  /**
   * The scopes this resource defines; a token for it carries only these and OIDC scopes.
   * null = the default audience, which limits nothing.
   */
  scopes: ReadonlySet<string> | null;
  /** Access-token lifetime for this audience, in seconds; null = the configured default. */
  accessTokenTtlSeconds: number | null;
}

/**
 * RFC 8707 §2: an absolute URI without a fragment. `https://host` and `https://host/` name the
 * same resource, so an empty path compares as `/`.
 */
export function normalizeResource(value: string): string | null {
  if (value.length > 2048) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.hash || value.includes('#')) return null;
  return url.href;
}

/**
 * Why an identifier cannot be registered, or null when it can: https (http only on a loopback
 * host, for development), absolute, no fragment, no credentials.
 */
export function identifierProblem(value: string): string | null {
  const normalized = normalizeResource(value);
  if (normalized === null) return 'identifier must be an absolute URI without a fragment';
  const url = new URL(normalized);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    return 'identifier must use https (http only on a loopback host)';
  }
  if (url.username || url.password) return 'identifier must not contain credentials';
  return null;
}

/** Scopes a resource may not define: OIDC scopes and the user-tier permissions. */
export function reservedScopes(scopes: readonly string[]): string[] {
  return scopes.filter((scope) => OIDC_SCOPE_NAMES.has(scope) || isUserTier(scope));
}

/**
 * Requested scopes that none of `targets` defines (OIDC scopes always pass). `user` stands for
 * the user-tier permissions, so it passes when a target defines one of them.
 */
export function undefinedScopes(
  targets: readonly ResourceServer[],
  requested: readonly string[],
): string[] {
  if (targets.length === 0 || targets.some((target) => target.scopes === null)) return [];
  const defined = (scope: string) =>
    targets.some(
      (target) =>
        target.scopes?.has(scope) === true ||
        (scope === 'user' && USER_TIER.some((permission) => target.scopes?.has(permission))),
    );
  return requested.filter((scope) => !OIDC_SCOPE_NAMES.has(scope) && !defined(scope));
}

/** `scopes` narrowed to what `target` defines, OIDC scopes kept, order kept. */
export function scopesFor(target: ResourceServer, scopes: readonly string[]): string[] {
  const defined = target.scopes;
  if (defined === null) return [...scopes];
  return scopes.filter((scope) => OIDC_SCOPE_NAMES.has(scope) || defined.has(scope));
}

/** The `invalid_scope` description for scopes outside the named resources. */
export function describeUndefined(targets: readonly ResourceServer[], scopes: string[]): string {
  return targets.length === 1
    ? `the resource ${targets[0].identifier} does not define: ${scopes.join(' ')}`
    : `none of the requested resources defines: ${scopes.join(' ')}`;
}
