import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A revoked access token, kept until the token would have expired anyway. */
@Entity({ name: 'revoked_jtis' })
export class RevokedJtiEntity {
  @PrimaryColumn({ type: 'text' })
  jti: string;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz' })
  revokedAt: Date;
}
