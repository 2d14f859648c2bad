import { readCookie, serializeCookie } from './cookies.js';

describe(readCookie.name, () => {
  it('finds a cookie among others, trimming spaces and quotes', () => {
    expect(readCookie({ cookie: 'a=1; lk_session=lk_sid_x ;b=2' }, 'lk_session')).toBe('lk_sid_x');
    expect(readCookie({ cookie: 'lk_session="quoted"' }, 'lk_session')).toBe('quoted');
  });

  it('takes the first of repeated cookies', () => {
    expect(readCookie({ cookie: 'n=first; n=second' }, 'n')).toBe('first');
  });

  it('is null when absent or empty, and never matches on a prefix', () => {
    expect(readCookie({}, 'n')).toBeNull();
    expect(readCookie({ cookie: '' }, 'n')).toBeNull();
    expect(readCookie({ cookie: 'n=' }, 'n')).toBeNull();
    expect(readCookie({ cookie: 'nn=1; xn=2; flag' }, 'n')).toBeNull();
  });
});

describe(serializeCookie.name, () => {
  it('writes an HttpOnly cookie, Secure when asked', () => {
    expect(serializeCookie('n', 'v', { maxAgeSeconds: 60, secure: true })).toBe(
      'n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure',
    );
  });

  it('deletes with Max-Age=0 and a past Expires', () => {
    expect(
      serializeCookie('n', '', { maxAgeSeconds: 0, secure: false, path: '/x', sameSite: 'Strict' }),
    ).toBe(
      'n=; Path=/x; Max-Age=0; HttpOnly; SameSite=Strict; Expires=Thu, 01 Jan 1970 00:00:00 GMT',
    );
  });

  it('refuses a prefixed name without the attributes the prefix promises', () => {
    expect(() => serializeCookie('__Host-n', 'v', { maxAgeSeconds: 60, secure: false })).toThrow(
      '__Host- needs Secure and Path=/',
    );
    expect(() =>
      serializeCookie('__Host-n', 'v', { maxAgeSeconds: 60, secure: true, path: '/x' }),
    ).toThrow('__Host- needs Secure and Path=/');
    expect(() => serializeCookie('__Secure-n', 'v', { maxAgeSeconds: 60, secure: false })).toThrow(
      '__Secure- needs Secure',
    );
    expect(serializeCookie('__Host-n', 'v', { maxAgeSeconds: 60, secure: true })).toBe(
      '__Host-n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure',
    );
  });
});
