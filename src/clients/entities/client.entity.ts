import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ClientType = 'confidential' | 'public';
export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

@Entity({ name: 'clients' })
export class ClientEntity {
  @PrimaryColumn({ type: 'text' })
  id: string;

  @Column({ type: 'text' })
  name: string;

  @Column({ type: 'text' })
  type: ClientType;

  /** SHA-256 of the server-generated secret; null for public clients. */
  @Column({ name: 'secret_hash', type: 'text', nullable: true })
  secretHash: string | null;

  @Column({ name: 'secret_rotated_at', type: 'timestamptz', nullable: true })
  secretRotatedAt: Date | null;

  @Column({ name: 'redirect_uris', type: 'text', array: true })
  redirectUris: string[];

  /** RP-initiated logout targets, matched exactly. */
  @Column({ name: 'post_logout_redirect_uris', type: 'text', array: true })
  postLogoutRedirectUris: string[];

  @Column({ name: 'grant_types', type: 'text', array: true })
  grantTypes: string[];

  @Column({ name: 'response_types', type: 'text', array: true })
  responseTypes: string[];

  @Column({ name: 'allowed_scopes', type: 'text', array: true })
  allowedScopes: string[];

  /** User-tier roles this client holds as a service account (client_credentials only). */
  @Column({ name: 'service_roles', type: 'text', array: true })
  serviceRoles: string[];

  @Column({ name: 'token_endpoint_auth_method', type: 'text' })
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;

  @Column({ name: 'owner_user_id', type: 'uuid', nullable: true })
  ownerUserId: string | null;

  @Column({ type: 'text', array: true })
  contacts: string[];

  @Column({ name: 'logo_uri', type: 'text', nullable: true })
  logoUri: string | null;

  @Column({ name: 'policy_uri', type: 'text', nullable: true })
  policyUri: string | null;

  @Column({ name: 'tos_uri', type: 'text', nullable: true })
  tosUri: string | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;
}
