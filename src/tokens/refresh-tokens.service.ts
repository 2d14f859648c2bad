import { AuditService } from '../audit/audit.service.js';
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { SECRET_PREFIX, generateSecret, sha256 } from '../common/crypto.js';
import { logger } from '../common/logger.js';
import { openSuccessor, sealSuccessor } from './successor-sealing.js';
import { preparedStatement, queryPrepared } from '../database/prepared-statement.js';
import type { UserRecord } from '../users/user-record.js';
import { TokenFamiliesService } from './token-families.service.js';

/** The grant a refresh token stands for: its family and what was consented. */
export interface RefreshGrant {
  familyId: string;
  clientId: string;
  userId: string | null;
  sessionId: string | null;
  scope: string;
  /** RFC 8707 resources of the grant, normalized; empty = the default audience. */
  resources: string[];
  authTime: Date | null;
  amr: string[];
  /**
   * The family's user as the rotating statement read it (null: no such user any more), so the
   * grant needs no second round trip for it. Absent when the grant came another way (a retry).
   */
  user?: UserRecord | null;
}

export type RotateResult =
  | {
      ok: true;
      /** The family's one live refresh token, to hand to the client. */
      refreshToken: string;
      grant: RefreshGrant;
      /** True when this answers a retry inside the grace window rather than a new rotation. */
      retry: boolean;
      /** The access-token id the rotation recorded in the family, until `exp` (not on a retry). */
      recorded?: RecordedAccessToken;
    }
  | {
      ok: false;
      reason: 'unknown' | 'wrong_client' | 'revoked' | 'expired' | 'reused' | 'superseded';
    }
  /** RFC 6749 §6: the requested scope is not within the original grant; nothing changed. */
  | { ok: false; reason: 'scope_exceeded'; exceeding: string[] }
  /**
   * RFC 8707 §2.2: the named resource is not one the grant covers, or the grant covers several
   * and none was named; nothing changed.
   */
  | { ok: false; reason: 'resource_not_granted' | 'resource_required' };

/** RFC 7662 §2.2 members of a live refresh token. */
export interface RefreshTokenInfo {
  scope: string;
  clientId: string;
  userId: string | null;
  /** Seconds since the epoch. */
  exp: number;
  iat: number;
}

/** An access-token id recorded in its family ahead of signing, with the expiry recorded. */
export interface RecordedAccessToken {
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
}

interface RotatedRow {
  /** family_access_tokens.expires_at of the recorded access-token id, in epoch seconds. */
  recorded_exp: string;
  /** users.* as of the rotation, all null when the family's user is gone. */
  u_id: string | null;
  u_email: string;
  u_email_verified: boolean;
  u_display_name: string;
  u_status: UserRecord['status'];
  u_roles: string[];
  family_id: string;
  scope: string;
  resources: string[];
  client_id: string;
  user_id: string | null;
  session_id: string | null;
  auth_time: Date | null;
  amr: string[];
}

interface ChainRow {
  token_hash: string;
  successor_enc: string | null;
  rotated: boolean;
  unexpired: boolean;
  in_grace: boolean;
  family_id: string;
  scope: string;
  resources: string[];
  client_id: string;
  user_id: string | null;
  session_id: string | null;
  family_revoked: boolean;
  auth_time: Date | null;
  amr: string[];
}

/** A generated token is 49 characters; anything much longer is not ours. */
const MAX_TOKEN_LENGTH = 256;
/** Rotations followed from a retried token to the family's live token. */
const MAX_CHAIN = 100;

/**
 * The rotation, as one statement (see `RefreshTokensService.rotate`). $1 the presented token's
 * hash, $2 the client, $3 the successor's id, $4 its sealed plaintext, $5 its hash, $6 its
 * lifetime (s), $7 the requested scopes or null, $8 the named resource or null, $9 the access
 * token's jti, $10 the default access-token lifetime (s).
 */
