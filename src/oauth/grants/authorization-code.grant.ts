import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { constantTimeEqual } from '../../common/crypto.js';
import { InvalidGrant, InvalidRequest, InvalidTarget } from '../../common/oauth-errors.js';
import {
  AuthorizationCodesService,
  type ConsumeResult,
} from '../../tokens/authorization-codes.service.js';
import { RefreshTokensService } from '../../tokens/refresh-tokens.service.js';
import { requireParam } from '../form-rules.js';
import type { GrantContext, TokenGrant, TokenResponse } from './token-grant.js';
import { UserTokens } from './user-tokens.js';

export const AUTHORIZATION_CODE = 'authorization_code';

/** RFC 7636 §4.1: code-verifier = 43*128unreserved. */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

const CODE_FAILURES: Record<Exclude<ConsumeResult, { ok: true }>['reason'], string> = {
  unknown: 'authorization code is invalid',
  wrong_client: 'authorization code was not issued to this client',
  replayed: 'authorization code was already used',
  expired: 'authorization code has expired',
};

/**
 * RFC 6749 §4.1.3 with PKCE (RFC 7636, S256 only), for confidential and public clients. The
 * code is consumed before anything else is checked, so a failed attempt cannot be retried with
 * other parameters; a replay revokes everything the first redemption issued.
 */
@Injectable()
export class AuthorizationCodeGrant implements TokenGrant {
  readonly grantType = AUTHORIZATION_CODE;
  readonly repeatable: ReadonlySet<string> = new Set(['resource']);

  constructor(
    private readonly codes: AuthorizationCodesService,
    private readonly refreshTokens: RefreshTokensService,
    private readonly userTokens: UserTokens,
  ) {}

  async handle({ client, form }: GrantContext): Promise<TokenResponse> {
    const code = requireParam(form, 'code');
    const redirectUri = requireParam(form, 'redirect_uri');
    const verifier = requireParam(form, 'code_verifier');
    if (!CODE_VERIFIER.test(verifier)) {
      throw new InvalidRequest('code_verifier must be 43-128 characters of [A-Za-z0-9._~-]');
    }
    // RFC 8707 §2.2: a grant may cover several resources, but each access token is for one.
    if (form.multi.has('resource')) {
      throw new InvalidTarget('request one resource per access token');
    }

    const result = await this.codes.consume(code, client.id);
    if (!result.ok) throw new InvalidGrant(CODE_FAILURES[result.reason]);
    const redeemed = result.code;
    // RFC 6749 §4.1.3: identical to the redirect_uri of the authorization request.
    if (redirectUri !== redeemed.redirectUri) {
      throw new InvalidGrant('redirect_uri does not match the authorization request');
    }
    // RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge.
    const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
    if (!constantTimeEqual(computed, redeemed.codeChallenge)) {
      throw new InvalidGrant('code_verifier does not match the code_challenge');
    }
    const target = this.userTokens.audienceOf(redeemed.resources, form.values.get('resource'));

    const user = await this.userTokens.activeUser(redeemed.familyId, redeemed.userId);
    const scopes = redeemed.scope.split(' ');
    // Contract: offline_access yields a refresh token only if the client has the grant.
    const refreshToken =
      scopes.includes('offline_access') && client.grantTypes.has('refresh_token')
        ? await this.refreshTokens.issue({
            familyId: redeemed.familyId,
            scope: redeemed.scope,
            resources: redeemed.resources,
          })
        : null;
    return this.userTokens.respond({
      grantType: this.grantType,
      familyId: redeemed.familyId,
      clientId: client.id,
      user,
      sessionId: redeemed.sessionId,
      scope: redeemed.scope,
      target,
      authTime: redeemed.authTime,
      amr: redeemed.amr,
      nonce: redeemed.nonce,
      refreshToken,
    });
  }
}
