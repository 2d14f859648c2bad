import { Injectable } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service.js';
import { InvalidGrant, InvalidScope } from '../../common/oauth-errors.js';
import { scopesFor } from '../../resources/resource-server.js';
import { ResourcesService, type ResourceServer } from '../../resources/resources.service.js';
import { AccessTokensService } from '../../tokens/access-tokens.service.js';
import { IdTokensService } from '../../tokens/id-tokens.service.js';
import type { RecordedAccessToken } from '../../tokens/refresh-tokens.service.js';
import { TokenFamiliesService } from '../../tokens/token-families.service.js';
import type { UserRecord } from '../../users/user-record.js';
import { UsersService } from '../../users/users.service.js';
import type { TokenResponse } from './token-grant.js';

export interface UserTokensInput {
  /** For the audit trail: which grant produced the tokens. */
  grantType: string;
  familyId: string;
  clientId: string;
  user: UserRecord;
  sessionId: string | null;
  /** Scope of the grant; the access token gets what `target` defines of it. */
  scope: string;
  /** The access token's audience, from `audienceOf`. */
  target: ResourceServer;
  authTime: Date | null;
  amr: readonly string[];
  nonce: string | null;
  refreshToken: string | null;
  /** The access-token id the refresh rotation already recorded in the family. */
  recorded?: RecordedAccessToken;
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
    private readonly audit: AuditService,
  ) {}

  /**
   * The user the family acts for, if still active. A deleted or disabled user ends the family,
   * so nothing issued from it outlives the account. `known` is the record when the caller
   * already read it (the refresh rotation does, in the same statement).
   */
  async activeUser(
    familyId: string,
    userId: string | null,
    known?: UserRecord | null,
  ): Promise<UserRecord> {
    const user =
      known !== undefined ? known : userId === null ? null : await this.users.findById(userId);
    if (user === null || user.status !== 'active') {
      await this.families.revoke(familyId, 'user_inactive');
      throw new InvalidGrant('the user account is not active');
    }
    return user;
  }

  /**
   * RFC 8707 §2.2: the audience of one access token from a grant of `granted` resources; the
   * client may pick one with `resource`.
   */
  audienceOf(granted: readonly string[], requested: string | undefined): ResourceServer {
    return this.resources.forGrant(granted, requested);
  }

  async respond(input: UserTokensInput): Promise<TokenResponse> {
    const { target } = input;
    // An access token carries only what its resource defines (and OIDC scopes); the refresh
    // token keeps the whole grant, for the grant's other resources.
    const scope = scopesFor(target, input.scope.split(' ')).join(' ');
    if (scope.length === 0) {
      throw new InvalidScope(
        `the resource ${target.identifier} defines none of the granted scopes`,
      );
    }
    const issued = await this.accessTokens.issue({
      subject: input.user.id,
      clientId: input.clientId,
      audience: target.identifier,
      scope,
      ttlSeconds: target.accessTokenTtlSeconds ?? undefined,
      sid: input.sessionId,
      familyId: input.familyId,
      recorded: input.recorded,
    });
    const response: TokenResponse = {
      access_token: issued.token,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      scope,
    };
    if (input.refreshToken !== null) response.refresh_token = input.refreshToken;
    // Identifiers only: the tokens themselves never reach the trail.
    this.audit.record({
      type: 'token.issued',
      clientId: input.clientId,
      userId: input.user.id,
      actor: { type: 'client', id: input.clientId },
      details: {
        grant_type: input.grantType,
        sub: issued.claims.sub,
        scope,
        audience: target.identifier,
        jti: issued.claims.jti,
        family_id: input.familyId,
        refresh_token_issued: input.refreshToken !== null,
      },
    });
    if (input.scope.split(' ').includes('openid')) {
      response.id_token = this.idTokens.issue({
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
