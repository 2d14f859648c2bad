import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { ClientAuthService } from '../clients/client-auth.service.js';
import { readForm, type RawRequest, type RawResponse } from '../common/http.js';
import { UnauthorizedClient } from '../common/oauth-errors.js';
import type { ProtocolEndpoint } from '../common/protocol-endpoint.js';
import { ROUTES } from '../common/routes.js';
import { SECRET_PREFIX } from '../common/crypto.js';
import { AccessTokenRejected, AccessTokensService } from '../tokens/access-tokens.service.js';
import { RefreshTokensService } from '../tokens/refresh-tokens.service.js';
import { rejectRepeated, requireParam } from './form-rules.js';

/** POST /oauth/revoke (RFC 7009). Public clients may revoke their own tokens. */
@Injectable()
export class RevocationEndpoint implements ProtocolEndpoint {
  readonly path = ROUTES.revoke;
  readonly methods = ['POST'];

  constructor(
    private readonly config: AppConfig,
    private readonly clientAuth: ClientAuthService,
    private readonly tokens: AccessTokensService,
    private readonly refreshTokens: RefreshTokensService,
    private readonly audit: AuditService,
  ) {}

  async handle(req: RawRequest, res: RawResponse): Promise<void> {
    const form = await readForm(req, this.config.http);
    rejectRepeated(form);
    const client = await this.clientAuth.authenticate(req.headers, form, { allowPublic: true });
    const token = requireParam(form, 'token');
    // token_type_hint is only a hint (RFC 7009 §2.1); the token's own form decides.
    if (token.startsWith(SECRET_PREFIX.refreshToken)) {
      // RFC 7009 §2.1: revoking a refresh token also revokes the access tokens of its grant,
      // which is its family.
      const outcome = await this.refreshTokens.revoke(token, client.id);
      if (outcome === 'wrong_client') {
        throw new UnauthorizedClient('the token was not issued to this client');
      }
      if (outcome === 'revoked') {
        this.audit.record({
          type: 'token.revoked',
          clientId: client.id,
          actor: { type: 'client', id: client.id },
          details: { token_type: 'refresh_token', family_revoked: true },
        });
      }
    } else {
      await this.revokeAccessToken(token, client.id);
    }
    res.writeHead(200, { 'Cache-Control': 'no-store', Pragma: 'no-cache', 'Content-Length': 0 });
    res.end();
  }

  private async revokeAccessToken(token: string, clientId: string): Promise<void> {
    try {
      const claims = await this.tokens.verify(token);
      // RFC 7009 §2.1: the server verifies the token was issued to the requesting client.
      if (claims.client_id !== clientId) {
        throw new UnauthorizedClient('the token was not issued to this client');
      }
      await this.tokens.revoke(claims);
      this.audit.record({
        type: 'token.revoked',
        clientId,
        userId: claims.sub === clientId ? null : claims.sub,
        actor: { type: 'client', id: clientId },
        details: { token_type: 'access_token', jti: claims.jti, sub: claims.sub },
      });
    } catch (err) {
      // RFC 7009 §2.2: an invalid, expired or unknown token is not an error.
      if (!(err instanceof AccessTokenRejected)) throw err;
    }
  }
}
