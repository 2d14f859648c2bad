import { Injectable } from '@nestjs/common';
import { InvalidGrant } from '../../common/oauth-errors.js';
import { ResourcesService } from '../../resources/resources.service.js';
import { AccessTokensService } from '../../tokens/access-tokens.service.js';
import { IdTokensService } from '../../tokens/id-tokens.service.js';
import { TokenFamiliesService } from '../../tokens/token-families.service.js';
import type { UserRecord } from '../../users/user-record.js';
import { UsersService } from '../../users/users.service.js';
import type { TokenResponse } from './token-grant.js';

export interface UserTokensInput {
  familyId: string;
  clientId: string;
  user: UserRecord;
  sessionId: string | null;
  /** Scope of the access token (and of the ID token's user claims). */
  scope: string;
  /** RFC 8707 audience chosen at /authorize; null = the default audience. */
  resource: string | null;
  authTime: Date | null;
  amr: readonly string[];
  nonce: string | null;
  refreshToken: string | null;
}

/**
 * Token responses for grants on behalf of a person (authorization_code, refresh_token): an
 * access token recorded in the family, an ID token when `openid` was granted, and the refresh
 * token the grant produced.
 */
@Injectable()
export class UserTokens {
  constructor(
    private readonly users: UsersService,
    private readonly families: TokenFamiliesService,
    private readonly accessTokens: AccessTokensService,
    private readonly idTokens: IdTokensService,
    private readonly resources: ResourcesService,
  ) {}

  /**
   * The user the family acts for, if still active. A deleted or disabled user ends the family,
   * so nothing issued from it outlives the account.
   */
  async activeUser(familyId: string, userId: string | null): Promise<UserRecord> {
    const user = userId === null ? null : await this.users.findById(userId);
    if (user === null || user.status !== 'active') {
      await this.families.revoke(familyId, 'user_inactive');
      throw new InvalidGrant('the user account is not active');
    }
    return user;
  }

  async respond(input: UserTokensInput): Promise<TokenResponse> {
    const target = this.resources.resolve(input.resource ?? undefined);
    const issued = await this.accessTokens.issue({
      subject: input.user.id,
      clientId: input.clientId,
      audience: target.identifier,
      scope: input.scope,
      ttlSeconds: target.accessTokenTtlSeconds ?? undefined,
      sid: input.sessionId,
      familyId: input.familyId,
    });
    const response: TokenResponse = {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope: input.scope,
    };
    if (input.refreshToken !== null) response.refresh_token = input.refreshToken;
    if (input.scope.split(' ').includes('openid')) {
      response.id_token = await this.idTokens.issue({
        user: input.user,
        clientId: input.clientId,
        scope: input.scope,
        sessionId: input.sessionId,
        authTime: input.authTime,
        amr: input.amr,
        nonce: input.nonce,
        accessToken: issued.token,
      });
    }
    return response;
  }
}
