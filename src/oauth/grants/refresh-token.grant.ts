import { Injectable } from '@nestjs/common';
import { randomId } from '../../common/crypto.js';
import { InvalidGrant, InvalidScope, InvalidTarget } from '../../common/oauth-errors.js';
import { AppConfig } from '../../config/app-config.js';
import {
  describeUndefined,
  normalizeResource,
  undefinedScopes,
} from '../../resources/resource-server.js';
import { ResourcesService } from '../../resources/resources.service.js';
import { RefreshTokensService, type RotateResult } from '../../tokens/refresh-tokens.service.js';
import { parseScope } from '../../users/permissions.js';
import { requireParam } from '../form-rules.js';
import type { GrantContext, TokenGrant, TokenResponse } from './token-grant.js';
import { UserTokens } from './user-tokens.js';

export const REFRESH_TOKEN = 'refresh_token';

type Failure = Exclude<RotateResult, { ok: true }>['reason'];

const NOT_GRANTED = 'the resource is not one the grant was issued for';

const REFRESH_FAILURES: Record<
  Exclude<Failure, 'scope_exceeded' | 'resource_not_granted' | 'resource_required'>,
  string
> = {
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
  readonly repeatable: ReadonlySet<string> = new Set(['resource']);

  constructor(
    private readonly config: AppConfig,
    private readonly refreshTokens: RefreshTokensService,
    private readonly userTokens: UserTokens,
    private readonly resources: ResourcesService,
  ) {}

  async handle({ client, form }: GrantContext): Promise<TokenResponse> {
    const token = requireParam(form, 'refresh_token');
    const scopeParam = form.values.get('scope');
    const requested = scopeParam === undefined ? null : parseScope(scopeParam);
    if (scopeParam !== undefined && requested === null) {
      throw new InvalidScope('scope is not a space-delimited list of scope tokens');
    }
    // RFC 8707 §2.2: a refresh may name one of the grant's resources again, one per token.
    if (form.multi.has('resource')) {
      throw new InvalidTarget('request one resource per access token');
    }
    const resourceParam = form.values.get('resource');
    const resource = resourceParam === undefined ? null : normalizeResource(resourceParam);
    if (resourceParam !== undefined && resource === null) throw new InvalidTarget(NOT_GRANTED);
    if (resource !== null && requested !== null) {
      // Checked before rotating, so a refused request leaves the refresh token as it was.
      const target = this.resources.resolve(resource);
      const outside = undefinedScopes([target], requested);
      if (outside.length > 0) throw new InvalidScope(describeUndefined([target], outside));
    }

    const result = await this.refreshTokens.rotate(token, client.id, requested, resource, {
      jti: randomId(),
      defaultTtlSeconds: this.config.tokens.accessTokenTtlSeconds,
    });
    if (!result.ok) {
      switch (result.reason) {
        case 'scope_exceeded':
          throw new InvalidScope(`scope exceeds the original grant: ${result.exceeding.join(' ')}`);
        case 'resource_not_granted':
          throw new InvalidTarget(NOT_GRANTED);
        case 'resource_required':
          throw new InvalidTarget('the grant covers several resources: name one with resource');
        case 'unknown':
        case 'wrong_client':
        case 'revoked':
        case 'expired':
        case 'reused':
        case 'superseded':
          throw new InvalidGrant(REFRESH_FAILURES[result.reason]);
      }
    }
    const { grant } = result;
    const target = this.userTokens.audienceOf(grant.resources, resource ?? undefined);
    const user = await this.userTokens.activeUser(grant.familyId, grant.userId, grant.user);
    // Keep the granted order; a narrowed request keeps only what it names.
    const scope =
      requested === null
        ? grant.scope
        : grant.scope
            .split(' ')
            .filter((name) => requested.includes(name))
            .join(' ');
    return this.userTokens.respond({
      grantType: this.grantType,
      familyId: grant.familyId,
      clientId: client.id,
      user,
      sessionId: grant.sessionId,
      scope,
      target,
      authTime: grant.authTime,
      amr: grant.amr,
      // OIDC Core §12.2: an ID token issued on refresh carries no nonce.
      nonce: null,
      refreshToken: result.refreshToken,
      recorded: result.recorded,
    });
  }
}
