import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService, type AuditActor } from '../../audit/audit.service.js';
import { ClientsService } from '../../clients/clients.service.js';
import { returnedRows } from '../../database/query-result.js';
import { preparedStatement, queryPrepared } from '../../database/prepared-statement.js';
import { TokenFamiliesService } from '../../tokens/token-families.service.js';
import { UsersError, UsersErrorCode } from '../../users/users.errors.js';
import { UsersService } from '../../users/users.service.js';
import { ConsentsError, ConsentsErrorCode } from './consents.errors.js';
import type { ConsentListResponseDto } from './dto/consent-response.dto.js';

interface ConsentRow {
  client_id: string;
  scopes: string[];
  created_at: Date;
  updated_at: Date;
}

/** Longest client id the clients table stores (a metadata document URL included). */
const MAX_CLIENT_ID = 512;

const CONSENTED_SCOPES = preparedStatement(
  'consent_scopes',
  `SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2`,
);

/** Remembered consent: which scopes a user granted a client. A later request for a subset needs no new consent. */
@Injectable()
export class ConsentsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly users: UsersService,
    private readonly clients: ClientsService,
    private readonly families: TokenFamiliesService,
  ) {}

  async covers(userId: string, clientId: string, scopes: readonly string[]): Promise<boolean> {
    const rows = await queryPrepared<{ scopes: string[] }>(this.dataSource, CONSENTED_SCOPES, [
      userId,
      clientId,
    ]);
    const granted = new Set(rows[0]?.scopes ?? []);
    return rows.length > 0 && scopes.every((scope) => granted.has(scope));
  }

  /** Records consent to `scopes`, adding to what was granted before. */
  async grant(userId: string, clientId: string, scopes: readonly string[]): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO consents (user_id, client_id, scopes) VALUES ($1, $2, $3)
       ON CONFLICT (user_id, client_id) DO UPDATE SET
         scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1),
         updated_at = now()`,
      [userId, clientId, [...scopes].sort()],
    );
    this.audit.record({
      type: 'consent.granted',
      userId,
      clientId,
      actor: { type: 'user', id: userId },
      details: { scope: [...scopes].sort().join(' ') },
    });
  }

  /** The apps the user has allowed, most recently widened first. */
  async listForUser(userId: string): Promise<ConsentListResponseDto> {
    const rows = await this.dataSource.query<ConsentRow[]>(
      `SELECT client_id, scopes, created_at, updated_at FROM consents
        WHERE user_id = $1 ORDER BY updated_at DESC, client_id`,
      [userId],
    );
    const names = await this.clients.namesOf(rows.map((row) => row.client_id));
    return {
      data: rows.map((row) => ({
        client_id: row.client_id,
        client_name: names.get(row.client_id) ?? row.client_id,
        scopes: row.scopes,
        created_at: row.created_at.toISOString(),
        updated_at: row.updated_at.toISOString(),
      })),
    };
  }

  /** Admin: the consents of an existing user. */
  async adminList(userId: string): Promise<ConsentListResponseDto> {
    await this.requireUser(userId);
    return this.listForUser(userId);
  }

  /** Admin: withdraws a user's consent; the admin token's subject is recorded as the actor. */
  async adminRevoke(userId: string, clientId: string): Promise<void> {
    await this.requireUser(userId);
    await this.revoke(userId, clientId);
  }

  /**
   * Withdraws the consent: the next authorization asks again, and the refresh and access
   * tokens the grant gave the client stop working. The consent goes first, so a code issued
   * from then on needs a new consent; codes issued before belong to families (created with the
   * code) that are revoked with the rest, so their tokens are born revoked.
   */
  async revoke(userId: string, clientId: string, actor?: AuditActor): Promise<void> {
    const removed =
      clientId.length > 0 && clientId.length <= MAX_CLIENT_ID && !clientId.includes('\u0000')
        ? returnedRows<{ scopes: string[] }>(
            await this.dataSource.query(
              `DELETE FROM consents WHERE user_id = $1 AND client_id = $2 RETURNING scopes`,
              [userId, clientId],
            ),
          )
        : [];
    if (removed.length === 0) {
      throw new ConsentsError(
        ConsentsErrorCode.ConsentNotFound,
        'this user has not granted that app access',
      );
    }
    await this.families.revokeForUserAndClient(userId, clientId, 'consent_revoked');
    this.audit.record({
      type: 'consent.revoked',
      userId,
      clientId,
      // Unset on admin requests: the admin token's subject is recorded then.
      actor,
      details: { scope: removed[0].scopes.join(' ') },
    });
  }

  /**
   * A compromised client: withdraws every user's consent to it, so each must be asked again.
   * Returns how many were withdrawn. Its tokens are revoked by the caller (ClientRevocation).
   */
  async withdrawAllForClient(clientId: string): Promise<number> {
    const removed = returnedRows<{ user_id: string }>(
      await this.dataSource.query(`DELETE FROM consents WHERE client_id = $1 RETURNING user_id`, [
        clientId,
      ]),
    );
    return removed.length;
  }

  private async requireUser(userId: string): Promise<void> {
    if ((await this.users.findById(userId)) === null) {
      throw new UsersError(UsersErrorCode.UserNotFound, 'user not found');
    }
  }
}
