import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ClientAuthService } from '../clients/client-auth.service.js';
import { ClientsService } from '../clients/clients.service.js';
import { readForm, sendJson, type RawRequest, type RawResponse } from '../common/http.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { SECRET_PREFIX } from '../common/crypto.js';
import { AccessTokenRejected, AccessTokensService } from '../tokens/access-tokens.service.js';
import { RefreshTokensService } from '../tokens/refresh-tokens.service.js';
import { ANONYMOUS_CLIENT_ID } from './anonymous.endpoint.js';
import { rejectRepeated, requireParam } from './form-rules.js';

const INACTIVE = { active: false } as const;

/**
 * POST /oauth/introspect (RFC 7662), for authenticated confidential clients. A JWT access token
 * is checked in memory (signature, issuer, expiry, revocation list, client still registered):
 * no database round trip once the client is cached.
 */
@Injectable()
export class IntrospectionEndpoint implements ProtocolEndpoint {
  readonly path = ROUTES.introspect;
  readonly methods = ['POST'];

  constructor(
    private readonly config: AppConfig,
    private readonly clientAuth: ClientAuthService,
    private readonly clients: ClientsService,
    private readonly tokens: AccessTokensService,
    private readonly refreshTokens: RefreshTokensService,
  ) {}

  async handle(req: RawRequest, res: RawResponse): Promise<void> {
    const form = await readForm(req, this.config.http);
    rejectRepeated(form);
    const client = await this.clientAuth.authenticate(req.headers, form, { allowPublic: false });
    const token = requireParam(form, 'token');
    // token_type_hint is only a hint (RFC 7662 §2.1); the token's own form decides.
    const answer = token.startsWith(SECRET_PREFIX.refreshToken)
      ? await this.introspectRefreshToken(token, client.id)
      : await this.introspect(token);
    sendJson(res, 200, answer);
  }

  /**
   * A refresh token is active while it is its family's live token. Only the client it was
   * issued to may introspect it: refresh tokens never go to resource servers.
   */
  private async introspectRefreshToken(
    token: string,
    clientId: string,
  ): Promise<Record<string, unknown>> {
    const info = await this.refreshTokens.introspect(token, clientId);
    if (info === null) return INACTIVE;
    return {
      active: true,
      token_type: 'refresh_token',
      scope: info.scope,
      client_id: info.clientId,
      ...(info.userId === null ? {} : { sub: info.userId }),
      exp: info.exp,
      iat: info.iat,
    };
  }

  private async introspect(token: string): Promise<Record<string, unknown>> {
    try {
      const claims = await this.tokens.verify(token);
      // A deleted client's tokens stop being active at once.
      if (
        claims.client_id !== ANONYMOUS_CLIENT_ID &&
        (await this.clients.findRecord(claims.client_id)) === null
      ) {
        return INACTIVE;
      }
      return { active: true, token_type: 'Bearer', ...claims };
    } catch (err) {
      // RFC 7662 §2.2: anything that is not a valid, current token is simply inactive.
      if (err instanceof AccessTokenRejected) return INACTIVE;
      throw err;
    }
  }
}
