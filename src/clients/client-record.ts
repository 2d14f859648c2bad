import type { JSONWebKeySet } from 'jose';
import type {
  ApplicationType,
  ClientSource,
  ClientType,
  TokenEndpointAuthMethod,
} from './entities/client.entity.js';

/** What the protocol endpoints know of a client: a plain, cached, read-only view of its row. */
export interface ClientRecord {
  readonly id: string;
  readonly name: string;
  readonly type: ClientType;
  readonly secretHash: string | null;
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  readonly grantTypes: ReadonlySet<string>;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  readonly allowedScopes: readonly string[];
  readonly serviceRoles: readonly string[];
  readonly ownerUserId: string | null;
  /** RFC 8693: may exchange tokens without an actor token (impersonation). */
  readonly mayImpersonate: boolean;
  readonly logoUri: string | null;
  readonly source: ClientSource;
  readonly applicationType: ApplicationType;
  readonly jwks: JSONWebKeySet | null;
  readonly jwksUri: string | null;
  /** A metadata-document client: when its document must be fetched again (epoch ms). */
  readonly metadataExpiresAt: number | null;
}
