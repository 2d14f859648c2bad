import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { sendJson, type RawRequest, type RawResponse } from '../common/http.js';
import { TooManyRequests } from '../common/oauth-errors.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import { FixedWindowLimiter } from '../common/fixed-window-limiter.js';

/** Anonymous session tokens a single address may obtain per window. */
const LIMIT_PER_WINDOW = 10;
const WINDOW_MS = 60_000;
export const ANONYMOUS_CLIENT_ID = 'anonymous';
export const ANONYMOUS_SCOPE = 'anonymous';

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
