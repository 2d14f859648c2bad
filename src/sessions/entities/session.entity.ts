import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'sessions' })
export class SessionEntity {
  /** gen_random_uuid() by default (sessions are inserted with one SQL statement). */
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  /** SHA-256 of the `lk_sid_` cookie value; the value itself is never stored. */
  @Column({ name: 'sid_hash', type: 'text' })
  sidHash: string;

  @Column({ name: 'user_id', type: 'uuid', nullable: true })
  userId: string | null;

  @Column({ name: 'auth_time', type: 'timestamptz' })
  authTime: Date;

  /** RFC 8176 authentication method references. */
  @Column({ type: 'text', array: true })
  amr: string[];

  @Column({ name: 'user_agent', type: 'text', nullable: true })
  userAgent: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz' })
  lastSeenAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;
}
