import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { returnedRows } from '../database/query-result.js';
import { UsersError, UsersErrorCode } from '../users/users.errors.js';
import { UsersService } from '../users/users.service.js';
import type { PasskeyListResponseDto, PasskeyResponseDto } from './dto/passkey-response.dto.js';
import { WebauthnError, WebauthnErrorCode } from './webauthn.errors.js';

export interface StoredCredential {
  id: string;
  userId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  signCount: number;
  transports: string[];
}

export interface NewCredential {
  id: string;
  userId: string;
  publicKey: Uint8Array;
  signCount: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  aaguid: string | null;
  name: string;
}

interface CredentialRow {
  id: string;
  name: string;
  device_type: string;
  backed_up: boolean;
  transports: string[];
  aaguid: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

const LIST_COLUMNS =
  'id, name, device_type, backed_up, transports, aaguid, created_at, last_used_at';
const MAX_ID = 1366;

/** The passkeys (WebAuthn credentials) of users: storage, the account page and the admin API. */
@Injectable()
export class PasskeysService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UsersService,
    private readonly audit: AuditService,
  ) {}

  async findForAuthentication(id: string): Promise<StoredCredential | null> {
    if (id.length === 0 || id.length > MAX_ID) return null;
    const rows: unknown = await this.dataSource.query(
      `SELECT id, user_id, public_key, sign_count, transports FROM webauthn_credentials WHERE id = $1`,
      [id],
    );
    const [row] = returnedRows<{
      id: string;
      user_id: string;
      public_key: Buffer;
      sign_count: string;
      transports: string[];
    }>(rows);
    if (row === undefined) return null;
    return {
      id: row.id,
      userId: row.user_id,
      publicKey: new Uint8Array(row.public_key),
      signCount: Number(row.sign_count),
      transports: row.transports,
    };
  }

  /** Ids and transports of the user's passkeys (excludeCredentials). */
  async descriptorsOf(userId: string): Promise<{ id: string; transports: string[] }[]> {
    const rows: unknown = await this.dataSource.query(
      `SELECT id, transports FROM webauthn_credentials WHERE user_id = $1`,
      [userId],
    );
    return returnedRows<{ id: string; transports: string[] }>(rows);
  }

  /** Null when the credential id is already registered (to anyone). */
  async insert(
    credential: NewCredential,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<PasskeyResponseDto | null> {
    const rows: unknown = await manager.query(
      `INSERT INTO webauthn_credentials
         (id, user_id, public_key, sign_count, transports, device_type, backed_up, aaguid, name)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (id) DO NOTHING
       RETURNING ${LIST_COLUMNS}`,
      [
        credential.id,
        credential.userId,
        Buffer.from(credential.publicKey),
        credential.signCount,
        credential.transports,
        credential.deviceType,
        credential.backedUp,
        credential.aaguid,
        credential.name,
      ],
    );
    const [row] = returnedRows<CredentialRow>(rows);
    return row === undefined ? null : toResponse(row);
  }

  /**
   * Records a successful assertion. The counter must move forward unless the authenticator
   * does not keep one (both zero); the condition makes two concurrent uses of one counter
   * value fail, so a cloned authenticator cannot slip in between.
   */
  async recordUse(id: string, newCounter: number, backedUp: boolean): Promise<boolean> {
    const result: unknown = await this.dataSource.query(
      `UPDATE webauthn_credentials
          SET sign_count = $2, backed_up = $3, last_used_at = now()
        WHERE id = $1 AND (sign_count < $2 OR ($2 = 0 AND sign_count = 0))
        RETURNING id`,
      [id, newCounter, backedUp],
    );
    return returnedRows(result).length === 1;
  }

  async listForUser(userId: string): Promise<PasskeyListResponseDto> {
    const rows: unknown = await this.dataSource.query(
      `SELECT ${LIST_COLUMNS} FROM webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id`,
      [userId],
    );
    return { data: returnedRows<CredentialRow>(rows).map(toResponse) };
  }

  /** Admin: the passkeys of an existing user. */
  async adminList(userId: string): Promise<PasskeyListResponseDto> {
    await this.requireUser(userId);
    return this.listForUser(userId);
  }

  /** Admin: removes any passkey, the last one too (a new setup link re-enrolls the user). */
  async adminRemove(userId: string, id: string): Promise<void> {
    await this.requireUser(userId);
    const result: unknown = await this.dataSource.query(
      `DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2 RETURNING id`,
      [id, userId],
    );
    if (returnedRows(result).length === 0) throw notFound();
    this.audit.record({
      type: 'passkey.removed',
      userId,
      details: { credential_id: id, by: 'admin' },
    });
  }

  async rename(userId: string, id: string, name: string): Promise<void> {
    const result: unknown = await this.dataSource.query(
      `UPDATE webauthn_credentials SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING id`,
      [id, userId, name.trim()],
    );
    if (returnedRows(result).length === 0) throw notFound();
  }

  /**
   * The user's own removal: never the last passkey, or they could not sign in again. The
   * user's passkeys are locked first, so two concurrent removals cannot both pass the check.
   */
  async removeOwn(userId: string, id: string): Promise<void> {
    const result: unknown = await this.dataSource.query(
      `WITH mine AS (SELECT id FROM webauthn_credentials WHERE user_id = $2 FOR UPDATE)
       DELETE FROM webauthn_credentials
        WHERE id = $1 AND user_id = $2 AND (SELECT count(*) FROM mine) > 1
        RETURNING id`,
      [id, userId],
    );
    if (returnedRows(result).length === 1) {
      this.audit.record({
        type: 'passkey.removed',
        userId,
        actor: { type: 'user', id: userId },
        details: { credential_id: id, by: 'user' },
      });
      return;
    }
    const own: unknown = await this.dataSource.query(
      `SELECT 1 FROM webauthn_credentials WHERE id = $1 AND user_id = $2`,
      [id, userId],
    );
    if (returnedRows(own).length === 0) throw notFound();
    throw new WebauthnError(
      WebauthnErrorCode.LastPasskey,
      'this is your only passkey: add another one before removing it',
    );
  }

  private async requireUser(userId: string): Promise<void> {
    if ((await this.users.findById(userId)) === null) {
      throw new UsersError(UsersErrorCode.UserNotFound, 'user not found');
    }
  }
}

function notFound(): WebauthnError {
  return new WebauthnError(WebauthnErrorCode.CredentialNotFound, 'passkey not found');
}

function toResponse(row: CredentialRow): PasskeyResponseDto {
  return {
    id: row.id,
    name: row.name,
    device_type: row.device_type,
    backed_up: row.backed_up,
    transports: row.transports,
    aaguid: row.aaguid,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
  };
}
