import {
  isScopeToken,
  orderScopes,
  parseScope,
  permissionsOfRoles,
  resolveScopes,
} from './permissions.js';

describe('resolveScopes', () => {
  it('grants held scopes in hierarchy order, de-duplicated', () => {
    const held = new Set(['user', 'admin', 'reports:read', 'billing:write']);
    expect(resolveScopes(['reports:read', 'admin', 'reports:read'], held)).toEqual({
      ok: true,
      scopes: ['admin', 'reports:read'],
    });
  });

  it('expands `user` to every user-tier permission held', () => {
    expect(resolveScopes(['user'], permissionsOfRoles(['admin']))).toEqual({
      ok: true,
      scopes: ['user', 'admin'],
    });
    expect(resolveScopes(['user'], permissionsOfRoles(['user']))).toEqual({
      ok: true,
      scopes: ['user'],
    });
  });

  it('reports scopes that are not held', () => {
    expect(resolveScopes(['admin', 'reports:read'], new Set(['reports:read']))).toEqual({
      ok: false,
      denied: ['admin'],
    });
    expect(resolveScopes(['user'], new Set(['reports:read']))).toEqual({
      ok: false,
      denied: ['user'],
    });
  });

  it('never grants an empty scope', () => {
    expect(resolveScopes([], new Set(['a']))).toEqual({ ok: false, denied: [] });
  });
});

describe('scope syntax', () => {
  it('accepts RFC 6749 scope tokens only', () => {
    expect(isScopeToken('reports:read')).toBe(true);
    expect(isScopeToken('a"b')).toBe(false);
    expect(isScopeToken('a\\b')).toBe(false);
    expect(isScopeToken('é')).toBe(false);
    expect(isScopeToken('')).toBe(false);
  });

  it('parses space-delimited lists and refuses empty parts', () => {
    expect(parseScope('a b')).toEqual(['a', 'b']);
    expect(parseScope('a  b')).toBeNull();
    expect(parseScope('')).toBeNull();
    expect(parseScope(' a')).toBeNull();
  });

  it('orders user-tier first, then by name', () => {
    expect(orderScopes(['zeta', 'admin', 'alpha', 'user'])).toEqual([
      'user',
      'admin',
      'alpha',
      'zeta',
    ]);
  });
});
