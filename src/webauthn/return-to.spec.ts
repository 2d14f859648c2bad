import { safeReturnTo } from './return-to.js';

describe(safeReturnTo.name, () => {
  const issuer = 'https://id.example.com';

  it.each([
    ['/oauth/authorize?client_id=a&state=b', '/oauth/authorize?client_id=a&state=b'],
    ['/oauth/authorize?x=%2F%2Fevil', '/oauth/authorize?x=%2F%2Fevil'],
  ])('keeps the same-origin authorize request %s', (returnTo, expected) => {
    expect(safeReturnTo(returnTo, issuer)).toBe(expected);
  });

  it.each([
    [undefined],
    [''],
    ['/account'],
    ['/oauth/authorize'],
    ['https://evil.example/oauth/authorize?x=1'],
    ['//evil.example/oauth/authorize?x=1'],
    ['/oauth/authorize?x=1\\evil'],
    ['/oauth/authorize?x=1\n'],
    ['/oauth/authorizex?y=1'],
  ])('falls back to /account for %j', (returnTo) => {
    expect(safeReturnTo(returnTo, issuer)).toBe('/account');
  });
});
