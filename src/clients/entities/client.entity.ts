import type { JSONWebKeySet } from 'jose';
import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ClientType = 'confidential' | 'public';
export type TokenEndpointAuthMethod =
  'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
/** Who made the client: an admin, dynamic registration (RFC 7591) or a metadata document. */
export type ClientSource = 'admin' | 'dcr' | 'cimd';
export type ApplicationType = 'web' | 'native';

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

  /** RFC 8693: the client may exchange a subject token without an actor (impersonation). */
  @Column({ name: 'may_impersonate', type: 'boolean', default: false })
  mayImpersonate: boolean;

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

  @Column({ type: 'text', default: 'admin' })
  source: ClientSource;

  @Column({ name: 'application_type', type: 'text', default: 'web' })
  applicationType: ApplicationType;

  /** SHA-256 of the RFC 7592 registration access token (`lk_rat_`). */
  @Column({ name: 'registration_access_token_hash', type: 'text', nullable: true })
  registrationAccessTokenHash: string | null;

  /** Public keys for private_key_jwt, given inline… */
  @Column({ type: 'jsonb', nullable: true })
  jwks: JSONWebKeySet | null;

  /** …or by reference, fetched with the SSRF-safe fetcher. */
  @Column({ name: 'jwks_uri', type: 'text', nullable: true })
  jwksUri: string | null;

  @Column({ name: 'client_uri', type: 'text', nullable: true })
  clientUri: string | null;

  @Column({ name: 'software_id', type: 'text', nullable: true })
  softwareId: string | null;

  @Column({ name: 'software_version', type: 'text', nullable: true })
  softwareVersion: string | null;

  /** For a metadata-document client: when the cached document must be fetched again. */
  @Column({ name: 'metadata_expires_at', type: 'timestamptz', nullable: true })
  metadataExpiresAt: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;

  @Column({ name: 'last_used_at', type: 'timestamptz', nullable: true })
  lastUsedAt: Date | null;
}
