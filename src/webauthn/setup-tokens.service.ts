import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { SECRET_PREFIX, generateSecret, sha256 } from '../common/crypto.js';
import { returnedRows } from '../database/query-result.js';
import { UsersError, UsersErrorCode } from '../users/users.errors.js';
import { UsersService } from '../users/users.service.js';
import type { UserRecord } from '../users/user-record.js';
import type { SetupLinkResponseDto } from './dto/setup-link-response.dto.js';
import { WebauthnError, WebauthnErrorCode } from './webauthn.errors.js';

/** A live setup link: its row id and the active user it enrolls a passkey for. */
export interface SetupGrant {
  tokenId: string;
  user: UserRecord;
}

/**
 * One-time passkey enrollment links (`lk_st_`, stored as SHA-256). Each user has at most one
 * live link: issuing a new one ends the older ones.
 */
@Injectable()
export class SetupTokensService {
  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  async issue(userId: string): Promise<SetupLinkResponseDto> {
    if ((await this.users.findById(userId)) === null) {
      throw new UsersError(UsersErrorCode.UserNotFound, 'user not found');
    }
    const token = generateSecret(SECRET_PREFIX.setupToken);
    const rows: unknown = await this.dataSource.transaction(async (manager) => {
      await manager.query(
        `UPDATE setup_tokens SET consumed_at = now() WHERE user_id = $1 AND consumed_at IS NULL`,
        [userId],
      );
      return manager.query<unknown>(
        `INSERT INTO setup_tokens (user_id, token_hash, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))
         RETURNING id, expires_at`,
        [userId, sha256(token), this.config.sessions.setupLinkTtlSeconds],
      );
    });
    const [row] = returnedRows<{ id: string; expires_at: Date }>(rows);
    // The link itself is a credential: only its row id goes into the trail.
    this.audit.record({
      type: 'setup_link.issued',
      userId,
      details: { setup_token_id: row.id, expires_at: row.expires_at.toISOString() },
    });
    return {
      setup_url: `${this.config.issuer}/setup/${token}`,
      expires_at: row.expires_at.toISOString(),
    };
  }

  /** The link's grant if it is live (unused, unexpired, newest) and its user active. */
  async check(token: string): Promise<SetupGrant> {
    if (!token.startsWith(SECRET_PREFIX.setupToken) || token.length > 128) throw invalid();
    const rows: unknown = await this.dataSource.query(
      `SELECT id, user_id FROM setup_tokens
        WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > now()`,
      [sha256(token)],
    );
    const [row] = returnedRows<{ id: string; user_id: string }>(rows);
    if (row === undefined) throw invalid();
    const user = await this.users.findById(row.user_id);
    if (user === null || user.status !== 'active') throw invalid();
    return { tokenId: row.id, user };
  }

  /**
   * Uses the link up, atomically: of two concurrent enrollments only one gets it. Given the
   * caller's transaction, the link is spent only if that transaction commits.
   */
  async consume(
    tokenId: string,
    userId: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<void> {
    const result: unknown = await manager.query(
      `UPDATE setup_tokens SET consumed_at = now()
        WHERE id = $1 AND user_id = $2 AND consumed_at IS NULL AND expires_at > now()
        RETURNING id`,
      [tokenId, userId],
    );
    if (returnedRows(result).length === 0) throw invalid();
  }
}

function invalid(): WebauthnError {
  return new WebauthnError(
    WebauthnErrorCode.SetupTokenInvalid,
    'this setup link is invalid, expired or already used; ask your administrator for a new one',
  );
}
