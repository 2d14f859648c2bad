import { isUuid } from '../common/crypto.js';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { AuditService, auditSnapshot, type AuditJson } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { logger } from '../common/logger.js';
import { InvalidTarget } from '../common/oauth-errors.js';
import { keysetPage } from '../common/pagination.js';
import { EventBus } from '../database/event-bus.service.js';
import { insertIfAbsent } from '../database/query-result.js';
import type { CreateResourceDto } from './dto/create-resource.dto.js';
import type { ResourceListResponseDto, ResourceResponseDto } from './dto/resource-response.dto.js';
import type { UpdateResourceDto } from './dto/update-resource.dto.js';
import { ResourceEntity } from './entities/resource.entity.js';
import {
  identifierProblem,
  normalizeResource,
  reservedScopes,
  type ResourceServer,
} from './resource-server.js';
import { ResourcesError, ResourcesErrorCode } from './resources.errors.js';

export { normalizeResource, type ResourceServer };

/**
 * Registered resource servers (RFC 8707 audiences): the built-in admin API, and the APIs admins
 * register. Every process keeps them all in memory, reloaded on a `resources` event, so
 * `resolve()` on the token hot path never waits for the database.
 */
@Injectable()
export class ResourcesService implements OnModuleInit {
  private readonly adminApi: ResourceServer;
  private readonly defaultAudience: ResourceServer;
  private byIdentifier = new Map<string, ResourceServer>();
  /** Reloads run one after another, so a later one always wins. */
  private reloads: Promise<void> = Promise.resolve();

  constructor(
    config: AppConfig,
    @InjectRepository(ResourceEntity) private readonly resources: Repository<ResourceEntity>,
    private readonly bus: EventBus,
    private readonly audit: AuditService,
  ) {
    this.adminApi = {
      identifier: config.audiences.admin,
      name: 'Latchkey admin API',
      scopes: new Set(['admin']),
      accessTokenTtlSeconds: null,
    };
    this.defaultAudience = {
      identifier: config.audiences.default,
      name: 'default',
      scopes: null,
      accessTokenTtlSeconds: null,
    };
  }

  async onModuleInit(): Promise<void> {
    this.bus.subscribe('resources', () => void this.reload());
    await this.load();
  }

  /** The audience for a token request: the named resource, or the default audience. */
  resolve(resource: string | undefined): ResourceServer {
    if (resource === undefined) return this.defaultAudience;
    const key = normalizeResource(resource);
    const found = key === null ? undefined : this.byIdentifier.get(key);
    if (!found) throw new InvalidTarget('the requested resource is not known to this server');
    return found;
  }

  /**
   * The audience of one access token from a grant that covers `granted` (normalized
   * identifiers; empty = the default audience). RFC 8707 §2.2: the client may name one of them
   * with `resource`; without it, the only one granted.
   */
  forGrant(granted: readonly string[], requested: string | undefined): ResourceServer {
    if (requested !== undefined) {
      const key = normalizeResource(requested);
      if (key === null || !granted.includes(key)) {
        throw new InvalidTarget('the resource is not one the grant was issued for');
      }
      return this.resolve(key);
    }
    if (granted.length > 1) {
      throw new InvalidTarget('the grant covers several resources: name one with resource');
    }
    return this.resolve(granted[0]);
  }

  list(limit = 50, cursor?: string): Promise<ResourceListResponseDto> {
    return keysetPage(
      this.resources.createQueryBuilder('r'),
      'r',
      { limit, cursor },
      isUuid,
      () => new ResourcesError(ResourcesErrorCode.InvalidCursor, 'cursor is not valid'),
      toResponse,
    );
  }

  async get(id: string): Promise<ResourceResponseDto> {
    return toResponse(await this.getEntity(id));
  }

