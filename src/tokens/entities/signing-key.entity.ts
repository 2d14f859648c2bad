import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { JWK } from 'jose';

export type KeyUse = 'access_token' | 'id_token';
export type KeyState = 'pending' | 'active' | 'retired';

@Entity({ name: 'signing_keys' })
export class SigningKeyEntity {
  @PrimaryColumn({ type: 'text' })
  kid: string;

  @Column({ type: 'text' })
  use: KeyUse;

  @Column({ type: 'text' })
  alg: string;

  @Column({ type: 'text' })
  state: KeyState;

  @Column({ name: 'public_jwk', type: 'jsonb' })
  publicJwk: JWK;

  /** AES-256-GCM under MASTER_KEY; see key-encryption.ts. */
  @Column({ name: 'private_key_enc', type: 'text' })
  privateKeyEnc: string;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'activate_at', type: 'timestamptz' })
  activateAt: Date;

  @Column({ name: 'retired_at', type: 'timestamptz', nullable: true })
  retiredAt: Date | null;

  /** When a retired key leaves the JWKS: every token it signed has expired by then. */
  @Column({ name: 'expires_at', type: 'timestamptz', nullable: true })
  expiresAt: Date | null;

  /**
   * Set when an admin revoked the key (compromise): it is then `retired` with `expires_at` at
   * this time, so it left the JWKS at once and no token it signed verifies any more.
   */
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;
}
