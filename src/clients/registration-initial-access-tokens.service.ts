import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService, auditSnapshot } from '../audit/audit.service.js';
import { generateSecret, isUuid, SECRET_PREFIX, sha256 } from '../common/crypto.js';
import { cursorTimeSql, decodeCursor, encodeCursor } from '../common/pagination.js';
import { returnedRows } from '../database/query-result.js';
import { ClientsError, ClientsErrorCode } from './clients.errors.js';
import type {
  CreateInitialAccessTokenDto,
  CreatedInitialAccessTokenResponseDto,
  InitialAccessTokenResponseDto,
} from './dto/initial-access-token.dto.js';

interface TokenRow {
  id: string;
  description: string;
  uses_remaining: number | null;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const COLUMNS = 'id, description, uses_remaining, created_at, expires_at, revoked_at';

export interface InitialAccessTokenPage {
  data: InitialAccessTokenResponseDto[];
  next_cursor: string | null;
}

/**
 * Initial access tokens (RFC 7591 §3): admin-issued bearer tokens that allow dynamic
 * registration when REGISTRATION_MODE is `initial-access-token`. Stored as SHA-256 only.
 */
@Injectable()
export class RegistrationInitialAccessTokensService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async create(dto: CreateInitialAccessTokenDto): Promise<CreatedInitialAccessTokenResponseDto> {
    const token = generateSecret(SECRET_PREFIX.initialAccessToken);
    const rows = await this.dataSource.query<TokenRow[]>(
      `INSERT INTO initial_access_tokens (token_hash, description, uses_remaining, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING ${COLUMNS}`,
      [sha256(token), dto.description ?? '', dto.uses ?? null, dto.expires_in_seconds],
    );
    const created = toResponse(rows[0]);
    // The response form has no token: the token is only in the value returned below.
    this.audit.record({
      type: 'initial_access_token.created',
      details: { initial_access_token_id: created.id },
      after: auditSnapshot(created),
    });
    return { ...created, token };
  }

  async list(limit = 50, cursor?: string): Promise<InitialAccessTokenPage> {
    const params: unknown[] = [limit + 1];
    let where = '';
    if (cursor !== undefined) {
      const decoded = decodeCursor(cursor, isUuid);
      if (decoded === null) {
        throw new ClientsError(ClientsErrorCode.InvalidCursor, 'cursor is not valid');
      }
      params.push(decoded[0], decoded[1]);
      where = 'WHERE (created_at, id) > (CAST($2 AS timestamptz), $3::uuid)';
    }
    const rows = await this.dataSource.query<(TokenRow & { cursor_at: string })[]>(
      `SELECT ${COLUMNS}, ${cursorTimeSql('created_at')} AS cursor_at FROM initial_access_tokens
       ${where} ORDER BY created_at, id LIMIT $1`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      data: page.map(toResponse),
      next_cursor: rows.length > limit && last ? encodeCursor(last.cursor_at, last.id) : null,
    };
  }

  /** Revokes at once; registrations already made with the token are not affected. */
  async revoke(id: string): Promise<void> {
    const result: unknown = isUuid(id)
      ? await this.dataSource.query(
          `UPDATE initial_access_tokens SET revoked_at = COALESCE(revoked_at, now())
           WHERE id = $1 RETURNING id`,
          [id],
        )
      : [];
    if (returnedRows(result).length === 0) {
      throw new ClientsError(
        ClientsErrorCode.InitialAccessTokenNotFound,
        'initial access token not found',
      );
    }
    this.audit.record({
      type: 'initial_access_token.revoked',
      details: { initial_access_token_id: id },
    });
  }

  /** Whether the token could be used now; the registration itself consumes it with `consume`. */
  async isUsable(token: string): Promise<boolean> {
    const rows = await this.dataSource.query<unknown[]>(
      `SELECT 1 FROM initial_access_tokens
       WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
         AND (uses_remaining IS NULL OR uses_remaining > 0)`,
      [sha256(token)],
    );
    return rows.length > 0;
  }

  /**
   * Uses the token once, atomically: concurrent registrations cannot overspend it. Runs in the
   * registration's transaction, so a registration that fails gives the use back.
   */
  async consume(manager: EntityManager, token: string): Promise<boolean> {
    const result: unknown = await manager.query(
      `UPDATE initial_access_tokens
       SET uses_remaining = CASE WHEN uses_remaining IS NULL THEN NULL ELSE uses_remaining - 1 END
       WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()
         AND (uses_remaining IS NULL OR uses_remaining > 0)
       RETURNING id`,
      [sha256(token)],
    );
    return returnedRows(result).length === 1;
  }
}

function toResponse(row: TokenRow): InitialAccessTokenResponseDto {
  return {
    id: row.id,
    description: row.description,
    uses_remaining: row.uses_remaining,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
