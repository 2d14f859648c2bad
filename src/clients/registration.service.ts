import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { SECRET_PREFIX, generateSecret, secretMatchesHash, sha256 } from '../common/crypto.js';
import {
  AccessDenied,
  BearerTokenMissing,
  InvalidClientMetadata,
  InvalidRequest,
  InvalidToken,
} from '../common/oauth-errors.js';
import { ROUTES } from '../common/routes.js';
import { EventBus } from '../database/event-bus.service.js';
import { returnedRows } from '../database/query-result.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import { ClientEntity, type TokenEndpointAuthMethod } from './entities/client.entity.js';
import { RegistrationInitialAccessTokensService } from './registration-initial-access-tokens.service.js';
import { parseRegistrationMetadata, type RegistrationMetadata } from './registration-metadata.js';
import {
  issuedAt,
  toRegistrationResponse,
  type RegistrationResponse,
} from './registration-response.js';

const IAT_INVALID = 'the initial access token is not valid';
const RAT_INVALID = 'the registration access token is not valid';

/**
 * Dynamic client registration (RFC 7591) and its management protocol (RFC 7592). Registered
 * clients are `source = 'dcr'` and hold a registration access token, stored as SHA-256, that
 * is rotated on every update.
 */
@Injectable()
export class RegistrationService {
  constructor(
    private readonly config: AppConfig,
    @InjectRepository(ClientEntity) private readonly clients: Repository<ClientEntity>,
    private readonly dataSource: DataSource,
    private readonly initialAccessTokens: RegistrationInitialAccessTokensService,
    private readonly bus: EventBus,
    private readonly audit: AuditService,
    private readonly accessTokens: AccessTokensService,
  ) {}

  /**
   * With registration off the endpoint refuses everyone: 403 access_denied says "not for you"
   * in OAuth terms, while clients that read the metadata never see the endpoint at all.
   */
  assertEnabled(): void {
    if (this.config.registration.mode === 'off') {
      throw new AccessDenied('dynamic client registration is disabled');
    }
  }

  /** RFC 7591 §3: in `initial-access-token` mode the request carries an admin-issued token. */
  async checkInitialAccessToken(token: string | null): Promise<void> {
    if (this.config.registration.mode !== 'initial-access-token') return;
    if (token === null) throw new BearerTokenMissing('an initial access token is required');
    if (!(await this.initialAccessTokens.isUsable(token))) throw new InvalidToken(IAT_INVALID);
  }

  async register(
    body: Record<string, unknown>,
    initialAccessToken: string | null,
  ): Promise<RegistrationResponse> {
    const metadata = parseRegistrationMetadata(body);
    const id = randomUUID();
    const secret = usesSecret(metadata.tokenEndpointAuthMethod)
      ? generateSecret(SECRET_PREFIX.clientSecret)
      : null;
    const registrationAccessToken = generateSecret(SECRET_PREFIX.registrationAccessToken);
    const now = new Date();
    const entity = this.clients.create({
      id,
      ...columns(metadata, id),
      secretHash: secret === null ? null : sha256(secret),
      secretRotatedAt: secret === null ? null : now,
      serviceRoles: [],
      ownerUserId: null,
      source: 'dcr',
      registrationAccessTokenHash: sha256(registrationAccessToken),
      metadataExpiresAt: null,
      createdAt: now,
      updatedAt: now,
      lastUsedAt: null,
    });
    const gated = this.config.registration.mode === 'initial-access-token';
    await this.dataSource.transaction(async (manager) => {
      // Consumed with the insert: a registration that fails does not spend a use.
      if (gated && !(await this.initialAccessTokens.consume(manager, initialAccessToken ?? ''))) {
        throw new InvalidToken(IAT_INVALID);
      }
      await manager.createQueryBuilder().insert().into(ClientEntity).values(entity).execute();
    });
    // A cached "unknown client" entry for this id must not outlive its creation.
    await this.bus.publish('clients', id);
    this.audit.record({
      type: 'client.registered',
      clientId: id,
      details: {
        application_type: metadata.applicationType,
        token_endpoint_auth_method: metadata.tokenEndpointAuthMethod,
        initial_access_token: gated,
      },
    });
    return toRegistrationResponse(entity, this.clientUri(id), {
      ...(secret === null ? {} : { clientSecret: secret }),
      registrationAccessToken,
    });
  }

  /** RFC 7592 §2.1. */
  async read(clientId: string, token: string | null): Promise<RegistrationResponse> {
    const entity = await this.authenticate(clientId, token);
    return toRegistrationResponse(entity, this.clientUri(clientId));
  }

  /**
   * RFC 7592 §2.2: the request replaces the metadata; omitted fields take their defaults. The
   * registration access token is rotated by one conditional UPDATE on the presented token's
   * hash, so of concurrent updates with the same token exactly one wins. The client secret is
   * kept, and not returned.
   */
  async replace(
    clientId: string,
    token: string | null,
    body: Record<string, unknown>,
  ): Promise<RegistrationResponse> {
    const entity = await this.authenticate(clientId, token);
    const presented = token ?? '';
    this.checkUnchangeable(entity, presented, body);
    const metadata = parseRegistrationMetadata(body);
    checkAuthMethodChange(entity.tokenEndpointAuthMethod, metadata.tokenEndpointAuthMethod);
    const registrationAccessToken = generateSecret(SECRET_PREFIX.registrationAccessToken);
    const changes = {
      ...columns(metadata, clientId),
      registrationAccessTokenHash: sha256(registrationAccessToken),
      updatedAt: new Date(),
    };
    const result = await this.clients
      .createQueryBuilder()
      .update(ClientEntity)
      .set(changes)
      .where('id = :id AND registration_access_token_hash = :hash', {
        id: clientId,
        hash: sha256(presented),
      })
      .returning(['id'])
      .execute();
    if (returnedRows(result.raw).length !== 1) throw new InvalidToken(RAT_INVALID);
    await this.bus.publish('clients', clientId);
    this.audit.record({ type: 'client.registration_updated', clientId });
    return toRegistrationResponse({ ...entity, ...changes }, this.clientUri(clientId), {
      registrationAccessToken,
    });
  }

