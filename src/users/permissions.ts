/**
 * Permissions and scope resolution (ARCHITECTURE.md, Permissions).
 *
 * User-tier permissions come from roles; `admin` sits above `user`. Every other scope is a
 * service-tier scope, defined by the resources it addresses.
 */
export const USER_TIER = ['user', 'admin'] as const;
export type UserTierPermission = (typeof USER_TIER)[number];

/** Built-in roles and the permissions they grant. */
export const BUILT_IN_ROLES: Readonly<Record<string, readonly UserTierPermission[]>> = {
  user: ['user'],
  admin: ['user', 'admin'],
};

const LEVEL = new Map<string, number>(USER_TIER.map((name, index) => [name, index]));

export function isUserTier(scope: string): scope is UserTierPermission {
  return LEVEL.has(scope);
}

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function isScopeToken(value: string): boolean {
  return value.length <= 128 && SCOPE_TOKEN.test(value);
}

/** Splits a `scope` parameter; null when it is not a valid space-delimited list. */
export function parseScope(value: string): string[] | null {
  if (value.length === 0 || value.length > 4096) return null;
  const tokens = value.split(' ');
  return tokens.every(isScopeToken) ? tokens : null;
}

/** Expands roles into the user-tier permissions they grant. */
export function permissionsOfRoles(roles: Iterable<string>): Set<string> {
  const held = new Set<string>();
  for (const role of roles)
    for (const permission of BUILT_IN_ROLES[role] ?? []) held.add(permission);
  return held;
}

export type ScopeResolution = { ok: true; scopes: string[] } | { ok: false; denied: string[] };

/**
 * Resolves requested scopes against what the caller holds. `user` expands to every user-tier
 * permission held; any other scope is granted only if held. The result is ordered by hierarchy
 * level (user-tier first, then service-tier by name) and de-duplicated. A scope that is not
 * held is reported, so the caller can answer `invalid_scope`; an empty result is never granted.
 */
export function resolveScopes(
  requested: Iterable<string>,
  held: ReadonlySet<string>,
): ScopeResolution {
  const granted = new Set<string>();
  const denied: string[] = [];
  for (const scope of requested) {
    if (scope === 'user' && held.has('user')) {
      for (const permission of USER_TIER) if (held.has(permission)) granted.add(permission);
    } else if (held.has(scope)) {
      granted.add(scope);
    } else {
      denied.push(scope);
    }
  }
  if (denied.length > 0 || granted.size === 0) return { ok: false, denied };
  return { ok: true, scopes: orderScopes(granted) };
}

export function orderScopes(scopes: Iterable<string>): string[] {
  return [...new Set(scopes)].sort((a, b) => {
    const la = LEVEL.get(a) ?? USER_TIER.length;
    const lb = LEVEL.get(b) ?? USER_TIER.length;
    return la !== lb ? la - lb : a < b ? -1 : a > b ? 1 : 0;
  });
}
