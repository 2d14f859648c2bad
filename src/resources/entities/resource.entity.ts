import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A registered resource server (RFC 8707 audience). */
@Entity({ name: 'resources' })
export class ResourceEntity {
  /** Generated in code: the embedded database has no uuid-ossp for TypeORM to use. */
  @PrimaryColumn({ type: 'uuid' })
  id: string;

  /** Normalized with `normalizeResource`; unique (ux_resources_identifier). */
  @Column({ type: 'text' })
  identifier: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text', array: true })
  scopes: string[];

  /** Access-token lifetime for this audience, in seconds; null = the configured default. */
  @Column({ name: 'access_token_ttl_seconds', type: 'integer', nullable: true })
  accessTokenTtlSeconds: number | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