const ROTATE = preparedStatement(
  'refresh_token_rotate',
  `WITH family AS (
    SELECT f.id, f.client_id, f.user_id, f.session_id, f.auth_time, f.amr
    FROM token_families f JOIN refresh_tokens t ON t.family_id = f.id
    WHERE t.token_hash = $1 AND f.revoked_at IS NULL AND f.client_id = $2
    FOR SHARE OF f
  ), rotated AS (
    UPDATE refresh_tokens r
    SET rotated_at = now(), successor_id = $3, successor_enc = $4
    FROM family f LEFT JOIN users u ON u.id = f.user_id
    WHERE r.token_hash = $1 AND r.rotated_at IS NULL AND r.expires_at > now()
      AND f.id = r.family_id
      AND ($7::text[] IS NULL OR string_to_array(r.scope, ' ') @> $7::text[])
      AND CASE WHEN $8::text IS NULL THEN cardinality(r.resources) <= 1
               ELSE $8::text = ANY(r.resources) END
    RETURNING r.id, r.family_id, r.scope, r.resources, f.client_id, f.user_id,
      f.session_id, f.auth_time, f.amr, u.id AS u_id, u.email AS u_email,
      u.email_verified AS u_email_verified, u.display_name AS u_display_name,
      u.status AS u_status, u.roles AS u_roles
  ), inserted AS (
    INSERT INTO refresh_tokens (id, token_hash, family_id, parent_id, scope, resources, expires_at)
    SELECT $3, $5, family_id, id, scope, resources, now() + make_interval(secs => $6)
    FROM rotated
    RETURNING id
  ), recorded AS (
    INSERT INTO family_access_tokens (jti, family_id, expires_at)
    SELECT $9, rotated.family_id, now() + make_interval(secs => 60 + COALESCE(
      (SELECT res.access_token_ttl_seconds FROM resources res
       WHERE res.identifier = COALESCE($8::text, rotated.resources[1])), $10))
    FROM rotated
    RETURNING extract(epoch FROM expires_at)::bigint AS recorded_exp
  )
  SELECT rotated.*, recorded.recorded_exp
  FROM rotated JOIN inserted ON true JOIN recorded ON true`,
);

const INTROSPECT = preparedStatement(
  'refresh_token_introspect',
  `SELECT r.scope, f.client_id, f.user_id,
     extract(epoch FROM r.expires_at)::bigint AS exp,
     extract(epoch FROM r.created_at)::bigint AS iat
   FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
   WHERE r.token_hash = $1 AND r.rotated_at IS NULL AND r.expires_at > now()
     AND f.revoked_at IS NULL AND f.client_id = $2`,
);