  async create(dto: CreateResourceDto): Promise<ResourceResponseDto> {
    const problem = identifierProblem(dto.identifier);
    if (problem !== null) throw invalid(problem);
    const identifier = normalizeResource(dto.identifier) as string;
    if (identifier === normalizeResource(this.adminApi.identifier)) {
      throw new ResourcesError(
        ResourcesErrorCode.ResourceIdentifierTaken,
        'the identifier belongs to the built-in admin API',
      );
    }
    const scopes = checkScopes(dto.scopes ?? []);
    const now = new Date();
    const entity = this.resources.create({
      id: randomUUID(),
      identifier,
      name: dto.name,
      scopes,
      accessTokenTtlSeconds: dto.access_token_ttl_seconds ?? null,
      createdAt: now,
      updatedAt: now,
    });
    if (!(await insertIfAbsent(this.resources, entity))) {
      throw new ResourcesError(
        ResourcesErrorCode.ResourceIdentifierTaken,
        'a resource with this identifier already exists',
      );
    }
    await this.changed(entity.id);
    this.audit.record({
      type: 'resource.created',
      details: { resource_id: entity.id },
      after: resourceState(toResponse(entity)),
    });
    return toResponse(entity);
  }

  async update(id: string, dto: UpdateResourceDto): Promise<ResourceResponseDto> {
    const entity = await this.getEntity(id);
    const changes = {
      name: dto.name ?? entity.name,
      scopes: dto.scopes === undefined ? entity.scopes : checkScopes(dto.scopes),
      accessTokenTtlSeconds:
        dto.access_token_ttl_seconds === undefined
          ? entity.accessTokenTtlSeconds
          : dto.access_token_ttl_seconds,
      updatedAt: new Date(),
    };
    await this.resources.update({ id }, changes);
    await this.changed(id);
    const updated = toResponse({ ...entity, ...changes });
    this.audit.record({
      type: 'resource.updated',
      details: { resource_id: id },
      before: resourceState(toResponse(entity)),
      after: resourceState(updated),
    });
    return updated;
  }

  async remove(id: string): Promise<void> {
    const existing = isUuid(id) ? await this.resources.findOne({ where: { id } }) : null;
    const result = existing ? await this.resources.delete({ id }) : null;
    if (!existing || !result?.affected) throw notFound();
    await this.changed(id);
    this.audit.record({
      type: 'resource.deleted',
      details: { resource_id: id },
      before: resourceState(toResponse(existing)),
    });
  }

  /**
   * Tells every process, this one included, and waits for this process's reload: the admin
   * who just registered a resource can use it at once. Local delivery happens inside publish,
   * so the awaited reload started after the write committed.
   */
  private async changed(id: string): Promise<void> {
    await this.bus.publish('resources', id);
    await this.reloads;
  }

  private reload(): Promise<void> {
    this.reloads = this.reloads
      .then(() => this.load())
      .catch((err: unknown) => logger.error({ err }, 'reloading resources failed'));
    return this.reloads;
  }

  private async load(): Promise<void> {
    const rows = await this.resources.find();
    const next = new Map<string, ResourceServer>();
    for (const row of rows) {
      next.set(row.identifier, {
        identifier: row.identifier,
        name: row.name,
        scopes: new Set(row.scopes),
        accessTokenTtlSeconds: row.accessTokenTtlSeconds,
      });
    }
    const admin = normalizeResource(this.adminApi.identifier);
    if (admin !== null) next.set(admin, this.adminApi);
    this.byIdentifier = next;
  }

  private async getEntity(id: string): Promise<ResourceEntity> {
    const entity = isUuid(id) ? await this.resources.findOne({ where: { id } }) : null;
    if (!entity) throw notFound();
    return entity;
  }
}

function checkScopes(scopes: string[]): string[] {
  const reserved = reservedScopes(scopes);
  if (reserved.length > 0) {
    throw invalid(`scopes must not include OIDC or user-tier scopes: ${reserved.join(' ')}`);
  }
  return scopes;
}

function invalid(message: string): ResourcesError {
  return new ResourcesError(ResourcesErrorCode.InvalidResourceMetadata, message);
}

function notFound(): ResourcesError {
  return new ResourcesError(ResourcesErrorCode.ResourceNotFound, 'resource not found');
}

/** A resource for the audit trail, without bookkeeping times. */
function resourceState(resource: ResourceResponseDto): AuditJson {
  return auditSnapshot(resource, ['created_at', 'updated_at']);
}

function toResponse(entity: ResourceEntity): ResourceResponseDto {
  return {
    id: entity.id,
    identifier: entity.identifier,
    name: entity.name,
    scopes: entity.scopes,
    access_token_ttl_seconds: entity.accessTokenTtlSeconds,
    created_at: entity.createdAt.toISOString(),
    updated_at: entity.updatedAt.toISOString(),
  };
}
