import { SECRET_PREFIX, generateSecret, sha256 } from '../common/crypto.js';
import { openSuccessor, sealSuccessor } from './successor-sealing.js';

describe('successor sealing', () => {
  const parent = generateSecret(SECRET_PREFIX.refreshToken);
  const successor = generateSecret(SECRET_PREFIX.refreshToken);

  it('opens with the parent token that sealed it', () => {
    const sealed = sealSuccessor(parent, sha256(parent), successor);
    expect(openSuccessor(parent, sha256(parent), sealed)).toBe(successor);
  });

  it('does not reveal the successor in the sealed form', () => {
    const sealed = sealSuccessor(parent, sha256(parent), successor);
    expect(sealed).not.toContain(successor.slice(SECRET_PREFIX.refreshToken.length));
    expect(sealSuccessor(parent, sha256(parent), successor)).not.toBe(sealed);
  });

  it('cannot be opened with the stored hash or another token', () => {
    const sealed = sealSuccessor(parent, sha256(parent), successor);
    const other = generateSecret(SECRET_PREFIX.refreshToken);
    expect(openSuccessor(sha256(parent), sha256(parent), sealed)).toBeNull();
    expect(openSuccessor(other, sha256(parent), sealed)).toBeNull();
  });

  it('is bound to the row it was stored on', () => {
    const sealed = sealSuccessor(parent, sha256(parent), successor);
    expect(openSuccessor(parent, sha256(successor), sealed)).toBeNull();
  });

  it('rejects tampered or truncated input', () => {
    const sealed = sealSuccessor(parent, sha256(parent), successor);
    const raw = Buffer.from(sealed, 'base64url');
    raw[raw.length - 1] ^= 1;
    expect(openSuccessor(parent, sha256(parent), raw.toString('base64url'))).toBeNull();
    expect(openSuccessor(parent, sha256(parent), sealed.slice(0, 20))).toBeNull();
  });
});
