import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { sendJson, type RawRequest, type RawResponse } from '../common/http.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { tokensIssued } from '../health/metrics-registry.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { AccessTokensService } from '../tokens/access-tokens.service.js';
import { addressOf } from '../rate-limits/client-address.js';
import { RateLimiter } from '../rate-limits/rate-limiter.service.js';

export const ANONYMOUS_CLIENT_ID = 'anonymous';
export const ANONYMOUS_SCOPE = 'anonymous';
/** Not a grant type of the token endpoint: the label says which endpoint issued the token. */
const issuedCounter = tokensIssued.cell({ grant_type: 'anonymous', client_type: 'none' });

/**
 * POST /oauth/anonymous: a short-lived access token for a visitor who has not signed in, bound
 * to a new anonymous session (`sub` = `anon:<session id>`, `sid`). No client authentication,
 * so it is rate-limited per address (RATE_LIMIT_ANONYMOUS_PER_MINUTE).
 */
@Injectable()
export class AnonymousEndpoint implements ProtocolEndpoint {
  readonly path = ROUTES.anonymous;
  readonly methods = ['POST'];

  constructor(
    private readonly config: AppConfig,
    private readonly sessions: SessionsService,
    private readonly tokens: AccessTokensService,
    private readonly limiter: RateLimiter,
  ) {}

  async handle(req: RawRequest, res: RawResponse): Promise<void> {
    await this.limiter.consume('anonymous', addressOf(req));
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
    issuedCounter.value++;
    sendJson(res, 200, {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: ANONYMOUS_SCOPE,
    });
  }
}
