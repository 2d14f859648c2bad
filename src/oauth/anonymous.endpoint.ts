import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { sendJson, type RawRequest, type RawResponse } from '../common/http.js';
import { TooManyRequests } from '../common/oauth-errors.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';

/** Anonymous session tokens a single address may obtain per window. */
const LIMIT_PER_WINDOW = 10;
const WINDOW_MS = 60_000;
export const ANONYMOUS_CLIENT_ID = 'anonymous';
export const ANONYMOUS_SCOPE = 'anonymous';

/**
 * A fixed-window counter per address, in this process's memory. Counters of a past window are
 * dropped wholesale when the next one starts, so memory stays bounded by one window's callers.
 * Shared counters across instances come with the Redis-backed throttler.
 */
class FixedWindowLimiter {
  private window = -1;
  private counts = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one hit; returns the seconds until the window ends when over the limit, else 0. */
  hit(key: string, now = Date.now()): number {
    const window = Math.floor(now / this.windowMs);
    if (window !== this.window) {
      this.window = window;
      this.counts = new Map();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count <= this.limit) return 0;
    return Math.ceil(((window + 1) * this.windowMs - now) / 1000);
  }
}

/**
 * POST /oauth/anonymous: a short-lived access token for a visitor who has not signed in, bound
 * to a new anonymous session (`sub` = `anon:<session id>`, `sid`). No client authentication,
 * so it is rate-limited per address.
 */
@Injectable()
export class AnonymousEndpoint implements ProtocolEndpoint {
  readonly path = ROUTES.anonymous;
  readonly methods = ['POST'];
  private readonly limiter = new FixedWindowLimiter(LIMIT_PER_WINDOW, WINDOW_MS);

  constructor(
    private readonly config: AppConfig,
    private readonly sessions: SessionsService,
    private readonly tokens: AccessTokensService,
  ) {}

  async handle(req: RawRequest, res: RawResponse): Promise<void> {
    const retryAfter = this.limiter.hit(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    if (retryAfter > 0) throw new TooManyRequests(retryAfter);
    const userAgent = req.headers['user-agent'];
    const { session } = await this.sessions.create({
      userId: null,
      amr: [],
      ...(userAgent === undefined ? {} : { userAgent }),
    });
    const issued = await this.tokens.issue({
      subject: `anon:${session.id}`,
      clientId: ANONYMOUS_CLIENT_ID,
      audience: this.config.audiences.default,
      scope: ANONYMOUS_SCOPE,
      ttlSeconds: this.config.sessions.anonymousTokenTtlSeconds,
      sid: session.id,
    });
    sendJson(res, 200, {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: ANONYMOUS_SCOPE,
    });
  }
}
