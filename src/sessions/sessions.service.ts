import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { readCookie, serializeCookie } from '../common/cookies.js';
import { SECRET_PREFIX, constantTimeEqual, generateSecret, sha256 } from '../common/crypto.js';
import { returnedRows } from '../database/query-result.js';
import { TokenFamiliesService } from '../tokens/token-families.service.js';
import { UsersError, UsersErrorCode } from '../users/users.errors.js';
import { UsersService } from '../users/users.service.js';
import type { RevokedSessionsResponseDto } from './dto/revoked-sessions-response.dto.js';
import { SessionEntity } from './entities/session.entity.js';
import type { SessionRecord } from './session-record.js';
import { SessionsError, SessionsErrorCode } from './sessions.errors.js';

export type { SessionRecord };

const USER_AGENT_MAX = 512;

interface SessionRow {
  id: string;
  user_id: string | null;
  auth_time: Date;
  amr: string[];
}

/**
 * Browser sessions: an `lk_sid_` cookie, stored only as its SHA-256. A session is live while it
 * is neither expired nor revoked and its user is active.
 */
@Injectable()
export class SessionsService implements OnModuleInit {
  constructor(
    private readonly config: AppConfig,
    @InjectRepository(SessionEntity) private readonly sessions: Repository<SessionEntity>,
    private readonly users: UsersService,
    private readonly tokenFamilies: TokenFamiliesService,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    this.users.onDeactivation(async (userId, reason) => {
      await this.revokeAllForUser(userId, `user_${reason}`);
    });
  }

  async create(input: {
    userId: string | null;
    amr: string[];
    userAgent?: string;
  }): Promise<{ session: SessionRecord; setCookie: string }> {
    const secret = generateSecret(SECRET_PREFIX.sessionId);
    const now = new Date();
    const rows: unknown = await this.sessions.query(
      `INSERT INTO sessions (sid_hash, user_id, auth_time, amr, user_agent, created_at, last_seen_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $3, $3, $3::timestamptz + make_interval(secs => $6))
       RETURNING id, user_id, auth_time, amr`,
      [
        sha256(secret),
        input.userId,
        now,
        input.amr,
        input.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
        this.config.sessions.ttlSeconds,
      ],
    );
    const [row] = returnedRows<SessionRow>(rows);
    return {
      session: toRecord(row),
      setCookie: serializeCookie(this.config.sessions.cookieName, secret, {
        maxAgeSeconds: this.config.sessions.ttlSeconds,
        secure: this.config.sessions.secureCookie,
      }),
    };
  }

  /** The live session named by the request's cookie: not expired, not revoked, user active. */
  async fromHeaders(headers: IncomingHttpHeaders): Promise<SessionRecord | null> {
    const secret = this.cookieValue(headers);
    if (secret === null) return null;
    const rows: unknown = await this.sessions.query(
      `SELECT id, user_id, auth_time, amr FROM sessions
        WHERE sid_hash = $1 AND revoked_at IS NULL AND expires_at > now()`,
      [sha256(secret)],
    );
    const [row] = returnedRows<SessionRow>(rows);
    if (row === undefined) return null;
    if (row.user_id !== null) {
      const user = await this.users.findById(row.user_id);
      if (user === null || user.status !== 'active') return null;
    }
    return toRecord(row);
  }

  /** A live session of a signed-in user, or `sign_in_required`. */
  async requireUserSession(
    headers: IncomingHttpHeaders,
  ): Promise<SessionRecord & { userId: string }> {
    const session = await this.fromHeaders(headers);
    if (session === null || session.userId === null) {
      throw new SessionsError(SessionsErrorCode.SignInRequired, 'sign in first');
    }
    return { ...session, userId: session.userId };
  }

  /** A Set-Cookie value that deletes the session cookie. */
  clearCookie(): string {
    return serializeCookie(this.config.sessions.cookieName, '', {
      maxAgeSeconds: 0,
      secure: this.config.sessions.secureCookie,
    });
  }

  async revoke(sessionId: string, reason = 'signed_out'): Promise<void> {
    await this.sessions.query(
      `UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`,
      [sessionId],
    );
    await this.tokenFamilies.revokeForSession(sessionId, reason);
  }

  /** Ends every live session of the user and revokes their token families; returns the count. */
  async revokeAllForUser(userId: string, reason = 'signed_out_everywhere'): Promise<number> {
    const result: unknown = await this.sessions.query(
      `UPDATE sessions SET revoked_at = now()
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
        RETURNING id`,
      [userId],
    );
    await this.tokenFamilies.revokeForUser(userId, reason);
    return returnedRows(result).length;
  }

  /** Admin: sign the user out everywhere and revoke their refresh and access tokens. */
  async signOutEverywhere(userId: string): Promise<RevokedSessionsResponseDto> {
    if ((await this.users.findById(userId)) === null) {
      throw new UsersError(UsersErrorCode.UserNotFound, 'user not found');
    }
    const revoked = await this.revokeAllForUser(userId);
    this.audit.record({
      type: 'session.revoked',
      userId,
      details: { scope: 'all_sessions', revoked_sessions: revoked, tokens_revoked: true },
    });
    return { revoked_sessions: revoked };
  }

  /** The browser's own sign-out: CSRF-checked; returns the Set-Cookie value that clears it. */
  async logout(headers: IncomingHttpHeaders, csrfToken: string | undefined): Promise<string> {
    const session = await this.fromHeaders(headers);
    if (session !== null) {
      this.checkCsrf(headers, csrfToken);
      await this.revoke(session.id);
      this.audit.record({
        type: 'user.signed_out',
        userId: session.userId,
        actor: { type: 'user', id: session.userId },
        details: { method: 'account', session_id: session.id },
      });
    }
    return this.clearCookie();
  }

  /**
   * The CSRF token of the browser's session: an HMAC keyed by the session cookie, which a
   * cross-site page can neither read nor guess. It needs no storage and no server secret, and
   * dies with the session. Null without a session cookie.
   */
  csrfToken(headers: IncomingHttpHeaders): string | null {
    const secret = this.cookieValue(headers);
    return secret === null ? null : deriveCsrf(secret);
  }

  /** Throws `csrf_token_invalid` unless `presented` is this session's CSRF token. */
  checkCsrf(headers: IncomingHttpHeaders, presented: string | undefined): void {
    const expected = this.csrfToken(headers);
    if (expected === null || presented === undefined || !constantTimeEqual(expected, presented)) {
      throw new SessionsError(
        SessionsErrorCode.CsrfTokenInvalid,
        'the form has expired; reload the page and try again',
      );
    }
  }

  private cookieValue(headers: IncomingHttpHeaders): string | null {
    const value = readCookie(headers, this.config.sessions.cookieName);
    return value !== null && value.startsWith(SECRET_PREFIX.sessionId) && value.length <= 128
      ? value
      : null;
  }
}

function deriveCsrf(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('latchkey csrf v1').digest('base64url');
}

function toRecord(row: SessionRow): SessionRecord {
  return { id: row.id, userId: row.user_id, authTime: row.auth_time, amr: row.amr };
}
