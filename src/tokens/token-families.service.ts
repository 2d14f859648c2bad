import { isUuid } from '../common/crypto.js';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { returnedRows } from '../database/query-result.js';
import { preparedStatement, queryPrepared } from '../database/prepared-statement.js';
import { logger } from '../common/logger.js';
import { REVOCATION_RETAIN_SECONDS, RevocationListService } from './revocation-list.service.js';

export interface CreateTokenFamily {
  clientId: string;
  userId: string | null;
  sessionId: string | null;
  /** Time of the original authentication: ID tokens issued on refresh repeat it (OIDC Core §12.2). */
  authTime?: Date | null;
  amr?: readonly string[];
}

const CREATE_FAMILY = preparedStatement(
  'token_family_create',
  `INSERT INTO token_families (client_id, user_id, session_id, auth_time, amr)
   VALUES ($1, $2, $3, $4, $5) RETURNING id`,
);

/** $1 the family, $2 the access token's jti, $3 its expiry (s since the epoch). */
const RECORD_ACCESS_TOKEN = preparedStatement(
  'token_family_record_access_token',
  `INSERT INTO family_access_tokens (jti, family_id, expires_at)
   SELECT $2, f.id, to_timestamp($3)
   FROM (SELECT id FROM token_families WHERE id = $1 AND revoked_at IS NULL FOR SHARE) AS f
   RETURNING jti`,
);

/**
 * Token families: everything issued from one authorization code, through every refresh
 * rotation. Revoking a family kills its refresh tokens (they check the family) and puts every
 * access token it issued that has not expired yet on the revocation list.
 */
@Injectable()
export class TokenFamiliesService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly revocations: RevocationListService,
  ) {}

  async create(input: CreateTokenFamily): Promise<string> {
    const rows = await queryPrepared<{ id: string }>(this.dataSource, CREATE_FAMILY, [
      input.clientId,
      input.userId,
      input.sessionId,
      input.authTime ?? null,
      input.amr ?? [],
    ]);
    return rows[0].id;
  }

  /**
   * A family for tokens derived from a live browser session (token exchange of an ID token):
   * signing the session out, or its user, revokes them. Null when the session is not live.
   */
  async createForSession(clientId: string, sessionId: string): Promise<string | null> {
    if (!isUuid(sessionId)) return null;
    const rows = await this.dataSource.query<{ id: string }[]>(
      `INSERT INTO token_families (client_id, user_id, session_id, auth_time, amr)
       SELECT $1, s.user_id, s.id, s.auth_time, s.amr FROM sessions s
       WHERE s.id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
       RETURNING id`,
      [clientId, sessionId],
    );
    return rows[0]?.id ?? null;
  }

  /**
   * Remembers an access token's id so a later family revocation can revoke it. If the family
   * is already revoked, the token is put on the revocation list at once and false is returned.
   * `FOR SHARE` makes a concurrent `revoke()` wait for this insert to commit, so its jti scan
   * cannot miss the token.
   */
  async recordAccessToken(familyId: string, jti: string, exp: number): Promise<boolean> {
    const inserted = await queryPrepared<{ jti: string }>(this.dataSource, RECORD_ACCESS_TOKEN, [
      familyId,
      jti,
      exp,
    ]);
    if (inserted.length > 0) return true;
    await this.revocations.revoke(jti, exp);
    return false;
  }

  /**
   * An access-token id recorded ahead of signing (refresh rotation) whose token lives longer
   * than recorded (a resource's lifetime changed meanwhile): remember it until `exp`. If the
   * family was revoked in between, the revocation used the shorter expiry: revoke it again.
   */
  async extendRecordedAccessToken(jti: string, exp: number): Promise<void> {
    const rows = await this.dataSource.query<{ revoked: boolean }[]>(
      `UPDATE family_access_tokens t SET expires_at = greatest(t.expires_at, to_timestamp($2))
       FROM token_families f
       WHERE t.jti = $1 AND f.id = t.family_id
       RETURNING f.revoked_at IS NOT NULL AS revoked`,
      [jti, exp],
    );
    if (rows[0]?.revoked) await this.revocations.revoke(jti, exp);
  }

  /** The family an access token was recorded in, if any. */
  async familyOfAccessToken(jti: string): Promise<string | null> {
    const rows = await this.dataSource.query<{ family_id: string }[]>(
      `SELECT family_id FROM family_access_tokens WHERE jti = $1`,
      [jti],
    );
    return rows[0]?.family_id ?? null;
  }

  /**
   * Revokes one family and every live access token it issued. Revoking twice is harmless; the
   * result tells whether this call was the one that revoked it, so that of many concurrent
   * detections (100 replays of one code) exactly one writes the audit event.
   */
  async revoke(familyId: string, reason: string): Promise<boolean> {
    return (await this.revokeWhere('id = $1', [familyId], reason)) > 0;
  }

  /** Sign-out: every family started in this browser session. */
  async revokeForSession(sessionId: string, reason: string): Promise<void> {
    await this.revokeWhere('session_id = $1', [sessionId], reason);
  }

  /** Sign-out everywhere, or a disabled user: every family of the user. */
  async revokeForUser(userId: string, reason: string): Promise<void> {
    await this.revokeWhere('user_id = $1', [userId], reason);
  }

  /**
   * A withdrawn consent: every family the user's grant gave this client, including those of
   * codes not redeemed yet (a code's family exists from issuance, so its tokens are born dead).
   */
  async revokeForUserAndClient(userId: string, clientId: string, reason: string): Promise<void> {
    await this.revokeWhere('user_id = $1 AND client_id = $2', [userId, clientId], reason);
  }

  /** A compromised client: every family it holds, for every user. Returns how many it revoked. */
  async revokeForClient(clientId: string, reason: string): Promise<number> {
    return this.revokeWhere('client_id = $1', [clientId], reason);
  }

  /**
   * Marks the families revoked, then revokes their unexpired access tokens in one batch. Two
   * statements on purpose: the UPDATE waits for any `recordAccessToken` holding the family row,
   * and the SELECT then runs on a fresh snapshot (READ COMMITTED) that sees what it inserted.
   * The scan covers already-revoked families too, so a retry completes a revocation that was
   * interrupted between the two steps. Returns how many families this call revoked.
   */
  private async revokeWhere(
    condition: string,
    values: readonly string[],
    reason: string,
  ): Promise<number> {
    const revoked = returnedRows<{ id: string }>(
      await this.dataSource.query(
        `UPDATE token_families SET revoked_at = now(), revoked_reason = $${values.length + 1}
         WHERE ${condition} AND revoked_at IS NULL RETURNING id`,
        [...values, reason],
      ),
    );
    const tokens = await this.dataSource.query<{ jti: string; exp: string }[]>(
      `SELECT t.jti, extract(epoch FROM t.expires_at)::bigint AS exp
       FROM family_access_tokens t
       WHERE t.family_id IN (SELECT id FROM token_families WHERE ${condition})
         AND t.expires_at > now() - make_interval(secs => $${values.length + 1})`,
      [...values, REVOCATION_RETAIN_SECONDS],
    );
    await this.revocations.revokeMany(
      tokens.map((row) => ({ jti: row.jti, exp: Number(row.exp) })),
    );
    if (revoked.length > 0) {
      logger.info(
        { families: revoked.map((row) => row.id), reason, accessTokens: tokens.length },
        'token families revoked',
      );
    }
    return revoked.length;
  }
}
