import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AuditService, auditSnapshot, type AuditJson } from '../audit/audit.service.js';
import { EventBus } from '../database/event-bus.service.js';
import { returnedRows } from '../database/query-result.js';
import type { CreateRoleDto } from './dto/create-role.dto.js';
import type { RoleListResponseDto, RoleResponseDto } from './dto/role-response.dto.js';
import type { UpdateRoleDto } from './dto/update-role.dto.js';
import { RoleEntity } from './entities/role.entity.js';
import { UsersError, UsersErrorCode } from './users.errors.js';

/**
 * Roles and the permissions they grant. The whole table is small, so it is held in memory and
 * reloaded after any change on any node (topic `roles`).
 */
@Injectable()
export class RolesService implements OnModuleInit {
  private cache: Promise<Map<string, readonly string[]>> | null = null;

  constructor(
    @InjectRepository(RoleEntity) private readonly roles: Repository<RoleEntity>,
    private readonly bus: EventBus,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.bus.subscribe('roles', () => {
      this.cache = null;
    });
  }

  /** Every permission the named roles grant, de-duplicated; unknown roles grant nothing. */
  async permissionsOfRoles(names: Iterable<string>): Promise<Set<string>> {
    const table = await this.table();
    const held = new Set<string>();
    for (const name of names) for (const permission of table.get(name) ?? []) held.add(permission);
    return held;
  }

  /** The names among `names` that are not defined roles. */
  async unknownRoles(names: readonly string[]): Promise<string[]> {
    const table = await this.table();
    return names.filter((name) => !table.has(name));
  }

  async list(): Promise<RoleListResponseDto> {
    const rows = await this.roles.find({ order: { builtIn: 'DESC', name: 'ASC' } });
    return { data: rows.map(toResponse) };
  }

  async get(name: string): Promise<RoleResponseDto> {
    return toResponse(await this.getEntity(name));
  }

  async create(dto: CreateRoleDto): Promise<RoleResponseDto> {
    const now = new Date();
    const entity = this.roles.create({
      name: dto.name,
      description: dto.description ?? '',
      permissions: dto.permissions,
      builtIn: false,
      createdAt: now,
      updatedAt: now,
    });
    const inserted = await this.roles
      .createQueryBuilder()
      .insert()
      .values(entity)
      .orIgnore()
      .returning(['name'])
      .execute();
    if (returnedRows(inserted.raw).length === 0) {
      throw new UsersError(UsersErrorCode.RoleNameTaken, 'a role with this name already exists');
    }
    await this.bus.publish('roles', entity.name);
    this.audit.record({
      type: 'role.created',
      details: { role: entity.name },
      after: roleState(toResponse(entity)),
    });
    return toResponse(entity);
  }

  async update(name: string, dto: UpdateRoleDto): Promise<RoleResponseDto> {
    const entity = await this.getEntity(name);
    if (entity.builtIn) throw builtIn();
    const changes = {
      description: dto.description ?? entity.description,
      permissions: dto.permissions ?? entity.permissions,
      updatedAt: new Date(),
    };
    await this.roles.update({ name, builtIn: false }, changes);
    await this.bus.publish('roles', name);
    const updated = toResponse({ ...entity, ...changes });
    this.audit.record({
      type: 'role.updated',
      details: { role: name },
      before: roleState(toResponse(entity)),
      after: roleState(updated),
    });
    return updated;
  }

  async remove(name: string): Promise<void> {
    const entity = await this.getEntity(name);
    if (entity.builtIn) throw builtIn();
    // One statement, so a user cannot be given the role between the check and the delete.
    const result: unknown = await this.roles.query(
      `DELETE FROM roles WHERE name = $1 AND NOT built_in
         AND NOT EXISTS (SELECT 1 FROM users WHERE $1 = ANY (roles))
       RETURNING name`,
      [name],
    );
    if (returnedRows(result).length === 0) {
      throw new UsersError(
        UsersErrorCode.RoleInUse,
        'the role is held by at least one user; remove it from them first',
      );
    }
    await this.bus.publish('roles', name);
    this.audit.record({
      type: 'role.deleted',
      details: { role: name },
      before: roleState(toResponse(entity)),
    });
  }

  private table(): Promise<Map<string, readonly string[]>> {
    if (this.cache === null) {
      const loading = this.roles
        .find()
        .then((rows) => new Map(rows.map((row) => [row.name, row.permissions] as const)));
      // A failed load is not cached: the next caller tries again.
      loading.catch(() => {
        if (this.cache === loading) this.cache = null;
      });
      this.cache = loading;
    }
    return this.cache;
  }

  private async getEntity(name: string): Promise<RoleEntity> {
    const entity = name.length <= 64 ? await this.roles.findOne({ where: { name } }) : null;
    if (!entity) throw new UsersError(UsersErrorCode.RoleNotFound, 'role not found');
    return entity;
  }
}

function builtIn(): UsersError {
  return new UsersError(
    UsersErrorCode.RoleIsBuiltIn,
    'built-in roles cannot be changed or deleted',
  );
}

function toResponse(row: RoleEntity): RoleResponseDto {
  return {
    name: row.name,
    description: row.description,
    permissions: row.permissions,
    built_in: row.builtIn,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}

/** A role for the audit trail, without bookkeeping times. */
function roleState(role: RoleResponseDto): AuditJson {
  return auditSnapshot(role, ['created_at', 'updated_at']);
}
