import { keysetPage } from '../common/pagination.js';
import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { JSONWebKeySet } from 'jose';
import { randomUUID } from 'node:crypto';
import { In, Repository } from 'typeorm';
import { AuditService, auditSnapshot, type AuditJson } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { SECRET_PREFIX, generateSecret, sha256 } from '../common/crypto.js';
import { logger } from '../common/logger.js';
import { EventBus } from '../database/event-bus.service.js';
import { insertIfAbsent } from '../database/query-result.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import { CimdResolver } from './cimd-resolver.js';
import { ClientCache } from './client-cache.js';
import { checkClientMetadata, type ClientMetadata } from './client-metadata.js';
import type { ClientRecord } from './client-record.js';
import { ClientsError, ClientsErrorCode } from './clients.errors.js';
import type { CreateClientDto } from './dto/create-client.dto.js';
import type {
  ClientListResponseDto,
  ClientResponseDto,
  ClientSecretResponseDto,
  CreatedClientResponseDto,
} from './dto/client-response.dto.js';
import type { UpdateClientDto } from './dto/update-client.dto.js';
import { ClientEntity } from './entities/client.entity.js';

/** last_used_at is written at most once a minute per client, in batches, off the hot path. */
const LAST_USED_RESOLUTION_MS = 60_000;
const LAST_USED_FLUSH_MS = 5_000;

export interface CreateClientOptions {
  /** A fixed client id (bootstrap); otherwise one is generated. */
  id?: string;
}

@Injectable()
export class ClientsService implements OnModuleInit, OnApplicationShutdown {
  private readonly cache: ClientCache;
  private readonly lastMarked = new Map<string, number>();
  private readonly resolving = new Map<string, Promise<ClientRecord | null>>();
  private pendingLastUsed = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  /**
   * A client by id in plain SQL, every column under its entity property name: a cache miss on
   * the token path (many clients, a small cache) then skips the ORM's query building and
   * entity hydration, which cost more than the query itself.
   */
  private readonly selectById: string;

  constructor(
    config: AppConfig,
    @InjectRepository(ClientEntity) private readonly clients: Repository<ClientEntity>,
    private readonly bus: EventBus,
    private readonly cimd: CimdResolver,
    private readonly audit: AuditService,
    private readonly accessTokens: AccessTokensService,
  ) {
    this.cache = new ClientCache(config.clients.cacheSize);
    const columns = clients.metadata.columns.map(
      (column) => `"${column.databaseName}" AS "${column.propertyName}"`,
    );
    this.selectById = `SELECT ${columns.join(', ')} FROM clients WHERE id = $1`;
  }

