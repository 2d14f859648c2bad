import { AuditService } from '../audit/audit.service.js';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { SECRET_PREFIX, generateSecret, sha256 } from '../common/crypto.js';
import { preparedStatement, queryPrepared } from '../database/prepared-statement.js';
import { logger } from '../common/logger.js';
import { TokenFamiliesService } from './token-families.service.js';

export interface IssueAuthorizationCode {
  clientId: string;
  userId: string;
  sessionId: string;
  redirectUri: string;
  /** Already resolved and ordered, space-delimited. */
  scope: string;
  /** RFC 8707 resources granted at /authorize, normalized; empty = the default audience. */
  resources: readonly string[];
  nonce: string | null;
  codeChallenge: string;
  authTime: Date;
  amr: string[];
}

/** A consumed code: what the authorization_code grant needs to issue tokens. */
export interface RedeemedCode {
  clientId: string;
  userId: string;
  sessionId: string;
  familyId: string;
  redirectUri: string;
  scope: string;
  resources: string[];
  nonce: string | null;
  codeChallenge: string;
  authTime: Date;
  amr: string[];
}

export type ConsumeResult =
  | { ok: true; code: RedeemedCode }
  | { ok: false; reason: 'unknown' | 'wrong_client' | 'replayed' | 'expired' };

interface CodeRow {
  client_id: string;
  user_id: string;
  session_id: string;
  family_id: string;
  redirect_uri: string;
  scope: string;
  resources: string[];
  nonce: string | null;
  code_challenge: string;
  auth_time: Date;
  amr: string[];
}

/** Longest code accepted; a generated one is 49 characters. */
const MAX_CODE_LENGTH = 256;

const ISSUE_CODE = preparedStatement(
  'authorization_code_issue',
  `INSERT INTO authorization_codes (code_hash, client_id, user_id, session_id, family_id,
     redirect_uri, scope, resources, nonce, code_challenge, auth_time, amr, expires_at)
   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
     now() + make_interval(secs => $13))`,
);

/** The one conditional UPDATE that redeems a code: $1 its hash, $2 the redeeming client. */
const CONSUME_CODE = preparedStatement(
  'authorization_code_consume',
  `UPDATE authorization_codes SET consumed_at = now()
   WHERE code_hash = $1 AND client_id = $2 AND consumed_at IS NULL AND expires_at > now()
   RETURNING client_id, user_id, session_id, family_id, redirect_uri, scope, resources,
     nonce, code_challenge, auth_time, amr`,
);

/**
 * Single-use authorization codes (RFC 6749 §4.1.2, §10.5). Stored only as SHA-256. Each code
 * starts a token family, so a replay can revoke everything the first redemption issued.
 */
@Injectable()
export class AuthorizationCodesService {
  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly families: TokenFamiliesService,
    private readonly audit: AuditService,
  ) {}

  async issue(input: IssueAuthorizationCode): Promise<string> {
    const familyId = await this.families.create({
      clientId: input.clientId,
      userId: input.userId,
      sessionId: input.sessionId,
      authTime: input.authTime,
      amr: input.amr,
    });
    const code = generateSecret(SECRET_PREFIX.authorizationCode);
    await queryPrepared(this.dataSource, ISSUE_CODE, [
      sha256(code),
      input.clientId,
      input.userId,
      input.sessionId,
      familyId,
      input.redirectUri,
      input.scope,
      input.resources,
      input.nonce,
      input.codeChallenge,
      input.authTime,
      input.amr,
      this.config.tokens.authorizationCodeTtlSeconds,
    ]);
    return code;
  }

  /**
   * Redeems a code for `clientId` with one conditional UPDATE, so of any number of concurrent
   * redemptions exactly one wins. Another client's attempt does not burn the code. A second
   * redemption is a replay (RFC 6749 §4.1.2): the family, with every token the first
   * redemption issued, is revoked.
   */
  async consume(code: string, clientId: string): Promise<ConsumeResult> {
    if (!code.startsWith(SECRET_PREFIX.authorizationCode) || code.length > MAX_CODE_LENGTH) {
      return { ok: false, reason: 'unknown' };
    }
    const codeHash = sha256(code);
    const consumed = await queryPrepared<CodeRow>(this.dataSource, CONSUME_CODE, [
      codeHash,
      clientId,
    ]);
    if (consumed.length > 0) return { ok: true, code: toRedeemed(consumed[0]) };

    // Only failures pay for this second look, which decides the answer.
    const rows = await this.dataSource.query<
      { client_id: string; family_id: string; consumed: boolean }[]
    >(
      `SELECT client_id, family_id, consumed_at IS NOT NULL AS consumed
       FROM authorization_codes WHERE code_hash = $1`,
      [codeHash],
    );
    const row = rows[0];
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.client_id !== clientId) return { ok: false, reason: 'wrong_client' };
    if (row.consumed) {
      // Concurrent replays all land here; only the one that revoked the family reports it.
      if (await this.families.revoke(row.family_id, 'code_replay')) {
        logger.warn(
          { familyId: row.family_id, clientId },
          'authorization code replay detected; token family revoked',
        );
        this.audit.record({
          type: 'authorization_code.replayed',
          clientId,
          details: { family_id: row.family_id, action: 'token family revoked' },
        });
      }
      return { ok: false, reason: 'replayed' };
    }
    return { ok: false, reason: 'expired' };
  }
}

function toRedeemed(row: CodeRow): RedeemedCode {
  return {
    clientId: row.client_id,
    userId: row.user_id,
    sessionId: row.session_id,
    familyId: row.family_id,
    redirectUri: row.redirect_uri,
    scope: row.scope,
    resources: row.resources,
    nonce: row.nonce,
    codeChallenge: row.code_challenge,
    authTime: row.auth_time,
    amr: row.amr,
  };
}
