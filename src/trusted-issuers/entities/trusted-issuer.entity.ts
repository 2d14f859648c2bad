import type { JSONWebKeySet } from 'jose';
import { Column, Entity, PrimaryColumn } from 'typeorm';

/** How a trusted issuer's `sub` becomes a local user. */
export type SubjectMapping = 'sub_link' | 'verified_email' | 'external';

/** An external issuer whose JWTs are accepted as token-exchange subject tokens. */
@Entity({ name: 'trusted_issuers' })
export class TrustedIssuerEntity {
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  /** Compared byte for byte with the token's `iss`; unique (ux_trusted_issuers_issuer). */
  @Column({ type: 'text' })
  issuer: string;

  /** Exactly one of jwks_uri and jwks is set (ck_trusted_issuers_keys). */
  @Column({ name: 'jwks_uri', type: 'text', nullable: true })
  jwksUri: string | null;

  @Column({ type: 'jsonb', nullable: true })
  jwks: JSONWebKeySet | null;

  @Column({ type: 'text', array: true })
  algorithms: string[];

  @Column({ name: 'subject_mapping', type: 'text' })
  subjectMapping: SubjectMapping;

  @Column({ name: 'allowed_client_ids', type: 'text', array: true })
  allowedClientIds: string[];

  /** The `aud` the issuer's tokens must carry; null = this server's issuer. */
  @Column({ type: 'text', nullable: true })
  audience: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
