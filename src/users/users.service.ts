import { isUuid } from '../common/crypto.js';
import { keysetPage } from '../common/pagination.js';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { AuditService, auditSnapshot, type AuditJson } from '../audit/audit.service.js';
import { returnedRows } from '../database/query-result.js';
import type { CreateUserDto } from './dto/create-user.dto.js';
import type { UpdateUserDto } from './dto/update-user.dto.js';
import type { UserListResponseDto, UserResponseDto } from './dto/user-response.dto.js';
import { UserEntity } from './entities/user.entity.js';
import { RolesService } from './roles.service.js';
import type { UserRecord } from './user-record.js';
import { UsersError, UsersErrorCode } from './users.errors.js';

/**
 * Called before a user is disabled or deleted, so modules that hold the user's sessions and
 * tokens can end them. Modules that depend on users register here, which keeps the dependency
 * one-way (no forwardRef).
 */
export type UserDeactivationHook = (
  userId: string,
  reason: 'disabled' | 'deleted',
) => Promise<void>;

@Injectable()
export class UsersService {
  private readonly deactivationHooks: UserDeactivationHook[] = [];

  constructor(
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    private readonly roles: RolesService,
    private readonly audit: AuditService,
  ) {}

  onDeactivation(hook: UserDeactivationHook): void {
    this.deactivationHooks.push(hook);
  }

  /**
   * One plain SELECT, no entity hydration: the token grants (authorization_code, refresh_token)
   * look the user up on every request.
   */
  async findById(id: string): Promise<UserRecord | null> {
    if (!isUuid(id)) return null;
    const rows = await this.users.query<UserRecord[]>(
      `SELECT id, email, email_verified AS "emailVerified", display_name AS "displayName",
         status, roles
       FROM users WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async findByEmail(email: string): Promise<UserRecord | null> {
    const row = await this.users.findOne({ where: { email: normalizeEmail(email) } });
    return row ? toRecord(row) : null;
  }

  /** Permissions of the user's roles (built-in and admin-defined), de-duplicated. */
  permissionsOf(user: UserRecord): Promise<Set<string>> {
    return this.roles.permissionsOfRoles(user.roles);
  }

  /** Whether any user holds the role (bootstrap: is there an admin yet?). */
  async anyWithRole(role: string): Promise<boolean> {
    return this.users.createQueryBuilder('u').where(':role = ANY (u.roles)', { role }).getExists();
  }

  list(limit = 50, cursor?: string): Promise<UserListResponseDto> {
    return keysetPage(
      this.users.createQueryBuilder('u'),
      'u',
      { limit, cursor },
      isUuid,
      () => new UsersError(UsersErrorCode.InvalidCursor, 'cursor is not valid'),
      toResponse,
    );
  }

  async get(id: string): Promise<UserResponseDto> {
    return toResponse(await this.getEntity(id));
  }

  async create(dto: CreateUserDto): Promise<UserResponseDto> {
    const roles = dto.roles ?? ['user'];
    await this.checkRoles(roles);
    const now = new Date();
    const inserted = await this.users
      .createQueryBuilder()
      .insert()
      .values({
        id: randomUUID(),
        email: normalizeEmail(dto.email),
        emailVerified: false,
        displayName: dto.display_name.trim(),
        status: 'active',
        roles,
        createdAt: now,
        updatedAt: now,
      })
      .orIgnore()
      .returning('*')
      .execute();
    const [row] = returnedRows<RawUserRow>(inserted.raw);
    if (row === undefined) {
      throw new UsersError(UsersErrorCode.EmailTaken, 'a user with this email already exists');
    }
    const created = toResponse(fromRaw(row));
    this.audit.record({ type: 'user.created', userId: created.id, after: userState(created) });
    return created;
  }

  async update(id: string, dto: UpdateUserDto): Promise<UserResponseDto> {
    const entity = await this.getEntity(id);
    if (dto.roles !== undefined) await this.checkRoles(dto.roles);
    const changes = {
      displayName: dto.display_name?.trim() ?? entity.displayName,
      roles: dto.roles ?? entity.roles,
      status: dto.status ?? entity.status,
      updatedAt: new Date(),
    };
    if (entity.status === 'active' && changes.status === 'disabled') {
      await this.users.update({ id }, changes);
      await this.runDeactivationHooks(id, 'disabled');
    } else {
      await this.users.update({ id }, changes);
    }
    const updated = toResponse({ ...entity, ...changes });
    this.audit.record({
      type: 'user.updated',
      userId: id,
      before: userState(toResponse(entity)),
      after: userState(updated),
    });
    return updated;
  }

  /** Disables the user, signs them out everywhere and revokes their tokens. */
  disable(id: string): Promise<UserResponseDto> {
    return this.update(id, { status: 'disabled' });
  }

  async remove(id: string): Promise<void> {
    const entity = await this.getEntity(id);
    // Revoke first: the revocation list must learn the access tokens before the rows cascade.
    await this.runDeactivationHooks(id, 'deleted');
    const result = await this.users.delete({ id });
    if (!result.affected) throw notFound();
    this.audit.record({ type: 'user.deleted', userId: id, before: userState(toResponse(entity)) });
  }

  private async runDeactivationHooks(id: string, reason: 'disabled' | 'deleted'): Promise<void> {
    for (const hook of this.deactivationHooks) await hook(id, reason);
  }

  private async checkRoles(roles: readonly string[]): Promise<void> {
    const unknown = await this.roles.unknownRoles(roles);
    if (unknown.length > 0) {
      throw new UsersError(UsersErrorCode.UnknownRole, `unknown role: ${unknown.join(', ')}`, {
        unknown_roles: unknown,
      });
    }
  }

  private async getEntity(id: string): Promise<UserEntity> {
    const entity = isUuid(id) ? await this.users.findOne({ where: { id } }) : null;
    if (!entity) throw notFound();
    return entity;
  }
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function notFound(): UsersError {
  return new UsersError(UsersErrorCode.UserNotFound, 'user not found');
}

interface RawUserRow {
  id: string;
  email: string;
  email_verified: boolean;
  display_name: string;
  status: 'active' | 'disabled';
  roles: string[];
  created_at: Date;
  updated_at: Date;
}

function fromRaw(row: RawUserRow): UserEntity {
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.email_verified,
    displayName: row.display_name,
    status: row.status,
    roles: row.roles,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toRecord(row: UserEntity): UserRecord {
  return {
    id: row.id,
    email: row.email,
    emailVerified: row.emailVerified,
    displayName: row.displayName,
    status: row.status,
    roles: row.roles,
  };
}

/** A user for the audit trail, without bookkeeping times. */
function userState(user: UserResponseDto): AuditJson {
  return auditSnapshot(user, ['created_at', 'updated_at']);
}

function toResponse(row: UserEntity): UserResponseDto {
  return {
    id: row.id,
    email: row.email,
    email_verified: row.emailVerified,
    display_name: row.displayName,
    status: row.status,
    roles: row.roles,
    created_at: row.createdAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
  };
}
