import type { EntityManager } from 'typeorm';
import { returnedRows } from '../database/query-result.js';
import type { KeyState, KeyUse, SigningKeyEntity } from './entities/signing-key.entity.js';
import { TokensError, TokensErrorCode } from './tokens.errors.js';

/** Key ids are JWK thumbprints (RFC 7638, base64url); anything else names no key. */
const KID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export interface KeyRevocationOutcome {
  use: KeyUse;
  /** The state the key had; null when it was revoked already (nothing changed). */
  previousState: KeyState | null;
  /** The key that signs in its place, when the revoked key was the active one. */
  replacementKid: string | null;
}

/**
 * Revokes a signing key in one transaction: it becomes `retired` with `expires_at` now, so every
 * node drops it from the JWKS and from verification on its next reload, and a node of the
 * previous release (which knows nothing of `revoked_at`) does too. Revoking the active key first
 * puts another in its place, so that tokens of that use can still be issued: the newest pending
 * key of the same use, promoted at once, or else a freshly generated one. Skipping the promotion
 * delay is deliberate: a verifier that has not seen the new key yet refetches the JWKS on an
 * unknown `kid`, while the compromised key must stop signing now.
 */
export async function revokeKey(
  tx: EntityManager,
  kid: string,
  generate: (use: KeyUse) => Promise<SigningKeyEntity>,
): Promise<KeyRevocationOutcome> {
  const [key] = KID_PATTERN.test(kid)
    ? await tx.query<{ use: KeyUse; state: KeyState; revoked_at: Date | null }[]>(
        `SELECT use, state, revoked_at FROM signing_keys WHERE kid = $1 FOR UPDATE`,
        [kid],
      )
    : [];
  if (key === undefined)
    throw new TokensError(TokensErrorCode.KeyNotFound, 'signing key not found');
  if (key.revoked_at !== null) return { use: key.use, previousState: null, replacementKid: null };

  await tx.query(
    `UPDATE signing_keys SET state = 'retired', retired_at = coalesce(retired_at, now()),
       expires_at = now(), revoked_at = now()
     WHERE kid = $1`,
    [kid],
  );
  const replacementKid = key.state === 'active' ? await replaceActive(tx, key.use, generate) : null;
  return { use: key.use, previousState: key.state, replacementKid };
}

async function replaceActive(
  tx: EntityManager,
  use: KeyUse,
  generate: (use: KeyUse) => Promise<SigningKeyEntity>,
): Promise<string> {
  const promoted = returnedRows<{ kid: string }>(
    await tx.query(
      `UPDATE signing_keys SET state = 'active', activate_at = least(activate_at, now())
       WHERE kid = (SELECT kid FROM signing_keys WHERE use = $1 AND state = 'pending'
                    ORDER BY activate_at DESC, created_at DESC LIMIT 1 FOR UPDATE)
       RETURNING kid`,
      [use],
    ),
  );
  if (promoted.length > 0) return promoted[0].kid;
  const row = await generate(use);
  await tx.query(
    `INSERT INTO signing_keys (kid, use, alg, state, public_jwk, private_key_enc, created_at, activate_at)
     VALUES ($1, $2, $3, 'active', $4, $5, now(), now())`,
    [row.kid, use, row.alg, JSON.stringify(row.publicJwk), row.privateKeyEnc],
  );
  return row.kid;
}