  /** RFC 7592 §2.3: the client, its consents and token families (cascade) are gone. */
  async remove(clientId: string, token: string | null): Promise<void> {
    await this.authenticate(clientId, token);
    const result = await this.clients
      .createQueryBuilder()
      .delete()
      .from(ClientEntity)
      .where('id = :id AND registration_access_token_hash = :hash', {
        id: clientId,
        hash: sha256(token ?? ''),
      })
      .execute();
    if (!result.affected) throw new InvalidToken(RAT_INVALID);
    await this.bus.publish('clients', clientId);
    await this.accessTokens.revokeAllForClient(clientId);
    this.audit.record({ type: 'client.registration_deleted', clientId });
  }

  /** For callers that must refuse a request before reading its body. */
  async checkRegistrationAccessToken(clientId: string, token: string | null): Promise<void> {
    await this.authenticate(clientId, token);
  }

  private clientUri(clientId: string): string {
    return `${this.config.issuer}${ROUTES.register}/${encodeURIComponent(clientId)}`;
  }

  /**
   * RFC 7592 §3: an unknown client, a client that was not registered dynamically, and a token
   * of another client all get the same 401, so the endpoint never reveals which clients exist.
   */
  private async authenticate(clientId: string, token: string | null): Promise<ClientEntity> {
    if (token === null) throw new BearerTokenMissing('a registration access token is required');
    const entity =
      clientId.length > 0 && clientId.length <= 512 && !clientId.includes('\u0000')
        ? await this.clients.findOne({ where: { id: clientId, source: 'dcr' } })
        : null;
    const hash = entity?.registrationAccessTokenHash ?? null;
    if (entity === null || hash === null || !secretMatchesHash(token, hash)) {
      throw new InvalidToken(RAT_INVALID);
    }
    return entity;
  }

  /** RFC 7592 §2.2: fields the server assigns may be sent back, but never with other values. */
  private checkUnchangeable(
    entity: ClientEntity,
    token: string,
    body: Record<string, unknown>,
  ): void {
    if (body.client_id !== entity.id) {
      throw new InvalidRequest('client_id must be the identifier of this client');
    }
    const assigned: [string, unknown][] = [
      ['registration_access_token', token],
      ['registration_client_uri', this.clientUri(entity.id)],
      ['client_id_issued_at', issuedAt(entity)],
      ['client_secret_expires_at', entity.secretHash === null ? undefined : 0],
    ];
    for (const [field, value] of assigned) {
      if (body[field] !== undefined && body[field] !== value) {
        throw new InvalidRequest(`${field} cannot be changed`);
      }
    }
    const secret = body.client_secret;
    if (
      secret !== undefined &&
      (typeof secret !== 'string' ||
        entity.secretHash === null ||
        !secretMatchesHash(secret, entity.secretHash))
    ) {
      throw new InvalidRequest('client_secret does not match the current secret');
    }
  }
}

function usesSecret(method: TokenEndpointAuthMethod): boolean {
  return method === 'client_secret_basic' || method === 'client_secret_post';
}

/**
 * A client keeps how it proves itself: a secret client gets no new secret from an update, and a
 * public or key-based client cannot gain one, so switching between secret, key and no
 * authentication takes a new registration. basic and post use the same secret.
 */
function checkAuthMethodChange(from: TokenEndpointAuthMethod, to: TokenEndpointAuthMethod): void {
  const family = (method: TokenEndpointAuthMethod) => (usesSecret(method) ? 'secret' : method);
  if (family(from) !== family(to)) {
    throw new InvalidClientMetadata(
      `token_endpoint_auth_method cannot change from ${from} to ${to}`,
    );
  }
}

/** The client columns a registration sets. */
function columns(metadata: RegistrationMetadata, id: string) {
  return {
    name: metadata.name ?? id,
    type:
      metadata.tokenEndpointAuthMethod === 'none' ? ('public' as const) : ('confidential' as const),
    tokenEndpointAuthMethod: metadata.tokenEndpointAuthMethod,
    applicationType: metadata.applicationType,
    grantTypes: metadata.grantTypes,
    responseTypes: metadata.responseTypes,
    redirectUris: metadata.redirectUris,
    postLogoutRedirectUris: metadata.postLogoutRedirectUris,
    allowedScopes: metadata.scopes,
    contacts: metadata.contacts,
    clientUri: metadata.clientUri,
    logoUri: metadata.logoUri,
    policyUri: metadata.policyUri,
    tosUri: metadata.tosUri,
    jwks: metadata.jwks,
    jwksUri: metadata.jwksUri,
    softwareId: metadata.softwareId,
    softwareVersion: metadata.softwareVersion,
  };
}