  onModuleInit(): void {
    this.bus.subscribe('clients', (id) => this.cache.invalidate(id));
    this.flushTimer = setInterval(() => void this.flushLastUsed(), LAST_USED_FLUSH_MS);
    this.flushTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.flushTimer);
    await this.flushLastUsed();
  }

  /** Hot path: the client as the protocol endpoints see it, from memory once cached. */
  async findRecord(id: string): Promise<ClientRecord | null> {
    if (!isStorableId(id)) return null;
    const cached = this.cache.get(id);
    if (cached !== undefined && !documentExpired(cached)) return cached;
    if (this.cimd.handles(id)) return this.findDocumentClient(id);
    const generation = this.cache.generation;
    const rows = await this.clients.query<ClientEntity[]>(this.selectById, [id]);
    const record = rows.length > 0 ? toRecord(rows[0]) : null;
    this.cache.set(id, record, generation);
    return record;
  }

  /**
   * A client named by its metadata document URL (draft-ietf-oauth-client-id-metadata-document).
   * Concurrent lookups of one URL share one resolution.
   */
  private findDocumentClient(id: string): Promise<ClientRecord | null> {
    const pending = this.resolving.get(id);
    if (pending) return pending;
    const generation = this.cache.generation;
    const started = this.cimd
      .load(id)
      .then((row) => {
        const record = row ? toRecord(row) : null;
        this.cache.set(id, record, generation);
        return record;
      })
      .finally(() => this.resolving.delete(id));
    this.resolving.set(id, started);
    return started;
  }

  /** Notes a use of the client; persisted later, at most once a minute per client. */
  markUsed(id: string): void {
    const now = Date.now();
    const last = this.lastMarked.get(id);
    if (last !== undefined && now - last < LAST_USED_RESOLUTION_MS) return;
    this.lastMarked.set(id, now);
    this.pendingLastUsed.add(id);
  }

  list(limit = 50, cursor?: string): Promise<ClientListResponseDto> {
    return keysetPage(
      this.clients.createQueryBuilder('c'),
      'c',
      { limit, cursor },
      isStorableId,
      () => new ClientsError(ClientsErrorCode.InvalidCursor, 'cursor is not valid'),
      toResponse,
    );
  }

  async get(id: string): Promise<ClientResponseDto> {
    return toResponse(await this.getEntity(id));
  }

  async create(
    dto: CreateClientDto,
    options: CreateClientOptions = {},
  ): Promise<CreatedClientResponseDto> {
    const type = dto.client_type ?? 'confidential';
    const metadata = checkClientMetadata({
      name: dto.client_name,
      type,
      tokenEndpointAuthMethod:
        dto.token_endpoint_auth_method ?? (type === 'public' ? 'none' : 'client_secret_basic'),
      grantTypes:
        dto.grant_types ??
        (type === 'public' ? ['authorization_code', 'refresh_token'] : ['client_credentials']),
      responseTypes: [],
      redirectUris: dto.redirect_uris ?? [],
      postLogoutRedirectUris: dto.post_logout_redirect_uris ?? [],
      allowedScopes: dto.allowed_scopes ?? [],
      serviceRoles: dto.service_account_roles ?? [],
      ownerUserId: dto.owner_user_id ?? null,
      contacts: dto.contacts ?? [],
      logoUri: dto.logo_uri ?? null,
      policyUri: dto.policy_uri ?? null,
      tosUri: dto.tos_uri ?? null,
      jwks: (dto.jwks as JSONWebKeySet | undefined) ?? null,
      jwksUri: dto.jwks_uri ?? null,
    });
    // private_key_jwt clients prove themselves with their keys (RFC 7523): no secret to issue.
    const secret =
      type === 'confidential' && metadata.tokenEndpointAuthMethod !== 'private_key_jwt'
        ? generateSecret(SECRET_PREFIX.clientSecret)
        : null;
    const now = new Date();
    const entity = this.clients.create({
      id: options.id ?? randomUUID(),
      ...metadata,
      mayImpersonate: dto.may_impersonate ?? false,
      secretHash: secret === null ? null : sha256(secret),
      secretRotatedAt: secret === null ? null : now,
      createdAt: now,
      updatedAt: now,
      lastUsedAt: null,
    });
    if (!(await insertIfAbsent(this.clients, entity))) {
      throw new ClientsError(
        ClientsErrorCode.ClientIdTaken,
        'a client with this id already exists',
      );
    }
    // A cached "unknown client" entry for this id must not outlive its creation.
    await this.bus.publish('clients', entity.id);
    this.audit.record({
      type: 'client.created',
      clientId: entity.id,
      after: clientState(toResponse(entity)),
    });
    return secret === null ? toResponse(entity) : { ...toResponse(entity), client_secret: secret };
  }

  async update(id: string, dto: UpdateClientDto): Promise<ClientResponseDto> {
    const entity = await this.getEntity(id);
    const metadata = checkClientMetadata({
      name: dto.client_name ?? entity.name,
      type: entity.type,
      tokenEndpointAuthMethod: dto.token_endpoint_auth_method ?? entity.tokenEndpointAuthMethod,
      grantTypes: dto.grant_types ?? entity.grantTypes,
      responseTypes: entity.responseTypes,
      redirectUris: dto.redirect_uris ?? entity.redirectUris,
      postLogoutRedirectUris: dto.post_logout_redirect_uris ?? entity.postLogoutRedirectUris,
      allowedScopes: dto.allowed_scopes ?? entity.allowedScopes,
      serviceRoles: dto.service_account_roles ?? entity.serviceRoles,
      ownerUserId: dto.owner_user_id ?? entity.ownerUserId,
      contacts: dto.contacts ?? entity.contacts,
      logoUri: dto.logo_uri ?? entity.logoUri,
      policyUri: dto.policy_uri ?? entity.policyUri,
      tosUri: dto.tos_uri ?? entity.tosUri,
      jwks: (dto.jwks as JSONWebKeySet | undefined) ?? entity.jwks,
      jwksUri: dto.jwks_uri ?? entity.jwksUri,
    } satisfies ClientMetadata);
    const updatedAt = new Date();
    const mayImpersonate = dto.may_impersonate ?? entity.mayImpersonate;
    await this.clients.update({ id }, { ...metadata, mayImpersonate, updatedAt });
    await this.bus.publish('clients', id);
    const updated = toResponse({ ...entity, ...metadata, mayImpersonate, updatedAt });
    this.audit.record({
      type: 'client.updated',
      clientId: id,
      before: clientState(toResponse(entity)),
      after: clientState(updated),
    });
    return updated;
  }

  async remove(id: string): Promise<void> {
    const existing = isStorableId(id) ? await this.clients.findOne({ where: { id } }) : null;
    const result = existing ? await this.clients.delete({ id }) : null;
    if (!existing || !result?.affected) throw notFound();
    await this.bus.publish('clients', id);
    // Its refresh tokens went with it (cascade); its access tokens die everywhere, not only at
    // introspection, which also checks that the client exists.
    await this.accessTokens.revokeAllForClient(id);
    this.audit.record({
      type: 'client.deleted',
      clientId: id,
      before: clientState(toResponse(existing)),
    });
  }

  /** Issues a new secret; the previous one stops working at once, on every node. */
  async rotateSecret(id: string): Promise<ClientSecretResponseDto> {
    const entity = await this.getEntity(id);
    if (entity.type !== 'confidential') {
      throw new ClientsError(ClientsErrorCode.ClientIsPublic, 'public clients have no secret');
    }
    const secret = generateSecret(SECRET_PREFIX.clientSecret);
    const now = new Date();
    await this.clients.update(
      { id },
      { secretHash: sha256(secret), secretRotatedAt: now, updatedAt: now },
    );
    await this.bus.publish('clients', id);
    // That the secret changed, and when: never the secret or its hash.
    this.audit.record({
      type: 'client.secret_rotated',
      clientId: id,
      details: { secret_rotated_at: now.toISOString() },
    });
    return { client_id: id, client_secret: secret };
  }

  async exists(id: string): Promise<boolean> {
    return this.clients.exists({ where: { id } });
  }

  /** Display names of the clients that exist among `ids` (lists that name apps to people). */
  async namesOf(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map();
    const rows = await this.clients.find({
      select: { id: true, name: true },
      where: { id: In([...ids]) },
    });
    return new Map(rows.map((row) => [row.id, row.name]));
  }

  private async getEntity(id: string): Promise<ClientEntity> {
    const entity = isStorableId(id) ? await this.clients.findOne({ where: { id } }) : null;
    if (!entity) throw notFound();
    return entity;
  }

  private async flushLastUsed(): Promise<void> {
    if (this.pendingLastUsed.size === 0) return;
    const ids = [...this.pendingLastUsed];
    this.pendingLastUsed = new Set();
    try {
      await this.clients.query(`UPDATE clients SET last_used_at = now() WHERE id = ANY($1)`, [ids]);
    } catch (err) {
      logger.warn({ err }, 'could not record client last use');
    }
    // Keep the throttle map bounded: entries older than the resolution no longer matter.
    const horizon = Date.now() - LAST_USED_RESOLUTION_MS;
    for (const [id, at] of this.lastMarked) if (at < horizon) this.lastMarked.delete(id);
  }
}

