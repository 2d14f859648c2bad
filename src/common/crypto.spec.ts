import {
  SECRET_PREFIX,
  constantTimeEqual,
  generateSecret,
  randomId,
  secretMatchesHash,
  sha256,
} from './crypto.js';

describe('crypto helpers', () => {
  it('generates prefixed secrets with 256 bits of randomness', () => {
    const sut = generateSecret(SECRET_PREFIX.clientSecret);
    expect(sut).toMatch(/^lk_cs_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(sut.slice(6), 'base64url')).toHaveLength(32);
    expect(generateSecret(SECRET_PREFIX.clientSecret)).not.toBe(sut);
  });

  it('hashes with SHA-256 in base64url', () => {
    // Known answer: SHA-256("abc").
    expect(sha256('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
  });

  it('matches a secret against its stored hash', () => {
    const secret = generateSecret(SECRET_PREFIX.clientSecret);
    const stored = sha256(secret);
    expect(secretMatchesHash(secret, stored)).toBe(true);
    expect(secretMatchesHash(secret + 'x', stored)).toBe(false);
    expect(secretMatchesHash(secret, 'not-a-hash')).toBe(false);
    expect(secretMatchesHash('', stored)).toBe(false);
  });

  it('compares strings of any length in constant time', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  it('makes random ids of the requested size', () => {
    expect(Buffer.from(randomId(), 'base64url')).toHaveLength(16);
    expect(Buffer.from(randomId(24), 'base64url')).toHaveLength(24);
  });
});