const ISSUE = preparedStatement(
  'refresh_token_issue',
  `INSERT INTO refresh_tokens (token_hash, family_id, scope, resources, expires_at)
   VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
);

/**
 * Refresh tokens (RFC 6749 §6, OAuth 2.1 §4.3.1): opaque `lk_rt_` secrets stored as SHA-256,
 * rotated on every use, all members of one family.
 *
 * Exactly one token of a family is live at any time. Rotation is one statement: a conditional
 * UPDATE marks the presented token rotated and, in the same statement, inserts its successor.
 * The successor's plaintext is kept sealed on the parent row under a key derived from the
 * parent's own plaintext (successor-sealing.ts). A client that retries with the parent inside
 * the grace window (a lost response, two tabs) therefore gets the family's current live token
 * back, reached by opening the seals along the chain, instead of a second live token. Outside
 * the window, reuse means the token leaked: the whole family is revoked.
 */
@Injectable()
export class RefreshTokensService {
  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly families: TokenFamiliesService,
    private readonly audit: AuditService,
  ) {}

  /** The first refresh token of a family (authorization_code grant). */
  async issue(input: {
    familyId: string;
    scope: string;
    resources: readonly string[];
  }): Promise<string> {
    const token = generateSecret(SECRET_PREFIX.refreshToken);
    await queryPrepared(this.dataSource, ISSUE, [
      sha256(token),
      input.familyId,
      input.scope,
      input.resources,
      this.config.tokens.refreshTokenTtlSeconds,
    ]);
    return token;
  }

  /**
   * Rotates a refresh token presented by `clientId`; see the class comment. `requested`, when
   * given, must lie within the token's scope, and `resource` (normalized), when given, among
   * its resources; without it the grant must cover at most one. Otherwise the token is left as
   * it was.
   *
   * The same statement records `accessToken.jti` in the family, as `recordAccessToken` would,
   * for the access token the caller signs next: one commit per refresh instead of two. Its
   * expiry is the lifetime of the audience the grant resolves to (the named resource, or the
   * grant's only one: a registered resource's own lifetime, else `defaultTtlSeconds`), plus a
   * minute for clocks; the caller extends it in the rare case its token lives longer. `FOR
   * SHARE` on the family row makes a concurrent family revocation wait for this commit, so its
   * scan of recorded ids cannot miss this one.
   */
  async rotate(
    token: string,
    clientId: string,
    requested: readonly string[] | null,
    resource: string | null,
    accessToken: { jti: string; defaultTtlSeconds: number },
  ): Promise<RotateResult> {
    if (!isWellFormed(token)) return { ok: false, reason: 'unknown' };
    const tokenHash = sha256(token);
    const successor = generateSecret(SECRET_PREFIX.refreshToken);
    const successorId = randomUUID();
    const rows = await queryPrepared<RotatedRow>(this.dataSource, ROTATE, [
      tokenHash,
      clientId,
      successorId,
      sealSuccessor(token, tokenHash, successor),
      sha256(successor),
      this.config.tokens.refreshTokenTtlSeconds,
      requested,
      resource,
      accessToken.jti,
      accessToken.defaultTtlSeconds,
    ]);
    if (rows.length > 0) {
      const row = rows[0];
      return {
        ok: true,
        refreshToken: successor,
        grant: { ...toGrant(row), user: userOf(row) },
        retry: false,
        recorded: { jti: accessToken.jti, exp: Number(row.recorded_exp) },
      };
    }
    return this.explainFailure(token, tokenHash, clientId, requested, resource);
  }

  /** A live token's introspection data, for its own client only; null otherwise. */
  async introspect(token: string, clientId: string): Promise<RefreshTokenInfo | null> {
    if (!isWellFormed(token)) return null;
    const rows = await queryPrepared<{
      scope: string;
      client_id: string;
      user_id: string | null;
      exp: string;
      iat: string;
    }>(this.dataSource, INTROSPECT, [sha256(token), clientId]);
    const row = rows[0];
    if (!row) return null;
    return {
      scope: row.scope,
      clientId: row.client_id,
      userId: row.user_id,
      exp: Number(row.exp),
      iat: Number(row.iat),
    };
  }

  /**
   * RFC 7009 §2.1: revoking a refresh token revokes its whole family, access tokens included.
   * Only the client the token was issued to may do so.
   */
  async revoke(token: string, clientId: string): Promise<'revoked' | 'wrong_client' | 'unknown'> {
    if (!isWellFormed(token)) return 'unknown';
    const rows = await this.dataSource.query<{ family_id: string; client_id: string }[]>(
      `SELECT r.family_id, f.client_id
       FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id
       WHERE r.token_hash = $1`,
      [sha256(token)],
    );
    const row = rows[0];
    if (!row) return 'unknown';
    if (row.client_id !== clientId) return 'wrong_client';
    await this.families.revoke(row.family_id, 'client_revocation');
    return 'revoked';
  }

  /**
   * Why a rotation did not happen, in one read: the presented token and the chain of its
   * successors. Only a rotated token inside the grace window still gets an answer.
   */
  private async explainFailure(
    token: string,
    tokenHash: string,
    clientId: string,
    requested: readonly string[] | null,
    resource: string | null,
  ): Promise<RotateResult> {
    const chain = await this.dataSource.query<ChainRow[]>(
      `WITH RECURSIVE chain AS (
         SELECT r.id, r.token_hash, r.successor_id, r.successor_enc, r.rotated_at, r.expires_at,
           r.family_id, r.scope, r.resources, 0 AS depth
         FROM refresh_tokens r WHERE r.token_hash = $1
         UNION ALL
         SELECT n.id, n.token_hash, n.successor_id, n.successor_enc, n.rotated_at, n.expires_at,
           n.family_id, n.scope, n.resources, c.depth + 1
         FROM refresh_tokens n JOIN chain c ON n.id = c.successor_id
         WHERE c.depth < $3
       )
       SELECT c.token_hash, c.successor_enc, c.rotated_at IS NOT NULL AS rotated,
         c.expires_at > now() AS unexpired,
         c.rotated_at IS NOT NULL AND c.rotated_at > now() - make_interval(secs => $2) AS in_grace,
         c.family_id, c.scope, c.resources, f.client_id, f.user_id, f.session_id,
         f.revoked_at IS NOT NULL AS family_revoked, f.auth_time, f.amr
       FROM chain c JOIN token_families f ON f.id = c.family_id
       ORDER BY c.depth`,
      [tokenHash, this.config.tokens.refreshReuseGraceSeconds, MAX_CHAIN],
    );
    const presented = chain[0];
    if (!presented) return { ok: false, reason: 'unknown' };
    if (presented.client_id !== clientId) return { ok: false, reason: 'wrong_client' };
    if (presented.family_revoked) return { ok: false, reason: 'revoked' };
    if (presented.rotated) {
      if (presented.in_grace) return this.currentToken(token, chain, requested, resource);
      // Concurrent reuses all land here; only the one that revoked the family reports it.
      if (await this.families.revoke(presented.family_id, 'refresh_reuse')) {
        logger.warn({ familyId: presented.family_id, clientId }, 'refresh token reuse detected');
        this.audit.record({
          type: 'refresh_token.reuse_detected',
          clientId,
          details: { family_id: presented.family_id, action: 'token family revoked' },
        });
      }
      return { ok: false, reason: 'reused' };
    }
    if (!presented.unexpired) return { ok: false, reason: 'expired' };
    const mismatch = requestMismatch(presented, requested, resource);
    if (mismatch !== null) return mismatch;
    // Live, in scope and yet not rotated: it was rotated or revoked in between; ask again.
    return { ok: false, reason: 'superseded' };
  }

  /** Opens the seals from the presented token along the chain to the family's live token. */
  private currentToken(
    token: string,
    chain: ChainRow[],
    requested: readonly string[] | null,
    resource: string | null,
  ): RotateResult {
    let plaintext = token;
    for (let i = 0; i < chain.length; i++) {
      const row = chain[i];
      if (!row.rotated) {
        if (!row.unexpired) return { ok: false, reason: 'expired' };
        const mismatch = requestMismatch(row, requested, resource);
        if (mismatch !== null) return mismatch;
        return { ok: true, refreshToken: plaintext, grant: toGrant(row), retry: true };
      }
      const next = chain[i + 1];
      const opened =
        row.successor_enc === null
          ? null
          : openSuccessor(plaintext, row.token_hash, row.successor_enc);
      if (opened === null || next === undefined || sha256(opened) !== next.token_hash) break;
      plaintext = opened;
    }
    return { ok: false, reason: 'superseded' };
  }
}

/** Why the request does not fit the token's grant (the rotation's conditions), or null. */
function requestMismatch(
  row: ChainRow,
  requested: readonly string[] | null,
  resource: string | null,
): RotateResult | null {
  if (requested !== null) {
    const held = new Set(row.scope.split(' '));
    const exceeding = requested.filter((scope) => !held.has(scope));
    if (exceeding.length > 0) return { ok: false, reason: 'scope_exceeded', exceeding };
  }
  if (resource === null) {
    return row.resources.length > 1 ? { ok: false, reason: 'resource_required' } : null;
  }
  return row.resources.includes(resource) ? null : { ok: false, reason: 'resource_not_granted' };
}

function isWellFormed(token: string): boolean {
  return token.startsWith(SECRET_PREFIX.refreshToken) && token.length <= MAX_TOKEN_LENGTH;
}

/** The same record `UsersService.findById` returns, read in the rotating statement. */
function userOf(row: RotatedRow): UserRecord | null {
  if (row.u_id === null) return null;
  return {
    id: row.u_id,
    email: row.u_email,
    emailVerified: row.u_email_verified,
    displayName: row.u_display_name,
    status: row.u_status,
    roles: row.u_roles,
  };
}

function toGrant(row: RotatedRow | ChainRow): RefreshGrant {
  return {
    familyId: row.family_id,
    clientId: row.client_id,
    userId: row.user_id,
    sessionId: row.session_id,
    scope: row.scope,
    resources: row.resources,
    authTime: row.auth_time,
    amr: row.amr,
  };
}