/** PostgreSQL text cannot hold NUL, so such an id names no client (rather than failing the query). */
function isStorableId(id: string): boolean {
  return id.length <= 512 && !id.includes('\u0000');
}

function notFound(): ClientsError {
  return new ClientsError(ClientsErrorCode.ClientNotFound, 'client not found');
}

/** The record other modules see of a stored client (exported for its parity test). */
export function toRecord(row: ClientEntity): ClientRecord {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    secretHash: row.secretHash,
    tokenEndpointAuthMethod: row.tokenEndpointAuthMethod,
    grantTypes: new Set(row.grantTypes),
    redirectUris: row.redirectUris,
    postLogoutRedirectUris: row.postLogoutRedirectUris,
    allowedScopes: row.allowedScopes,
    serviceRoles: row.serviceRoles,
    ownerUserId: row.ownerUserId,
    mayImpersonate: row.mayImpersonate,
    logoUri: row.logoUri,
    source: row.source,
    applicationType: row.applicationType,
    jwks: row.jwks,
    jwksUri: row.jwksUri,
    metadataExpiresAt: row.metadataExpiresAt?.getTime() ?? null,
  };
}

/** A metadata-document client whose document must be fetched again. */
function documentExpired(record: ClientRecord | null): boolean {
  return (
    record !== null && record.metadataExpiresAt !== null && record.metadataExpiresAt <= Date.now()
  );
}

/** A client for the audit trail: its response form (no secret), without bookkeeping times. */
function clientState(client: ClientResponseDto): AuditJson {
  return auditSnapshot(client, ['created_at', 'updated_at', 'last_used_at']);
}

function toResponse(row: ClientEntity): ClientResponseDto {
  return {
    client_id: row.id,
    client_name: row.name,
    client_type: row.type,
    token_endpoint_auth_method: row.tokenEndpointAuthMethod,
    grant_types: row.grantTypes,
    response_types: row.responseTypes,
    redirect_uris: row.redirectUris,
    post_logout_redirect_uris: row.postLogoutRedirectUris,
    allowed_scopes: row.allowedScopes,
    service_account_roles: row.serviceRoles,
    owner_user_id: row.ownerUserId,
    may_impersonate: row.mayImpersonate,
    contacts: row.contacts,
    logo_uri: row.logoUri,
    policy_uri: row.policyUri,
    tos_uri: row.tosUri,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    last_used_at: row.lastUsedAt?.toISOString() ?? null,
  };
}
