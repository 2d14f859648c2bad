/**
 * Where to go after signing in (docs/contracts-people.md, Login round trip): `return_to` only
 * if it is a same-origin path starting with `/oauth/authorize?`, else the account page.
 */
export function safeReturnTo(returnTo: string | undefined, issuer: string): string {
  const fallback = '/account';
  if (returnTo === undefined || !returnTo.startsWith('/oauth/authorize?')) return fallback;
  // No backslashes or control characters: browsers treat some of them as path separators.
  if (returnTo.includes('\\') || [...returnTo].some(isControl)) return fallback;
  const base = new URL(issuer);
  let target: URL;
  try {
    target = new URL(returnTo, base);
  } catch {
    return fallback;
  }
  if (target.origin !== base.origin) return fallback;
  return target.pathname + target.search;
}

function isControl(char: string): boolean {
  const code = char.charCodeAt(0);
  return code < 0x20 || code === 0x7f;
}
