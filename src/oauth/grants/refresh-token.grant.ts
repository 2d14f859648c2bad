import { Injectable } from '@nestjs/common';
import { InvalidGrant, InvalidScope } from '../../common/oauth-errors.js';
import { RefreshTokensService, type RotateResult } from '../../tokens/refresh-tokens.service.js';
import { parseScope } from '../../users/permissions.js';
import { requireParam } from '../form-rules.js';
import type { GrantContext, TokenGrant, TokenResponse } from './token-grant.js';
import { UserTokens } from './user-tokens.js';

export const REFRESH_TOKEN = 'refresh_token';

type Failure = Exclude<RotateResult, { ok: true }>['reason'];

const REFRESH_FAILURES: Record<Exclude<Failure, 'scope_exceeded'>, string> = {
  unknown: 'refresh token is invalid',
  wrong_client: 'refresh token was not issued to this client',
  revoked: 'refresh token has been revoked',
  expired: 'refresh token has expired',
  reused: 'refresh token was already used',
  superseded: 'refresh token is no longer current',
};

/**
 * RFC 6749 §6 with OAuth 2.1 §4.3.1 rotation, for every client (public ones included): each use
 * returns a new refresh token and the old one stops working. `scope` may only narrow what was
 * granted; the refresh token itself keeps the original scope (RFC 6749 §6).
 */
@Injectable()
export class RefreshTokenGrant implements TokenGrant {
  readonly grantType = REFRESH_TOKEN;
  readonly repeatable: ReadonlySet<string> = new Set();

  constructor(
    private readonly refreshTokens: RefreshTokensService,
    private readonly userTokens: UserTokens,
  ) {}

  async handle({ client, form }: GrantContext): Promise<TokenResponse> {
    const token = requireParam(form, 'refresh_token');
    const scopeParam = form.values.get('scope');
    const requested = scopeParam === undefined ? null : parseScope(scopeParam);
    if (scopeParam !== undefined && requested === null) {
      throw new InvalidScope('scope is not a space-delimited list of scope tokens');
    }

    const result = await this.refreshTokens.rotate(token, client.id, requested);
    if (!result.ok) {
      if (result.reason === 'scope_exceeded') {
        throw new InvalidScope(`scope exceeds the original grant: ${result.exceeding.join(' ')}`);
      }
      throw new InvalidGrant(REFRESH_FAILURES[result.reason]);
    }
    const { grant } = result;
    const user = await this.userTokens.activeUser(grant.familyId, grant.userId);
    // Keep the granted order; a narrowed request keeps only what it names.
    const scope =
      requested === null
        ? grant.scope
        : grant.scope
            .split(' ')
            .filter((name) => requested.includes(name))
            .join(' ');
    return this.userTokens.respond({
      familyId: grant.familyId,
      clientId: client.id,
      user,
      sessionId: grant.sessionId,
      scope,
      resource: grant.resource,
      authTime: grant.authTime,
      amr: grant.amr,
      // OIDC Core §12.2: an ID token issued on refresh carries no nonce.
      nonce: null,
      refreshToken: result.refreshToken,
    });
  }
}
