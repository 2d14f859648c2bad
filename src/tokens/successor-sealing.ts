import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const INFO = 'latchkey refresh-token successor v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals a refresh token's successor under a key derived (HKDF-SHA-256) from the token's own
 * plaintext, which the server never stores. Only a caller that presents the parent token can
 * open the successor; the database alone (which holds SHA-256 hashes, a different derivation)
 * cannot. The token hash is bound as associated data.
 */
export function sealSuccessor(parentToken: string, parentHash: string, successor: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(parentToken), iv);
  cipher.setAAD(Buffer.from(parentHash));
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** Opens a sealed successor; null when the parent token or the ciphertext does not match. */
export function openSuccessor(
  parentToken: string,
  parentHash: string,
  sealed: string,
): string | null {
  const raw = Buffer.from(sealed, 'base64url');
  if (raw.length <= IV_BYTES + TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      deriveKey(parentToken),
      raw.subarray(0, IV_BYTES),
    );
    decipher.setAAD(Buffer.from(parentHash));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([
      decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return null;
  }
}

function deriveKey(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, Buffer.alloc(0), INFO, 32));
}
