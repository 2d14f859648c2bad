import { randomBytes } from 'node:crypto';
import { decryptPrivateKey, encryptPrivateKey } from './key-encryption.js';

describe('key encryption', () => {
  const masterKey = randomBytes(32);

  it('round-trips a private key', () => {
    const sealed = encryptPrivateKey(masterKey, 'kid-1', '{"d":"secret"}');
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain('secret');
    expect(decryptPrivateKey(masterKey, 'kid-1', sealed)).toBe('{"d":"secret"}');
  });

  it('refuses another master key, another kid or a tampered ciphertext', () => {
    const sealed = encryptPrivateKey(masterKey, 'kid-1', 'payload');
    expect(() => decryptPrivateKey(randomBytes(32), 'kid-1', sealed)).toThrow();
    expect(() => decryptPrivateKey(masterKey, 'kid-2', sealed)).toThrow();
    const parts = sealed.split('.');
    parts[2] = Buffer.from('tampered').toString('base64url');
    expect(() => decryptPrivateKey(masterKey, 'kid-1', parts.join('.'))).toThrow();
    expect(() => decryptPrivateKey(masterKey, 'kid-1', 'v0.a.b.c')).toThrow();
  });
});
